"""Soft Actor-Critic, the online learner that trains the behaviour-policy zoo.

SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications") maximises return plus
policy entropy with twin critics and an automatically tuned temperature. D4RL trained its
behaviour policies with rlkit's SAC (2x256 ReLU tanh-Gaussian actor); tether does the same.

Differences from rlkit: none in the objective. Time-limit truncations bootstrap (only
`terminations` cut the return), as in Gymnasium's semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Metrics, Params, PRNGKey
from tether.nets import QEnsemble, TanhGaussianActor, sac
from tether.nets.sac import temperature_state


@dataclass(frozen=True, kw_only=True)
class SACConfig:
    """Hyperparameters of the zoo's SAC (rlkit / SAC-v2 defaults)."""

    actor_hidden_dims: tuple[int, ...] = (256, 256)
    critic_hidden_dims: tuple[int, ...] = (256, 256)
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    temp_learning_rate: float = 3e-4
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    initial_temperature: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must lie in (0, 1], got {self.tau}")


class Batch(NamedTuple):
    observations: jax.Array  # [batch, obs_dim]
    actions: jax.Array  # [batch, action_dim]
    rewards: jax.Array  # [batch]
    next_observations: jax.Array  # [batch, obs_dim]
    terminations: jax.Array  # [batch], 1.0 where the episode truly ended


class SACState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    log_temp: TrainState
    target_critic_params: Params
    step: jax.Array


def init(config: SACConfig, observation_dim: int, action_dim: int, key: PRNGKey) -> SACState:
    actor_key, critic_key = jax.random.split(key)
    obs = jnp.zeros((1, observation_dim))
    act = jnp.zeros((1, action_dim))
    actor_net = TanhGaussianActor(config.actor_hidden_dims, action_dim)
    critic_net = QEnsemble(config.critic_hidden_dims, n_critics=2)
    critic_params = critic_net.init(critic_key, obs, act)["params"]
    return SACState(
        actor=TrainState.create(apply_fn=actor_net.apply, params=actor_net.init(actor_key, obs)["params"],
                                tx=optax.adam(config.actor_learning_rate)),
        critic=TrainState.create(apply_fn=critic_net.apply, params=critic_params,
                                 tx=optax.adam(config.critic_learning_rate)),
        log_temp=temperature_state(config.initial_temperature, config.temp_learning_rate),
        target_critic_params=jax.tree.map(jnp.copy, critic_params),  # own buffers: the state is donated
        step=jnp.int32(0),
    )


def update(state: SACState, batch: Batch, key: PRNGKey, *, config: SACConfig) -> tuple[SACState, Metrics]:
    """One SAC step: critics, then actor, then temperature, then Polyak-averaged targets."""
    return sac.update(state, batch, key, gamma=config.gamma, tau=config.tau)


def make_multi_update(config: SACConfig):
    """A jitted `(state, batches [k, batch, ...], key) -> (state, mean metrics)` running k fused updates."""

    def multi_update(state: SACState, batches: Batch, key: PRNGKey):
        keys = jax.random.split(key, batches.rewards.shape[0])

        def body(carry, inputs):
            batch, step_key = inputs
            return update(carry, batch, step_key, config=config)

        state, metrics = jax.lax.scan(body, state, (batches, keys))
        return state, jax.tree.map(jnp.mean, metrics)

    return jax.jit(multi_update, donate_argnums=0)
