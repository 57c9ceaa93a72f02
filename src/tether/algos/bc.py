"""Behaviour cloning: regress the logged actions on the observed states.

The imitation baseline every offline RL candidate must beat. A deterministic policy minimises the
mean squared error to the logged action; a stochastic one maximises the Gaussian likelihood of it.

Differences from d3rlpy's `BCConfig`: observations are standardised by default (d3rlpy: no
scaler), because the same default serves every tether learner; otherwise the same defaults
(learning rate 1e-3, batch 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Metrics, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.errors import ConfigError
from tether.nets import DeterministicActor, GaussianActor, gaussian_log_prob


@dataclass(frozen=True, kw_only=True)
class BCConfig(LearnerConfig):
    """Behaviour cloning.

    Args:
        learning_rate: Adam learning rate (d3rlpy: 1e-3).
        batch_size: d3rlpy's default 100.
        policy_type: `"deterministic"` (MSE) or `"stochastic"` (Gaussian likelihood).
        hidden_dims: policy MLP widths.
    """

    TYPE = "bc"
    batch_size: int = 100
    learning_rate: float = 1e-3
    policy_type: str = "deterministic"
    hidden_dims: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.policy_type not in ("deterministic", "stochastic"):
            raise ConfigError("policy_type", f"must be 'deterministic' or 'stochastic', got {self.policy_type!r}",
                              "use 'deterministic' or 'stochastic'")


class BCState(struct.PyTreeNode):
    policy: TrainState
    step: jax.Array


def _network(config: BCConfig, spec: DatasetSpec):
    cls = DeterministicActor if config.policy_type == "deterministic" else GaussianActor
    return cls(config.hidden_dims, spec.action_dim)


def init(config: BCConfig, spec: DatasetSpec, key: PRNGKey) -> BCState:
    net = _network(config, spec)
    params = net.init(key, jnp.zeros((1, spec.observation_dim)))["params"]
    return BCState(TrainState.create(apply_fn=net.apply, params=params, tx=optax.adam(config.learning_rate)),
                   jnp.int32(0))


def loss(params, state: BCState, batch: Batch, config: BCConfig) -> tuple[jax.Array, Metrics]:
    out = state.policy.apply_fn({"params": params}, batch.observations)
    if config.policy_type == "deterministic":
        value = jnp.mean((out - batch.actions) ** 2)  # over batch and action dims, as d3rlpy's MSE
    else:
        mean, log_std = out
        value = -jnp.mean(gaussian_log_prob(batch.actions, mean, log_std))
    return value, {"loss": value}


def update(state: BCState, batch: Batch, key: PRNGKey, *, config: BCConfig) -> tuple[BCState, Metrics]:
    grads, metrics = jax.grad(loss, has_aux=True)(state.policy.params, state, batch, config)
    return BCState(state.policy.apply_gradients(grads=grads), state.step + 1), metrics


def act(state: BCState, observations: jax.Array, key: PRNGKey, *, config: BCConfig, deterministic: bool):
    out = state.policy.apply_fn({"params": state.policy.params}, observations)
    if config.policy_type == "deterministic":
        return out
    mean, log_std = out
    if deterministic:
        return mean
    return jnp.clip(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape), -1.0, 1.0)


SPEC = AlgoSpec("bc", BCConfig, init=init, update=update, act=act, baseline=True)
