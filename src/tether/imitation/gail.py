"""GAIL (Ho and Ermon, 2016): imitate by matching the expert's state-action occupancy.

A discriminator D(s, a) = sigmoid(f(s, a)) learns to tell the expert's transitions (label 1) from the
policy's (label 0); PPO maximises the reward -log(1 - D) = softplus(f). At the optimum of the
discriminator for a fixed policy, D* = rho_E / (rho_E + rho_pi), so the policy is pushed toward the
expert's occupancy. `observation_only=True` discriminates (s, s') instead, for demonstrations without
actions. Time limits are not terminations: PPO bootstraps through them. With `absorbing=True` a
termination leads to an absorbing state (Kostrikov et al., 2019) that the discriminator judges like any
input (an indicator column), and PPO receives its reward for the rest of time at the terminating step;
without it, the positive reward softplus(f) favours longer episodes, as in `imitation`.

Differences from `imitation`'s GAIL (1.0.1): a zero-centred gradient penalty on interpolates of expert
and policy inputs (`gradient_penalty`, 0 to disable) keeps the discriminator from saturating;
discriminator inputs are standardised by the demonstrations' statistics (imitation: running
normalisation of both); one discriminator pass of `disc_updates` minibatches after every PPO rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization, struct

from tether.algos.gail import GAILConfig
from tether.data import ActionSpace, LoggedDataset
from tether.errors import DatasetError
from tether.imitation.adversarial import run_adversarial
from tether.imitation.ppo import PPO
from tether.imitation.tasks import InteractiveTask, resolve_task
from tether.nets import MLP


class DiscriminatorState(struct.PyTreeNode):
    params: Any
    opt_state: Any
    input_mean: jax.Array
    input_std: jax.Array


def discriminator_inputs(observations: np.ndarray, actions: np.ndarray, next_observations: np.ndarray,
                         space: ActionSpace, observation_only: bool) -> np.ndarray:
    """`[N, d]` what the discriminator sees: (s, a) with discrete actions one-hot, or (s, s')."""
    if observation_only:
        return np.concatenate([observations, next_observations], 1).astype(np.float32)
    acts = np.eye(space.n_actions)[np.asarray(actions, np.int64)] if space.is_discrete else np.asarray(actions)
    return np.concatenate([observations, acts.reshape(len(observations), -1)], 1).astype(np.float32)


class Discriminator:
    """The classifier f(x) = logit D(x) and its update (binary cross-entropy plus the gradient penalty)."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...], learning_rate: float, gradient_penalty: float,
                 reference: np.ndarray, seed: int = 0):
        self.net = MLP(hidden_dims, 1)
        self.tx = optax.adam(learning_rate)
        params = self.net.init(jax.random.PRNGKey(seed), jnp.zeros((1, input_dim)))["params"]
        std = np.maximum(reference.std(0), 1e-3)
        self.state = DiscriminatorState(params, self.tx.init(params), jnp.asarray(reference.mean(0)), jnp.asarray(std))
        self.gradient_penalty = gradient_penalty
        self._step = jax.jit(self._step_fn)
        self._logits = jax.jit(self._logits_fn)

    def _scaled(self, state: DiscriminatorState, x: jax.Array) -> jax.Array:
        return (x - state.input_mean) / state.input_std

    def _net_logits(self, params: Any, scaled: jax.Array) -> jax.Array:
        return cast(jax.Array, self.net.apply({"params": params}, scaled))[..., 0]

    def _logits_fn(self, params: Any, state: DiscriminatorState, x: jax.Array) -> jax.Array:
        return self._net_logits(params, self._scaled(state, x))

    def _step_fn(self, state: DiscriminatorState, expert: jax.Array, policy: jax.Array, key: jax.Array):
        expert, policy = self._scaled(state, expert), self._scaled(state, policy)

        def loss_fn(params):
            expert_logits, policy_logits = self._net_logits(params, expert), self._net_logits(params, policy)
            bce = jnp.mean(jax.nn.softplus(-expert_logits)) + jnp.mean(jax.nn.softplus(policy_logits))
            # the penalty is on the gradient in standardised units, so a feature the expert barely varies
            # (an upright pole's angle) is not penalised by the inverse of its tiny spread
            mix = jax.random.uniform(key, (len(expert), 1))
            between = mix * expert + (1 - mix) * policy
            grads = jax.vmap(jax.grad(lambda z: self._net_logits(params, z[None])[0]))(between)
            penalty = jnp.mean(jnp.sum(grads**2, -1))
            accuracy = 0.5 * (jnp.mean(expert_logits > 0) + jnp.mean(policy_logits < 0))
            return bce + self.gradient_penalty * penalty, {"disc_loss": bce, "disc_penalty": penalty,
                                                           "disc_accuracy": accuracy}
        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state), metrics

    def update(self, expert: np.ndarray, policy: np.ndarray, key: jax.Array) -> dict[str, float]:
        self.state, metrics = self._step(self.state, jnp.asarray(expert), jnp.asarray(policy), key)
        return {k: float(v) for k, v in metrics.items()}

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._logits(self.state.params, self.state, jnp.asarray(x, jnp.float32)))

    def probability(self, x: np.ndarray) -> np.ndarray:
        """D(x): the chance the discriminator gives that `x` is the expert's."""
        return 1.0 / (1.0 + np.exp(-self.logits(x)))


@dataclass
class GAILResult:
    """The trained generator (`policy.predict`), the discriminator, and one record per PPO update."""

    policy: PPO
    discriminator: Discriminator
    history: list[dict[str, Any]]


def demonstration_inputs(demonstrations: LoggedDataset, task: InteractiveTask, observation_only: bool) -> np.ndarray:
    """The discriminator's expert inputs (without the absorbing column), checked against the task's spaces."""
    check_demonstrations(demonstrations, task)
    transitions = demonstrations.transitions()
    return discriminator_inputs(transitions.observations, transitions.actions, transitions.next_observations,
                                task.action_space, observation_only)


def check_demonstrations(demonstrations: LoggedDataset, task: InteractiveTask) -> None:
    """Raise `DatasetError` when the demonstrations' observations or actions do not fit the task's."""
    space = task.action_space
    if demonstrations.observation_dim != len(task.observation_names):
        raise DatasetError("demonstrations", f"observations have {demonstrations.observation_dim} fields, "
                           f"{task.name}'s have {len(task.observation_names)}", "pass demonstrations of this task")
    if demonstrations.action_space.kind != space.kind or demonstrations.action_space.action_dim != space.action_dim:
        raise DatasetError("demonstrations", f"actions {demonstrations.action_space.to_json()} do not match "
                           f"{task.name}'s {space.to_json()}", "pass demonstrations of this task")
    if space.is_discrete and demonstrations.action_space.n != space.n:
        raise DatasetError("demonstrations", f"choose among {demonstrations.action_space.n} actions, {task.name} "
                           f"among {space.n}", "pass demonstrations of this task")


def with_indicator(inputs: np.ndarray, absorbing: np.ndarray | None = None) -> np.ndarray:
    """`inputs` with an absorbing-indicator column: 0, or where `absorbing` holds, the absorbing state itself
    (zeros, indicator 1)."""
    out = np.concatenate([inputs, np.zeros((len(inputs), 1), np.float32)], 1).astype(np.float32)
    if absorbing is not None:
        out[absorbing] = 0.0
        out[absorbing, -1] = 1.0
    return out


def absorbing_states(n: int, width: int) -> np.ndarray:
    """`[n, width + 1]` rows of the absorbing state."""
    return with_indicator(np.zeros((n, width), np.float32), np.ones(n, bool))


def with_absorbing(inputs: np.ndarray, terminations: np.ndarray) -> np.ndarray:
    """`inputs` with the indicator column, plus one absorbing row per termination: the successor every
    terminated episode stays in (a time limit adds none)."""
    return np.concatenate([with_indicator(inputs), absorbing_states(int(np.sum(terminations > 0)), inputs.shape[1])])


def forever(reward: float, gamma: float) -> float:
    """The discounted value, from the next step on, of receiving `reward` at every step for good: what a
    termination into the absorbing state is worth at the terminating step."""
    return reward * gamma / max(1.0 - gamma, 1e-3)


def absorbing_scaling(real: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """`(mean, std)` that standardise inputs with an absorbing-indicator column: the real rows' statistics,
    and the indicator left as 0 or 1."""
    mean, std = np.append(real.mean(0), 0.0), np.append(np.maximum(real.std(0), 1e-3), 1.0)
    return jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)


class GAILAdversary:
    """GAIL's side of a run: the reward softplus(f) = -log(1 - D) and the discriminator's updates."""

    def __init__(self, config: GAILConfig, task: InteractiveTask, demonstrations: LoggedDataset, seed: int):
        self.config, self.task = config, task
        expert = demonstration_inputs(demonstrations, task, config.observation_only)
        if config.absorbing:
            expert = with_absorbing(expert, demonstrations.transitions().terminations)
        self.expert = expert
        self.discriminator = Discriminator(expert.shape[1], config.disc_hidden_dims, config.disc_learning_rate,
                                           config.gradient_penalty, expert, seed)
        if config.absorbing:
            mean, std = absorbing_scaling(expert[expert[:, -1] == 0, :-1])
            self.discriminator.state = self.discriminator.state.replace(input_mean=mean, input_std=std)
        self.rng = np.random.default_rng(seed)
        self.key = jax.random.PRNGKey(seed + 7)

    def _inputs(self, transitions: dict[str, np.ndarray]) -> np.ndarray:
        return discriminator_inputs(transitions["observations"], transitions["actions"],
                                    transitions["next_observations"], self.task.action_space,
                                    self.config.observation_only)

    def reward(self, transitions: dict[str, np.ndarray]) -> np.ndarray:
        inputs = self._inputs(transitions)
        if not self.config.absorbing:
            return np.logaddexp(0.0, self.discriminator.logits(inputs))  # -log(1 - D) = softplus(f)
        scored = np.logaddexp(0.0, self.discriminator.logits(with_absorbing(inputs, np.ones(1))))
        stay = forever(float(scored[-1]), self.config.ppo.gamma)  # a termination enters the absorbing state
        return scored[:-1] + stay * np.asarray(transitions["terminations"], np.float32)

    def update(self, ppo: PPO, transitions: dict[str, np.ndarray]) -> dict[str, float]:
        generated = self._inputs(transitions)
        if self.config.absorbing:
            generated = with_absorbing(generated, np.asarray(transitions["terminations"], np.float32))
        record: dict[str, float] = {}
        for _ in range(self.config.disc_updates):
            self.key, step_key = jax.random.split(self.key)
            size = min(self.config.disc_batch_size, len(self.expert), len(generated))
            record = self.discriminator.update(self.expert[self.rng.integers(len(self.expert), size=size)],
                                               generated[self.rng.integers(len(generated), size=size)], step_key)
        return record

    def checkpoint(self) -> dict[str, Any]:
        return {"state": {"discriminator": serialization.to_state_dict(jax.device_get(self.discriminator.state)),
                          "key": np.asarray(self.key)},
                "rng": self.rng.bit_generator.state}

    def restore(self, saved: dict[str, Any]) -> None:
        self.discriminator.state = serialization.from_state_dict(self.discriminator.state,
                                                                 saved["state"]["discriminator"])
        self.key = jnp.asarray(saved["state"]["key"], jnp.uint32)
        self.rng.bit_generator.state = saved["rng"]


def train_gail(config: GAILConfig, task: InteractiveTask | str, demonstrations: LoggedDataset, seed: int = 0,
               on_update: Callable[[dict[str, Any]], None] | None = None, run_dir: str | Path | None = None,
               show_progress: bool = False, tensorboard_dir: str | Path | None = None) -> GAILResult:
    """Train a PPO policy on GAIL's reward until `config.total_steps` environment steps; with `run_dir`,
    checkpointed there and resumed from it (see `tether.imitation.adversarial`)."""
    task = resolve_task(task) if isinstance(task, str) else task
    adversary = GAILAdversary(config, task, demonstrations, seed)
    policy, history = run_adversarial(config, task, demonstrations, adversary, seed, run_dir, show_progress,
                                      tensorboard_dir, on_update)
    return GAILResult(policy, adversary.discriminator, history)
