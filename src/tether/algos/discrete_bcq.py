"""Discrete BCQ: Q-learning restricted to actions the behaviour policy plausibly takes.

An imitation network estimates the behaviour policy; only actions with
`pi_b(a|s) / max_a' pi_b(a'|s) >= action_flexibility` may be chosen, both when acting and in the
double-DQN target. Fujimoto et al. 2019, "Benchmarking Batch Deep Reinforcement Learning
Algorithms". One loss, one Adam: Huber TD error plus the imitation cross-entropy plus `beta` times
the imitation logits' mean square, as d3rlpy's `DiscreteBCQ`.

Differences from d3rlpy's `DiscreteBCQConfig`: same objective and names; separate Q and imitation
networks unless `share_encoder=True` (d3rlpy shares by default, Fujimoto's code for vector states
does not); `beta` 0.01 (the paper's code) instead of d3rlpy's 0.5, which flattens the
imitation softmax so much that never-logged actions keep ~18% probability and pass the 0.3
threshold; defaults suited to logged decision data
(learning rate 3e-4, batch 256, target every 1000 steps; d3rlpy's are Atari's); observations
standardised by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.algos.discrete_common import chosen, hard_update, huber, masked
from tether.errors import ConfigError
from tether.nets.mlp import MLP, dense_init


@dataclass(frozen=True, kw_only=True)
class DiscreteBCQConfig(LearnerConfig):
    """Discrete BCQ.

    Args:
        learning_rate: Adam learning rate of both networks (3e-4).
        action_flexibility: threshold on `pi_b(a|s) / max pi_b(.|s)` (d3rlpy: 0.3).
        beta: weight of the imitation logits' mean square (0.01, as Fujimoto's discrete BCQ).
        target_update_interval: steps between hard target copies (1000).
        hidden_dims: widths of both networks.
        share_encoder: one ReLU torso under both the Q and the imitation heads (d3rlpy's default).
    """

    TYPE = "discrete_bcq"
    learning_rate: float = 3e-4
    action_flexibility: float = 0.3
    beta: float = 0.01
    target_update_interval: int = 1000
    hidden_dims: tuple[int, ...] = (256, 256)
    share_encoder: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.action_flexibility <= 1.0:
            raise ConfigError("action_flexibility", f"must lie in [0, 1], got {self.action_flexibility}",
                              "use a value such as 0.3")


class QAndImitator(nn.Module):
    """`(Q(s, .), behaviour logits)`, each `[batch, n_actions]`, from one torso or two MLPs."""

    hidden_dims: tuple[int, ...]
    n_actions: int
    share_encoder: bool

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        if not self.share_encoder:
            return (MLP(self.hidden_dims, self.n_actions, name="q")(observations),
                    MLP(self.hidden_dims, self.n_actions, name="imitator")(observations))
        h = MLP(self.hidden_dims, name="encoder")(observations)
        head = dense_init("lecun", h.shape[-1])
        return nn.Dense(self.n_actions, name="q_head", **head)(h), nn.Dense(self.n_actions, name="imitator_head",
                                                                           **head)(h)


class DiscreteBCQState(struct.PyTreeNode):
    nets: TrainState
    target_params: Params
    step: jax.Array


def init(config: DiscreteBCQConfig, spec: DatasetSpec, key: PRNGKey) -> DiscreteBCQState:
    net = QAndImitator(config.hidden_dims, spec.n_actions, config.share_encoder)
    params = net.init(key, jnp.zeros((1, spec.observation_dim)))["params"]
    return DiscreteBCQState(
        nets=TrainState.create(apply_fn=net.apply, params=params, tx=optax.adam(config.learning_rate)),
        target_params=jax.tree.map(jnp.copy, params), step=jnp.int32(0))


def allowed_actions(logits: jax.Array, flexibility: float, action_masks: jax.Array | None = None) -> jax.Array:
    """`[batch, n]` mask of permitted actions whose estimated behaviour probability is within the threshold."""
    probs = jax.nn.softmax(masked(logits, action_masks))
    allowed = probs / jnp.max(probs, axis=1, keepdims=True) >= flexibility
    return allowed if action_masks is None else allowed & action_masks


def constrained_greedy(q_values: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.argmax(jnp.where(mask, q_values, -jnp.inf), axis=1)


def loss(params: Params, state: DiscreteBCQState, batch: Batch, config: DiscreteBCQConfig):
    apply = state.nets.apply_fn
    next_q, next_logits = apply({"params": params}, batch.next_observations)
    next_actions = constrained_greedy(next_q, allowed_actions(next_logits, config.action_flexibility,
                                                              batch.next_action_masks))
    next_value = chosen(apply({"params": state.target_params}, batch.next_observations)[0], next_actions)
    targets = jax.lax.stop_gradient(batch.rewards + config.gamma * (1.0 - batch.terminations) * next_value)
    q_values, logits = apply({"params": params}, batch.observations)
    q_data = chosen(q_values, batch.actions)
    td_loss = jnp.mean(huber(q_data - targets))
    cross_entropy = -jnp.mean(chosen(jax.nn.log_softmax(masked(logits, batch.action_masks)), batch.actions))
    imitator_loss = cross_entropy + config.beta * jnp.mean(logits**2)
    value = td_loss + imitator_loss
    return value, {"loss": value, "td_loss": td_loss, "imitator_loss": imitator_loss, "q_mean": jnp.mean(q_data)}


def update(state: DiscreteBCQState, batch: Batch, key: PRNGKey, *, config: DiscreteBCQConfig):
    grads, metrics = jax.grad(loss, has_aux=True)(state.nets.params, state, batch, config)
    nets = state.nets.apply_gradients(grads=grads)
    step = state.step + 1
    target = hard_update(step, config.target_update_interval, nets.params, state.target_params)
    return DiscreteBCQState(nets=nets, target_params=target, step=step), metrics


def act(state: DiscreteBCQState, observations: jax.Array, key: PRNGKey, *, config: DiscreteBCQConfig,
        deterministic: bool, action_masks: jax.Array | None = None):
    q_values, logits = state.nets.apply_fn({"params": state.nets.params}, observations)
    return constrained_greedy(q_values, allowed_actions(logits, config.action_flexibility, action_masks))


def q_value(state: DiscreteBCQState, observations: jax.Array, actions: jax.Array, *, config: DiscreteBCQConfig):
    return chosen(state.nets.apply_fn({"params": state.nets.params}, observations)[0], actions)


SPEC = AlgoSpec("discrete_bcq", DiscreteBCQConfig, init=init, update=update, act=act, q_value=q_value,
                action_space="discrete")
