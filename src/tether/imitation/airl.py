"""AIRL (Fu, Luo and Levine, 2018): adversarial imitation that recovers a reward you can reuse.

The discriminator is D(s, a, s') = exp(f) / (exp(f) + pi(a|s)) with the disentangled form
f(s, a, s') = g(s) + gamma (1 - done) h(s') - h(s): g is a state-only reward, h a shaping potential.
The policy (PPO) maximises log D - log(1 - D) = f - log pi, an entropy-regularised return of f. At the
optimum, with deterministic dynamics, g equals the expert's reward up to a constant, so a fresh policy
trained on g alone (`train_on_reward`, the transfer test) acts like the expert. The reward is saved as
a checked tether model file (`save_reward`; loading never executes code).

Differences from `imitation`'s AIRL (1.0.1): the generator's reward is f - log pi (the paper's),
where imitation gives PPO f alone; inputs standardised by the demonstrations' statistics; termination
masks the potential of the next state (imitation's `BasicShapedRewardNet` with `done`), and time limits
do not (they are not terminations).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization, struct

from tether._progress import StageProgress
from tether.algos.airl import AIRLConfig
from tether.algos.model_file import read_model_file, write_model_file
from tether.algos.ppo import PPOConfig
from tether.data import LoggedDataset
from tether.imitation.adversarial import run_adversarial
from tether.imitation.gail import demonstration_inputs
from tether.imitation.ppo import PPO
from tether.imitation.tasks import InteractiveTask, resolve_task
from tether.nets import MLP

REWARD_FILE = "airl-reward"


class ShapedReward(nn.Module):
    """`(g(s), h(s))`: the state-only reward and the shaping potential."""

    reward_hidden_dims: tuple[int, ...]
    potential_hidden_dims: tuple[int, ...]

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        reward = MLP(self.reward_hidden_dims, 1, name="reward")(observations)[..., 0]
        potential = MLP(self.potential_hidden_dims, 1, name="potential")(observations)[..., 0]
        return reward, potential


class Transitions(NamedTuple):
    """What AIRL's discriminator sees of a batch (each `[N, ...]`); `weights` sum the loss (1/N each when sampled)."""

    observations: jax.Array
    next_observations: jax.Array
    terminations: jax.Array
    log_pi: jax.Array
    weights: jax.Array


class AIRLState(struct.PyTreeNode):
    params: Any
    opt_state: Any
    obs_mean: jax.Array
    obs_std: jax.Array


