"""Discrete CQL: double DQN whose Q-values are pushed down on actions the logs do not support.

Loss: Huber TD error of a double-DQN target, plus `alpha * (logsumexp_a Q(s, a) - Q(s, a_data))`,
the exact logsumexp over the finite action set. Kumar et al. 2020 (CQL(H), discrete form).

Differences from d3rlpy's `DiscreteCQLConfig`: same objective and names (`alpha`,
`target_update_interval`); defaults suited to logged decision data rather than Atari (learning
rate 3e-4 instead of 6.25e-5, batch 256 instead of 32, target copied every 1000 steps instead of
8000); observations standardised by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.algos.discrete_common import chosen, hard_update, huber, masked
from tether.nets import DiscreteQNet


@dataclass(frozen=True, kw_only=True)
class DiscreteCQLConfig(LearnerConfig):
    """Discrete CQL.

    Args:
        learning_rate: Adam learning rate (3e-4).
        alpha: weight of the conservative term (d3rlpy: 1.0).
        target_update_interval: steps between hard copies of the target network (1000).
        hidden_dims: Q-network widths.
    """

    TYPE = "discrete_cql"
    learning_rate: float = 3e-4
    alpha: float = 1.0
    target_update_interval: int = 1000
    hidden_dims: tuple[int, ...] = (256, 256)


class DiscreteCQLState(struct.PyTreeNode):
    q: TrainState
    target_params: Params
    step: jax.Array


def init(config: DiscreteCQLConfig, spec: DatasetSpec, key: PRNGKey) -> DiscreteCQLState:
    net = DiscreteQNet(config.hidden_dims, spec.n_actions)
    params = net.init(key, jnp.zeros((1, spec.observation_dim)))["params"]
    return DiscreteCQLState(TrainState.create(apply_fn=net.apply, params=params, tx=optax.adam(config.learning_rate)),
                            jax.tree.map(jnp.copy, params), jnp.int32(0))


def double_dqn_targets(state: DiscreteCQLState, batch: Batch, gamma: float) -> jax.Array:
    """`r + gamma (1 - d) Q_target(s', argmax_a Q(s', a))`, the argmax over actions allowed in s'."""
    next_online = masked(state.q.apply_fn({"params": state.q.params}, batch.next_observations),
                         batch.next_action_masks)
    next_target = state.q.apply_fn({"params": state.target_params}, batch.next_observations)
    next_value = chosen(next_target, jnp.argmax(next_online, axis=1))
    return batch.rewards + gamma * (1.0 - batch.terminations) * next_value


def loss(params: Params, state: DiscreteCQLState, batch: Batch, config: DiscreteCQLConfig):
    q_all = state.q.apply_fn({"params": params}, batch.observations)
    q_data = chosen(q_all, batch.actions)
    targets = jax.lax.stop_gradient(double_dqn_targets(state, batch, config.gamma))
    td = jnp.mean(huber(q_data - targets))
    # the logsumexp runs over allowed actions only: masked ones can never be chosen, so need no penalty
    conservative = jnp.mean(jax.scipy.special.logsumexp(masked(q_all, batch.action_masks), axis=1) - q_data)
    value = td + config.alpha * conservative
    return value, {"loss": value, "td_loss": td, "conservative_loss": conservative, "q_mean": jnp.mean(q_data)}


def update(state: DiscreteCQLState, batch: Batch, key: PRNGKey, *, config: DiscreteCQLConfig):
    grads, metrics = jax.grad(loss, has_aux=True)(state.q.params, state, batch, config)
    q = state.q.apply_gradients(grads=grads)
    step = state.step + 1
    return DiscreteCQLState(q, hard_update(step, config.target_update_interval, q.params, state.target_params),
                            step), metrics


def act(state: DiscreteCQLState, observations: jax.Array, key: PRNGKey, *, config: DiscreteCQLConfig,
        deterministic: bool, action_masks: jax.Array | None = None):
    return jnp.argmax(masked(state.q.apply_fn({"params": state.q.params}, observations), action_masks), axis=1)


def q_value(state: DiscreteCQLState, observations: jax.Array, actions: jax.Array, *, config: DiscreteCQLConfig):
    return chosen(state.q.apply_fn({"params": state.q.params}, observations), actions)


SPEC = AlgoSpec("discrete_cql", DiscreteCQLConfig, init=init, update=update, act=act, q_value=q_value,
                action_space="discrete")
