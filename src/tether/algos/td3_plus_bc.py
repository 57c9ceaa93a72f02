"""TD3+BC: TD3 whose actor is regularised toward the logged actions.

The actor maximises `lambda * Q(s, pi(s)) - (pi(s) - a)^2` with `lambda = alpha / mean|Q|`
(detached), so the Q term's scale does not depend on the reward scale. Fujimoto & Gu 2021, "A
Minimalist Approach to Offline Reinforcement Learning".

Differences: from the paper, none (alpha 2.5, policy noise 0.2 clipped at 0.5, actor every 2nd
step, states standardised). From d3rlpy: observations are standardised by default, as in the paper.
The networks start from PyTorch's initialisation, as d3rlpy's do (`network_init="lecun"` for flax's;
the comparison behind the default is in bench/NOTES.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Metrics, Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.nets import DeterministicActor, QEnsemble
from tether.nets.mlp import check_init


@dataclass(frozen=True, kw_only=True)
class TD3PlusBCConfig(LearnerConfig):
    """TD3+BC.

    Args:
        actor_learning_rate, critic_learning_rate: Adam learning rates (paper: 3e-4).
        tau: Polyak factor of the targets.
        alpha: weight of the Q term relative to the BC term (paper: 2.5).
        target_smoothing_sigma, target_smoothing_clip: target policy noise (0.2, clipped at 0.5).
        update_actor_interval: critic steps per actor step (2).
        n_critics: critics in the ensemble (2).
        hidden_dims: widths of actor and critic MLPs.
        network_init: `"torch"` (PyTorch's, as d3rlpy's networks: uniform on +-1/sqrt(fan_in),
            biases too) or `"lecun"` (flax's default).
    """

    TYPE = "td3_plus_bc"
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    tau: float = 0.005
    alpha: float = 2.5
    target_smoothing_sigma: float = 0.2
    target_smoothing_clip: float = 0.5
    update_actor_interval: int = 2
    n_critics: int = 2
    hidden_dims: tuple[int, ...] = (256, 256)
    network_init: str = "torch"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_init(self.network_init, "network_init")


class TD3PlusBCState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    target_actor_params: Params
    target_critic_params: Params
    step: jax.Array


def init(config: TD3PlusBCConfig, spec: DatasetSpec, key: PRNGKey) -> TD3PlusBCState:
    actor_net = DeterministicActor(config.hidden_dims, spec.action_dim, weight_init=config.network_init)
    critic_net = QEnsemble(config.hidden_dims, config.n_critics, weight_init=config.network_init)
    return actor_critic_state(actor_net, critic_net, spec, key, config)


def actor_critic_state(actor_net: Any, critic_net: Any, spec: DatasetSpec, key: PRNGKey,
                       config: Any) -> TD3PlusBCState:
    """A fresh TD3-style state for these networks (Adam at the config's two rates, targets copied)."""
    actor_key, critic_key = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.observation_dim)), jnp.zeros((1, spec.action_dim))
    actor_params = actor_net.init(actor_key, obs)["params"]
    critic_params = critic_net.init(critic_key, obs, act)["params"]
    return TD3PlusBCState(
        actor=TrainState.create(apply_fn=actor_net.apply, params=actor_params,
                                tx=optax.adam(config.actor_learning_rate)),
        critic=TrainState.create(apply_fn=critic_net.apply, params=critic_params,
                                 tx=optax.adam(config.critic_learning_rate)),
        target_actor_params=jax.tree.map(jnp.copy, actor_params),
        target_critic_params=jax.tree.map(jnp.copy, critic_params),
        step=jnp.int32(0))


def smoothed_target_actions(state: TD3PlusBCState, next_observations: jax.Array, key: PRNGKey,
                            config: Any) -> jax.Array:
    """The target actor's actions at s' plus TD3's clipped Gaussian noise, kept in [-1, 1]."""
    next_actions = state.actor.apply_fn({"params": state.target_actor_params}, next_observations)
    noise = jnp.clip(config.target_smoothing_sigma * jax.random.normal(key, next_actions.shape),
                     -config.target_smoothing_clip, config.target_smoothing_clip)
    return jnp.clip(next_actions + noise, -1.0, 1.0)