class AIRLDiscriminator:
    """g and h, the logit f - log pi, and its update (binary cross-entropy, expert = 1)."""

    def __init__(self, observation_dim: int, config: AIRLConfig, reference: np.ndarray, gamma: float, seed: int = 0):
        self.net = ShapedReward(config.reward_hidden_dims, config.potential_hidden_dims)
        self.tx = optax.adam(config.disc_learning_rate)
        self.gamma = gamma
        params = self.net.init(jax.random.PRNGKey(seed), jnp.zeros((1, observation_dim)))["params"]
        self.state = AIRLState(params, self.tx.init(params), jnp.asarray(reference.mean(0)),
                               jnp.asarray(np.maximum(reference.std(0), 1e-3)))
        self._step = jax.jit(self._step_fn)
        self._shaped = jax.jit(self._shaped_fn)
        self._g = jax.jit(lambda params, state, obs: self._heads(params, state, obs)[0])

    def _heads(self, params: Any, state: AIRLState, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        scaled = (observations - state.obs_mean) / state.obs_std
        return cast(tuple[jax.Array, jax.Array], self.net.apply({"params": params}, scaled))

    def _shaped_fn(self, params: Any, state: AIRLState, batch: Transitions) -> jax.Array:
        g, h = self._heads(params, state, batch.observations)
        _, h_next = self._heads(params, state, batch.next_observations)
        return g + self.gamma * (1.0 - batch.terminations) * h_next - h

    def _step_fn(self, state: AIRLState, expert: Transitions, policy: Transitions):
        def loss_fn(params):
            expert_logits = self._shaped_fn(params, state, expert) - expert.log_pi
            policy_logits = self._shaped_fn(params, state, policy) - policy.log_pi
            loss = (jnp.sum(expert.weights * jax.nn.softplus(-expert_logits))
                    + jnp.sum(policy.weights * jax.nn.softplus(policy_logits)))
            accuracy = 0.5 * (jnp.sum(expert.weights * (expert_logits > 0))
                              + jnp.sum(policy.weights * (policy_logits < 0)))
            return loss, {"disc_loss": loss, "disc_accuracy": accuracy}
        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state), metrics

    def update(self, expert: Transitions, policy: Transitions) -> dict[str, float]:
        self.state, metrics = self._step(self.state, expert, policy)
        return {k: float(v) for k, v in metrics.items()}

    def shaped(self, batch: Transitions) -> np.ndarray:
        """f(s, a, s') per row."""
        return np.asarray(self._shaped(self.state.params, self.state, batch))

    def state_reward(self, observations: np.ndarray) -> np.ndarray:
        """g(s): the recovered, state-only reward."""
        return np.asarray(self._g(self.state.params, self.state, jnp.asarray(observations, jnp.float32)))

    def save_reward(self, path: str | Path) -> Path:
        """Write g (with its input statistics) as a checked tether model file, atomically."""
        config = {"type": REWARD_FILE, "reward_hidden_dims": list(self.net.reward_hidden_dims)}
        state = {"params": serialization.to_state_dict(jax.device_get(self.state.params["reward"])),
                 "obs_mean": np.asarray(self.state.obs_mean), "obs_std": np.asarray(self.state.obs_std)}
        return write_model_file(path, "reward", REWARD_FILE, {"config": json.dumps(config), "state": state})


class SavedReward:
    """A reward AIRL recovered, loaded from `save_reward`'s file (checked header, msgpack: no code runs)."""

    def __init__(self, path: str | Path):
        payload = read_model_file(path, "reward", REWARD_FILE)
        state = payload["state"]
        self.net = MLP(tuple(json.loads(payload["config"])["reward_hidden_dims"]), 1)
        self.params = state["params"]
        self.mean, self.std = jnp.asarray(state["obs_mean"]), jnp.asarray(state["obs_std"])
        self._g = jax.jit(self._reward)

    @property
    def observation_dim(self) -> int:
        """Observation fields the reward scores."""
        return int(self.mean.shape[0])

    def _reward(self, observations: jax.Array) -> jax.Array:
        output = cast(jax.Array, self.net.apply({"params": self.params}, (observations - self.mean) / self.std))
        return output[:, 0]

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """g(s) per row of `[N, obs_dim]` observations."""
        return np.asarray(self._g(jnp.asarray(observations, jnp.float32)))


@dataclass
class AIRLResult:
    """The trained generator, the discriminator (g, h) and one record per PPO update."""

    policy: PPO
    discriminator: AIRLDiscriminator
    history: list[dict[str, Any]]


def _sampled(transitions: dict[str, np.ndarray], rows: np.ndarray, log_pi: np.ndarray) -> Transitions:
    column = lambda name: jnp.asarray(transitions[name][rows], jnp.float32)  # noqa: E731
    return Transitions(column("observations"), column("next_observations"), column("terminations"),
                       jnp.asarray(log_pi, jnp.float32), jnp.full(len(rows), 1.0 / len(rows), jnp.float32))


