"""Discrete BCQ: Q-learning restricted to actions the behaviour policy plausibly takes.

An imitation network estimates the behaviour policy; only actions with
`pi_b(a|s) / max_a' pi_b(a'|s) >= action_flexibility` may be chosen, both when acting and in the
double-DQN target. Fujimoto et al. 2019, "Benchmarking Batch Deep Reinforcement Learning
Algorithms".

Differences from d3rlpy's `DiscreteBCQConfig`: same objective (Huber TD + imitation cross-entropy
+ `beta` times the mean squared logit) and names; separate Q and imitation networks rather than a
shared encoder; `beta` 0.01 (the paper's code) instead of d3rlpy's 0.5, which flattens the
imitation softmax so much that never-logged actions keep ~18% probability and pass the 0.3
threshold (tests/algos/test_discrete.py shows it); defaults suited to logged decision data
(learning rate 3e-4, batch 256, target every 1000 steps; d3rlpy's are Atari's); observations
standardised by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec, LearnerConfig, register
from tether.algos.discrete_common import chosen, hard_update, huber, masked
from tether.nets import DiscreteQNet


@dataclass(frozen=True, kw_only=True)
class DiscreteBCQConfig(LearnerConfig):
    """Discrete BCQ.

    Args:
        learning_rate: Adam learning rate of both networks (3e-4).
        action_flexibility: threshold on `pi_b(a|s) / max pi_b(.|s)` (d3rlpy: 0.3).
        beta: weight of the imitation logits' mean square (0.01, as Fujimoto's discrete BCQ).
        target_update_interval: steps between hard target copies (1000).
        hidden_dims: widths of both networks.
    """

    TYPE = "discrete_bcq"
    learning_rate: float = 3e-4
    action_flexibility: float = 0.3
    beta: float = 0.01
    target_update_interval: int = 1000
    hidden_dims: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.action_flexibility <= 1.0:
            raise ValueError(f"action_flexibility must lie in [0, 1], got {self.action_flexibility}")


class DiscreteBCQState(struct.PyTreeNode):
    q: TrainState
    imitator: TrainState
    target_params: Params
    step: jax.Array


def init(config: DiscreteBCQConfig, spec: DatasetSpec, key: PRNGKey) -> DiscreteBCQState:
    q_key, imitator_key = jax.random.split(key)
    net = DiscreteQNet(config.hidden_dims, spec.n_actions)
    obs = jnp.zeros((1, spec.observation_dim))
    q_params = net.init(q_key, obs)["params"]
    return DiscreteBCQState(
        q=TrainState.create(apply_fn=net.apply, params=q_params, tx=optax.adam(config.learning_rate)),
        imitator=TrainState.create(apply_fn=net.apply, params=net.init(imitator_key, obs)["params"],
                                   tx=optax.adam(config.learning_rate)),
        target_params=jax.tree.map(jnp.copy, q_params), step=jnp.int32(0))


def allowed_actions(state: DiscreteBCQState, observations: jax.Array, flexibility: float,
                    action_masks: jax.Array | None = None) -> jax.Array:
    """`[batch, n]` mask of permitted actions whose estimated behaviour probability is within the threshold."""
    logits = state.imitator.apply_fn({"params": state.imitator.params}, observations)
    probs = jax.nn.softmax(masked(logits, action_masks))
    allowed = probs / jnp.max(probs, axis=1, keepdims=True) >= flexibility
    return allowed if action_masks is None else allowed & action_masks


def constrained_greedy(q_values: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.argmax(jnp.where(mask, q_values, -jnp.inf), axis=1)


def q_loss(params: Params, state: DiscreteBCQState, batch: Batch, config: DiscreteBCQConfig):
    next_online = state.q.apply_fn({"params": state.q.params}, batch.next_observations)
    next_actions = constrained_greedy(next_online, allowed_actions(state, batch.next_observations,
                                                                   config.action_flexibility, batch.next_action_masks))
    next_value = chosen(state.q.apply_fn({"params": state.target_params}, batch.next_observations), next_actions)
    targets = jax.lax.stop_gradient(batch.rewards + config.gamma * (1.0 - batch.terminations) * next_value)
    q_data = chosen(state.q.apply_fn({"params": params}, batch.observations), batch.actions)
    value = jnp.mean(huber(q_data - targets))
    return value, {"td_loss": value, "q_mean": jnp.mean(q_data)}


def imitator_loss(params: Params, state: DiscreteBCQState, batch: Batch, config: DiscreteBCQConfig):
    logits = state.imitator.apply_fn({"params": params}, batch.observations)
    cross_entropy = -jnp.mean(chosen(jax.nn.log_softmax(masked(logits, batch.action_masks)), batch.actions))
    value = cross_entropy + config.beta * jnp.mean(logits**2)
    return value, {"imitator_loss": value}


def update(state: DiscreteBCQState, batch: Batch, key: PRNGKey, *, config: DiscreteBCQConfig):
    grads, imitator_metrics = jax.grad(imitator_loss, has_aux=True)(state.imitator.params, state, batch, config)
    state = state.replace(imitator=state.imitator.apply_gradients(grads=grads))
    grads, q_metrics = jax.grad(q_loss, has_aux=True)(state.q.params, state, batch, config)
    q = state.q.apply_gradients(grads=grads)
    step = state.step + 1
    return state.replace(q=q, step=step, target_params=hard_update(step, config.target_update_interval, q.params,
                                                                   state.target_params)), {**imitator_metrics,
                                                                                           **q_metrics}


def act(state: DiscreteBCQState, observations: jax.Array, key: PRNGKey, *, config: DiscreteBCQConfig,
        deterministic: bool, action_masks: jax.Array | None = None):
    q_values = state.q.apply_fn({"params": state.q.params}, observations)
    return constrained_greedy(q_values, allowed_actions(state, observations, config.action_flexibility,
                                                        action_masks))


def q_value(state: DiscreteBCQState, observations: jax.Array, actions: jax.Array, *, config: DiscreteBCQConfig):
    return chosen(state.q.apply_fn({"params": state.q.params}, observations), actions)


register(AlgoSpec("discrete_bcq", DiscreteBCQConfig, init=init, update=update, act=act, q_value=q_value))
