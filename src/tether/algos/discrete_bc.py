"""Discrete behaviour cloning: a softmax policy fitted to the logged decisions by cross-entropy.

The imitation baseline for discrete logs, and a fitted behaviour model (its probabilities serve as
estimated propensities). Differences from d3rlpy's `DiscreteBCConfig`: same objective
(cross-entropy plus `beta` times the mean squared logit) but `beta` 0.01 instead of 0.5, which
flattens the probabilities toward uniform; observations standardised by default.
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
from tether.algos.discrete_common import chosen, masked
from tether.nets import DiscreteQNet


@dataclass(frozen=True, kw_only=True)
class DiscreteBCConfig(LearnerConfig):
    """Discrete BC.

    Args:
        learning_rate: Adam learning rate (d3rlpy: 1e-3).
        batch_size: d3rlpy's default 100.
        beta: weight of the mean squared logit regulariser (0.01).
        hidden_dims: policy MLP widths.
    """

    TYPE = "discrete_bc"
    batch_size: int = 100
    learning_rate: float = 1e-3
    beta: float = 0.01
    hidden_dims: tuple[int, ...] = (256, 256)


class DiscreteBCState(struct.PyTreeNode):
    policy: TrainState
    step: jax.Array


def init(config: DiscreteBCConfig, spec: DatasetSpec, key: PRNGKey) -> DiscreteBCState:
    net = DiscreteQNet(config.hidden_dims, spec.n_actions)
    params = net.init(key, jnp.zeros((1, spec.observation_dim)))["params"]
    return DiscreteBCState(TrainState.create(apply_fn=net.apply, params=params, tx=optax.adam(config.learning_rate)),
                           jnp.int32(0))


def loss(params, state: DiscreteBCState, batch: Batch, config: DiscreteBCConfig) -> tuple[jax.Array, Metrics]:
    logits = state.policy.apply_fn({"params": params}, batch.observations)
    log_probs = jax.nn.log_softmax(masked(logits, batch.action_masks))  # a distribution over allowed actions
    cross_entropy = -jnp.mean(chosen(log_probs, batch.actions))
    value = cross_entropy + config.beta * jnp.mean(logits**2)
    return value, {"loss": value, "cross_entropy": cross_entropy}


def update(state: DiscreteBCState, batch: Batch, key: PRNGKey, *, config: DiscreteBCConfig):
    grads, metrics = jax.grad(loss, has_aux=True)(state.policy.params, state, batch, config)
    return DiscreteBCState(state.policy.apply_gradients(grads=grads), state.step + 1), metrics


def action_probabilities(state: DiscreteBCState, observations: jax.Array) -> jax.Array:
    """The cloned behaviour policy's probabilities, `[batch, n_actions]`."""
    return jax.nn.softmax(state.policy.apply_fn({"params": state.policy.params}, observations))


def act(state: DiscreteBCState, observations: jax.Array, key: PRNGKey, *, config: DiscreteBCConfig,
        deterministic: bool, action_masks: jax.Array | None = None):
    logits = masked(state.policy.apply_fn({"params": state.policy.params}, observations), action_masks)
    if deterministic:
        return jnp.argmax(logits, axis=1)
    return jax.random.categorical(key, logits, axis=1)


SPEC = AlgoSpec("discrete_bc", DiscreteBCConfig, init=init, update=update, act=act, action_space="discrete",
                baseline=True)