def critic_loss(params: Params, state: TD3PlusBCState, batch: Batch, key: PRNGKey, config: TD3PlusBCConfig):
    next_actions = smoothed_target_actions(state, batch.next_observations, key, config)
    next_q = state.critic.apply_fn({"params": state.target_critic_params}, batch.next_observations, next_actions)
    targets = batch.rewards + config.gamma * (1.0 - batch.terminations) * jnp.min(next_q, axis=0)
    q = state.critic.apply_fn({"params": params}, batch.observations, batch.actions)
    loss = jnp.sum(jnp.mean((q - jax.lax.stop_gradient(targets)) ** 2, axis=1))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}


def actor_loss(params: Params, state: TD3PlusBCState, batch: Batch, config: TD3PlusBCConfig):
    actions = state.actor.apply_fn({"params": params}, batch.observations)
    q = state.critic.apply_fn({"params": state.critic.params}, batch.observations, actions)[0]
    lmbda = jax.lax.stop_gradient(config.alpha / jnp.mean(jnp.abs(q)))
    bc = jnp.mean((actions - batch.actions) ** 2)
    loss = -lmbda * jnp.mean(q) + bc
    return loss, {"actor_loss": loss, "bc_loss": bc}


def _actor_step(state: TD3PlusBCState, batch: Batch, config: Any, actor_loss: Callable):
    grads, metrics = jax.grad(actor_loss, has_aux=True)(state.actor.params, state, batch, config)
    actor = state.actor.apply_gradients(grads=grads)
    return state.replace(
        actor=actor,
        target_actor_params=optax.incremental_update(actor.params, state.target_actor_params, config.tau),
        target_critic_params=optax.incremental_update(state.critic.params, state.target_critic_params, config.tau),
    ), metrics


def _skip_actor(state: TD3PlusBCState, batch: Batch, config: Any, actor_loss: Callable):
    return state, {"actor_loss": jnp.float32(jnp.nan), "bc_loss": jnp.float32(jnp.nan)}


def delayed_actor_update(state: TD3PlusBCState, batch: Batch, key: PRNGKey, *, config: Any,
                         critic_loss: Callable, actor_loss: Callable) -> tuple[TD3PlusBCState, Metrics]:
    """TD3's step: the critics on `critic_loss`; every `update_actor_interval`-th step the actor on
    `actor_loss` (metrics `actor_loss`, `bc_loss`) and both targets by Polyak averaging (ReBRAC's too)."""
    grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(state.critic.params, state, batch, key, config)
    state = state.replace(critic=state.critic.apply_gradients(grads=grads))
    state, actor_metrics = jax.lax.cond(state.step % config.update_actor_interval == 0,
                                        partial(_actor_step, config=config, actor_loss=actor_loss),
                                        partial(_skip_actor, config=config, actor_loss=actor_loss), state, batch)
    return state.replace(step=state.step + 1), {**critic_metrics, **actor_metrics}


def update(state: TD3PlusBCState, batch: Batch, key: PRNGKey, *, config: TD3PlusBCConfig):
    return delayed_actor_update(state, batch, key, config=config, critic_loss=critic_loss, actor_loss=actor_loss)


def act(state: TD3PlusBCState, observations: jax.Array, key: PRNGKey, *, config: Any,
        deterministic: bool):
    return state.actor.apply_fn({"params": state.actor.params}, observations)


def q_value(state: TD3PlusBCState, observations: jax.Array, actions: jax.Array, *, config: Any):
    return jnp.mean(state.critic.apply_fn({"params": state.critic.params}, observations, actions), axis=0)


SPEC = AlgoSpec("td3_plus_bc", TD3PlusBCConfig, init=init, update=update, act=act, q_value=q_value)
