"""AIRL (Fu, Luo and Levine, 2018): adversarial imitation that recovers a reward you can reuse.

The discriminator is D(s, a, s') = exp(f) / (exp(f) + pi(a|s)) with the disentangled form
f(s, a, s') = g(s) + gamma (1 - done) h(s') - h(s): g is a state-only reward, h a shaping potential.
The policy (PPO) maximises log D - log(1 - D) = f - log pi, an entropy-regularised return of f. At the
optimum, with deterministic dynamics, g equals the expert's reward up to a constant, so a fresh policy
trained on g alone (`train_on_reward`, the transfer test) acts like the expert. The reward is saved as
a checked tether model file (`save_reward`; loading never executes code).

Terminations: by default (`absorbing`) a terminated transition leads to an absorbing state whose g and h
are learned like any state's (Kostrikov et al., 2019), so the constant g is known up to cannot make ending
an episode look better or worse to a policy retrained on g; a time limit is not a termination and leads
nowhere (PPO bootstraps through it).

Differences from `imitation`'s AIRL (1.0.1): the generator's reward is f - log pi (the paper's),
where imitation gives PPO f alone; inputs standardised by the demonstrations' statistics; terminations
lead to the absorbing state (imitation masks h of the next state at `done`, time limits included when
its environments report them so); with the absorbing state, g and h start at zero.
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
from tether.imitation.gail import (
    absorbing_scaling,
    absorbing_states,
    check_demonstrations,
    forever,
    with_indicator,
)
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

    def __init__(self, observation_dim: int, config: AIRLConfig, reference: np.ndarray, gamma: float, seed: int = 0,
                 absorbing: bool = False):
        self.net = ShapedReward(config.reward_hidden_dims, config.potential_hidden_dims)
        self.tx = optax.adam(config.disc_learning_rate)
        self.gamma, self.absorbing = gamma, absorbing
        width = observation_dim + int(absorbing)  # g and h also see the absorbing indicator
        params = self.net.init(jax.random.PRNGKey(seed), jnp.zeros((1, width)))["params"]
        if absorbing:  # g and h start at zero everywhere, so the absorbing state's reward starts neutral
            params = {head: {**layers, (last := sorted(layers)[-1]): jax.tree.map(jnp.zeros_like, layers[last])}
                      for head, layers in params.items()}
            mean, std = absorbing_scaling(reference)
        else:
            mean, std = jnp.asarray(reference.mean(0)), jnp.asarray(np.maximum(reference.std(0), 1e-3))
        self.state = AIRLState(params, self.tx.init(params), mean, std)
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
        """g(s): the recovered, state-only reward of `[N, obs_dim]` observations."""
        inputs = with_indicator(np.asarray(observations, np.float32)) if self.absorbing else observations
        return np.asarray(self._g(self.state.params, self.state, jnp.asarray(inputs, jnp.float32)))

    def save_reward(self, path: str | Path) -> Path:
        """Write g (with its input statistics) as a checked tether model file, atomically."""
        config = {"type": REWARD_FILE, "reward_hidden_dims": list(self.net.reward_hidden_dims),
                  "absorbing": self.absorbing, "gamma": self.gamma}
        state = {"params": serialization.to_state_dict(jax.device_get(self.state.params["reward"])),
                 "obs_mean": np.asarray(self.state.obs_mean), "obs_std": np.asarray(self.state.obs_std)}
        return write_model_file(path, "reward", REWARD_FILE, {"config": json.dumps(config), "state": state})


class SavedReward:
    """A reward AIRL recovered, loaded from `save_reward`'s file (checked header, msgpack: no code runs)."""

    def __init__(self, path: str | Path):
        payload = read_model_file(path, "reward", REWARD_FILE)
        state, config = payload["state"], json.loads(payload["config"])
        self.net = MLP(tuple(config["reward_hidden_dims"]), 1)
        self.absorbing = bool(config.get("absorbing", False))
        self.gamma = float(config.get("gamma", 0.99))
        self.params = state["params"]
        self.mean, self.std = jnp.asarray(state["obs_mean"]), jnp.asarray(state["obs_std"])
        self._g = jax.jit(self._reward)

    @property
    def observation_dim(self) -> int:
        """Observation fields the reward scores."""
        return int(self.mean.shape[0]) - int(self.absorbing)

    def absorbing_reward(self) -> float:
        """g of the absorbing state a termination leads to (0 when the reward was learned without one)."""
        if not self.absorbing:
            return 0.0
        return float(np.asarray(self._g(jnp.asarray(absorbing_states(1, self.observation_dim))))[0])

    def transition_reward(self, transitions: dict[str, np.ndarray]) -> np.ndarray:
        """The reward PPO receives for a rollout's transitions: g(s), plus at a termination the absorbing state's
        g for the rest of time (discounted by the gamma AIRL learned with)."""
        stay = forever(self.absorbing_reward(), self.gamma)
        return self(transitions["observations"]) + stay * np.asarray(transitions["terminations"], np.float32)

    def _reward(self, observations: jax.Array) -> jax.Array:
        output = cast(jax.Array, self.net.apply({"params": self.params}, (observations - self.mean) / self.std))
        return output[:, 0]

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """g(s) per row of `[N, obs_dim]` observations."""
        inputs = with_indicator(np.asarray(observations, np.float32)) if self.absorbing else observations
        return np.asarray(self._g(jnp.asarray(inputs, jnp.float32)))


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
    """AIRL's side of a run: the reward log D - log(1 - D) = f - log pi and the updates of g and h.

    With `absorbing`, a terminated transition leads to the absorbing state (its h is learned, not masked),
    and each termination adds one absorbing-state loop (absorbing -> absorbing, where log pi is 0: no
    choice is made there) for the discriminator to judge; PPO receives the loop's f for the rest of time
    at the terminating step."""

    def __init__(self, config: AIRLConfig, task: InteractiveTask, demonstrations: LoggedDataset, seed: int):
        self.config, self.gamma = config, config.ppo.gamma
        check_demonstrations(demonstrations, task)
        steps = demonstrations.transitions()
        self.expert = self._rows({"observations": steps.observations, "next_observations": steps.next_observations,
                                  "terminations": steps.terminations.astype(np.float32), "actions": steps.actions})
        self.discriminator = AIRLDiscriminator(demonstrations.observation_dim, config, steps.observations,
                                               self.gamma, seed, absorbing=config.absorbing)
        self.rng = np.random.default_rng(seed)

    def _rows(self, transitions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What the discriminator sees of `transitions`: with the absorbing state, the indicator column, a
        terminated transition's successor replaced by the absorbing state, and one loop per termination
        (`loop` marks them; their actions are never read)."""
        if not self.config.absorbing:
            return {**transitions, "loop": np.zeros(len(transitions["observations"]), bool)}
        ended = np.asarray(transitions["terminations"]) > 0
        n_loops = int(ended.sum())
        width = transitions["observations"].shape[1]
        absorbing = absorbing_states(n_loops, width)
        observations = np.concatenate([with_indicator(transitions["observations"]), absorbing])
        nexts = np.concatenate([with_indicator(transitions["next_observations"], ended), absorbing])
        actions = np.concatenate([transitions["actions"], transitions["actions"][:n_loops]])
        loop = np.r_[np.zeros(len(ended), bool), np.ones(n_loops, bool)]
        return {"observations": observations, "next_observations": nexts, "actions": actions,
                "terminations": np.zeros(len(loop), np.float32), "loop": loop}

    def _log_pi(self, ppo: PPO, rows: dict[str, np.ndarray], index: np.ndarray) -> np.ndarray:
        observations = rows["observations"][index]
        observations = observations[:, :-1] if self.config.absorbing else observations
        log_pi = ppo.policy_log_prob(observations, rows["actions"][index])
        return np.where(rows["loop"][index], 0.0, log_pi)

    def reward(self, transitions: dict[str, np.ndarray]) -> np.ndarray:
        n = len(transitions["observations"])
        rows = self._rows(transitions)
        log_pi = np.r_[transitions["log_probs"], np.zeros(len(rows["loop"]) - n)]
        f = self.discriminator.shaped(_sampled(rows, np.arange(len(log_pi)), log_pi))
        rewards = f[:n] - transitions["log_probs"]
        if self.config.absorbing and len(f) > n:  # every loop scores the same: the absorbing state's f
            rewards = rewards + forever(float(f[n]), self.gamma) * np.asarray(transitions["terminations"], np.float32)
        return rewards

    def update(self, ppo: PPO, transitions: dict[str, np.ndarray]) -> dict[str, float]:
        record: dict[str, float] = {}
        expert, generated = self.expert, self._rows(transitions)
        for _ in range(self.config.disc_updates):
            size = min(self.config.disc_batch_size, len(expert["loop"]), len(generated["loop"]))
            expert_rows = self.rng.integers(len(expert["loop"]), size=size)
            policy_rows = self.rng.integers(len(generated["loop"]), size=size)
            record = self.discriminator.update(_sampled(expert, expert_rows, self._log_pi(ppo, expert, expert_rows)),
                                               _sampled(generated, policy_rows,
                                                        self._log_pi(ppo, generated, policy_rows)))
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
                    show_progress: bool = False, soft: bool = True) -> PPO:
    """A fresh PPO policy trained on a recovered state-only reward g(s) alone (AIRL's transfer test); with
    `run_dir`, its greedy policy is saved there as `policy.tether`.

    AIRL recovers the reward for which the expert is optimal under entropy-regularised (maximum-entropy)
    RL, so by default (`soft`) the new policy maximises that same objective: g(s) - log pi(a|s) per step,
    as AIRL's own generator does. A saved reward adds its absorbing state's value at terminations.
    """
    task = resolve_task(task) if isinstance(task, str) else task

    def reward_fn(transitions: dict[str, np.ndarray]) -> np.ndarray:
        base = (reward.transition_reward(transitions) if isinstance(reward, SavedReward)
                else reward(transitions["observations"]))
        return base - transitions["log_probs"] if soft else base

    ppo = PPO(config, task, seed, reward_fn=reward_fn)
    with StageProgress(f"PPO on a saved reward, {task.name}", total_steps, show_progress) as progress:
        ppo.learn(total_steps, lambda learner, _: progress.advance(learner.steps_done - progress.done))
    if run_dir is not None:
        ppo.policy().save(Path(run_dir) / "policy.tether", "airl-transfer")
    return ppo