class AIRLAdversary:
    """AIRL's side of a run: the reward log D - log(1 - D) = f - log pi and the updates of g and h."""

    def __init__(self, config: AIRLConfig, task: InteractiveTask, demonstrations: LoggedDataset, seed: int):
        self.config = config
        demonstration_inputs(demonstrations, task, observation_only=False)  # the spaces must match the task's
        steps = demonstrations.transitions()
        self.expert = {"observations": steps.observations, "next_observations": steps.next_observations,
                       "terminations": steps.terminations.astype(np.float32), "actions": steps.actions}
        self.discriminator = AIRLDiscriminator(demonstrations.observation_dim, config, steps.observations,
                                               config.ppo.gamma, seed)
        self.rng = np.random.default_rng(seed)

    def reward(self, transitions: dict[str, np.ndarray]) -> np.ndarray:
        log_pi = transitions["log_probs"]
        return self.discriminator.shaped(_sampled(transitions, np.arange(len(log_pi)), log_pi)) - log_pi

    def update(self, ppo: PPO, transitions: dict[str, np.ndarray]) -> dict[str, float]:
        record: dict[str, float] = {}
        expert = self.expert
        for _ in range(self.config.disc_updates):
            size = min(self.config.disc_batch_size, len(expert["observations"]), len(transitions["observations"]))
            expert_rows = self.rng.integers(len(expert["observations"]), size=size)
            policy_rows = self.rng.integers(len(transitions["observations"]), size=size)
            expert_log_pi = ppo.policy_log_prob(expert["observations"][expert_rows], expert["actions"][expert_rows])
            policy_log_pi = ppo.policy_log_prob(transitions["observations"][policy_rows],
                                                transitions["actions"][policy_rows])
            record = self.discriminator.update(_sampled(expert, expert_rows, expert_log_pi),
                                               _sampled(transitions, policy_rows, policy_log_pi))
        return record

    def checkpoint(self) -> dict[str, Any]:
        return {"state": serialization.to_state_dict(jax.device_get(self.discriminator.state)),
                "rng": self.rng.bit_generator.state}

    def restore(self, saved: dict[str, Any]) -> None:
        self.discriminator.state = serialization.from_state_dict(self.discriminator.state, saved["state"])
        self.rng.bit_generator.state = saved["rng"]


def train_airl(config: AIRLConfig, task: InteractiveTask | str, demonstrations: LoggedDataset, seed: int = 0,
               on_update: Callable[[dict[str, Any]], None] | None = None, run_dir: str | Path | None = None,
               show_progress: bool = False, tensorboard_dir: str | Path | None = None) -> AIRLResult:
    """Train a PPO policy and AIRL's reward together until `config.total_steps` environment steps; with
    `run_dir`, checkpointed there, resumed from it, and the reward saved as `reward.tether`."""
    task = resolve_task(task) if isinstance(task, str) else task
    adversary = AIRLAdversary(config, task, demonstrations, seed)
    policy, history = run_adversarial(config, task, demonstrations, adversary, seed, run_dir, show_progress,
                                      tensorboard_dir, on_update)
    if run_dir is not None:
        adversary.discriminator.save_reward(Path(run_dir) / "reward.tether")
    return AIRLResult(policy, adversary.discriminator, history)


def train_on_reward(config: PPOConfig, task: InteractiveTask | str, reward: SavedReward | Callable[[np.ndarray],
                    np.ndarray], total_steps: int, seed: int = 0, run_dir: str | Path | None = None,
                    show_progress: bool = False) -> PPO:
    """A fresh PPO policy trained on a recovered state-only reward g(s) alone (AIRL's transfer test); with
    `run_dir`, its greedy policy is saved there as `policy.tether`."""
    task = resolve_task(task) if isinstance(task, str) else task
    ppo = PPO(config, task, seed, reward_fn=lambda t: reward(t["observations"]))
    with StageProgress(f"PPO on a saved reward, {task.name}", total_steps, show_progress) as progress:
        ppo.learn(total_steps, lambda learner, _: progress.advance(learner.steps_done - progress.done))
    if run_dir is not None:
        ppo.policy().save(Path(run_dir) / "policy.tether", "airl-transfer")
    return ppo
