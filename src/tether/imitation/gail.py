"""GAIL (Ho and Ermon, 2016): imitate by matching the expert's state-action occupancy.

A discriminator D(s, a) = sigmoid(f(s, a)) learns to tell the expert's transitions (label 1) from the
policy's (label 0); PPO maximises the reward -log(1 - D) = softplus(f). At the optimum of the
discriminator for a fixed policy, D* = rho_E / (rho_E + rho_pi), so the policy is pushed toward the
expert's occupancy. `observation_only=True` discriminates (s, s') instead, for demonstrations without
actions. Time limits are not terminations: a truncated demonstration's last step is an ordinary
transition (no absorbing state is learned for it).

Differences from `imitation`'s GAIL (1.0.1): a zero-centred gradient penalty on interpolates of expert
and policy inputs (`gradient_penalty`, 0 to disable) keeps the discriminator from saturating;
discriminator inputs are standardised by the demonstrations' statistics (imitation: running
normalisation of both); one discriminator pass of `disc_updates` minibatches after every PPO rollout.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from tether.data import ActionSpace, LoggedDataset
from tether.errors import ConfigError, DatasetError
from tether.imitation.ppo import PPO, PPOConfig
from tether.imitation.tasks import InteractiveTask, resolve_task
from tether.nets import MLP


@dataclass(frozen=True, kw_only=True)
class GAILConfig:
    """GAIL's settings.

    Args:
        ppo: the generator's PPO settings.
        total_steps: environment steps of the whole run.
        disc_hidden_dims: the discriminator's ReLU MLP widths.
        disc_learning_rate: its Adam step size.
        disc_updates: discriminator minibatches after each PPO rollout.
        disc_batch_size: expert and policy transitions per minibatch (each).
        gradient_penalty: weight of the zero-centred gradient penalty on interpolated inputs.
        observation_only: discriminate (s, s') rather than (s, a).
    """

    ppo: PPOConfig = field(default_factory=PPOConfig)
    total_steps: int = 200_000
    disc_hidden_dims: tuple[int, ...] = (64, 64)
    disc_learning_rate: float = 3e-4
    disc_updates: int = 4
    disc_batch_size: int = 256
    gradient_penalty: float = 1.0
    observation_only: bool = False

    def __post_init__(self) -> None:
        for name in ("total_steps", "disc_updates", "disc_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}", f"set {name} to 1 or more")
        if self.gradient_penalty < 0:
            raise ConfigError("gradient_penalty", f"must be >= 0, got {self.gradient_penalty}", "use 0 or more")


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
    """The discriminator's expert inputs, checked against the task's spaces."""
    space = task.action_space
    if demonstrations.observation_dim != len(task.observation_names):
        raise DatasetError("demonstrations", f"observations have {demonstrations.observation_dim} fields, "
                           f"{task.name}'s have {len(task.observation_names)}", "pass demonstrations of this task")
    if demonstrations.action_space.kind != space.kind or demonstrations.action_space.action_dim != space.action_dim:
        raise DatasetError("demonstrations", f"actions {demonstrations.action_space.to_json()} do not match "
                           f"{task.name}'s {space.to_json()}", "pass demonstrations of this task")
    transitions = demonstrations.transitions()
    return discriminator_inputs(transitions.observations, transitions.actions, transitions.next_observations, space,
                                observation_only)


def train_gail(config: GAILConfig, task: InteractiveTask | str, demonstrations: LoggedDataset, seed: int = 0,
               on_update: Callable[[dict[str, Any]], None] | None = None) -> GAILResult:
    """Train a PPO policy on GAIL's reward until `config.total_steps` environment steps."""
    task = resolve_task(task) if isinstance(task, str) else task
    expert = demonstration_inputs(demonstrations, task, config.observation_only)
    discriminator = Discriminator(expert.shape[1], config.disc_hidden_dims, config.disc_learning_rate,
                                  config.gradient_penalty, expert, seed)
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed + 7)
    history: list[dict[str, Any]] = []

    def reward(transitions: dict[str, np.ndarray]) -> np.ndarray:
        inputs = discriminator_inputs(transitions["observations"], transitions["actions"],
                                      transitions["next_observations"], task.action_space, config.observation_only)
        return np.logaddexp(0.0, discriminator.logits(inputs))  # -log(1 - D) = softplus(f)

    def after_update(ppo: PPO, metrics: dict[str, Any]) -> None:
        nonlocal key
        moved = metrics.pop("transitions")
        generated = discriminator_inputs(moved["observations"], moved["actions"], moved["next_observations"],
                                         task.action_space, config.observation_only)
        record: dict[str, Any] = {}
        for _ in range(config.disc_updates):
            key, step_key = jax.random.split(key)
            size = min(config.disc_batch_size, len(expert), len(generated))
            record = discriminator.update(expert[rng.integers(len(expert), size=size)],
                                          generated[rng.integers(len(generated), size=size)], step_key)
        if not np.isfinite(record["disc_loss"]) or record["disc_loss"] < 1e-3:
            warnings.warn(f"the discriminator {'diverged' if not np.isfinite(record['disc_loss']) else 'collapsed'} "
                          f"(loss {record['disc_loss']:.2g}): raise gradient_penalty or lower disc_learning_rate",
                          stacklevel=2)
        record.update({k: v for k, v in metrics.items()}, steps=ppo.steps_done, env_return=ppo.recent_return())
        history.append(record)
        if on_update is not None:
            on_update(record)

    policy = PPO(config.ppo, task, seed, reward_fn=reward)
    policy.learn(config.total_steps, after_update)
    return GAILResult(policy, discriminator, history)
