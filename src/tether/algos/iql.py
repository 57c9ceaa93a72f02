"""Implicit Q-Learning: in-sample value learning that never queries actions outside the data.

V(s) fits an upper expectile of Q(s, a) over logged actions; Q(s, a) regresses on
`r + gamma V(s')`; the policy is extracted by advantage-weighted regression with weights
`min(exp(beta (Q - V)), 100)`. Kostrikov, Nair & Levine 2022, "Offline Reinforcement Learning with
Implicit Q-Learning".

Rewards are scaled by `1000 / (max - min)` of the dataset's episode returns by default
(`reward_scaler="return_range"`), as the paper does on locomotion: the advantage weights
`exp(beta A)` depend on the reward scale, and unscaled MuJoCo rewards saturate them at the cap.

Differences: from the paper, the actor's cosine learning-rate decay is optional
(`actor_cosine_decay_steps`, off by default because its horizon must equal the training length).
From d3rlpy: observations standardised by default, and the update order. tether's follows the paper's
code: V first, then the actor (weights from the new V), then Q regressing on the new V(s'). d3rlpy
steps Q and V together from the old V, then the actor.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Metrics, Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.errors import ConfigError
from tether.nets import GaussianActor, QEnsemble, ValueNet, gaussian_log_prob


@dataclass(frozen=True, kw_only=True)
class IQLConfig(LearnerConfig):
    """IQL.

    Args:
        actor_learning_rate, critic_learning_rate: Adam learning rates (3e-4); the critic rate
            also serves the value network.
        tau: Polyak factor of the target critic.
        expectile: the value's expectile (0.7).
        weight_temp: inverse temperature beta of the advantage weights (3.0).
        max_weight: cap of the weights (100).
        n_critics: critics in the ensemble (2).
        actor_cosine_decay_steps: decay the actor's learning rate to 0 over this many steps.
        hidden_dims: widths of every MLP.
    """

    TYPE = "iql"
    reward_scaler: str | None = "return_range"
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    tau: float = 0.005
    expectile: float = 0.7
    weight_temp: float = 3.0
    max_weight: float = 100.0
    n_critics: int = 2
    actor_cosine_decay_steps: int | None = None
    hidden_dims: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.expectile < 1.0:
            raise ConfigError("expectile", f"must lie in (0, 1), got {self.expectile}", "use a value such as 0.7")


class IQLState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    value: TrainState
    target_critic_params: Params
    step: jax.Array


def init(config: IQLConfig, spec: DatasetSpec, key: PRNGKey) -> IQLState:
    actor_key, critic_key, value_key = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, spec.observation_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = GaussianActor(config.hidden_dims, spec.action_dim)
    critic_net = QEnsemble(config.hidden_dims, config.n_critics)
    value_net = ValueNet(config.hidden_dims)
    actor_lr = config.actor_learning_rate
    if config.actor_cosine_decay_steps:
        actor_lr = optax.cosine_decay_schedule(config.actor_learning_rate, config.actor_cosine_decay_steps)
    critic_params = critic_net.init(critic_key, obs, act)["params"]
    return IQLState(
        actor=TrainState.create(apply_fn=actor_net.apply, params=actor_net.init(actor_key, obs)["params"],
                                tx=optax.adam(actor_lr)),
        critic=TrainState.create(apply_fn=critic_net.apply, params=critic_params,
                                 tx=optax.adam(config.critic_learning_rate)),
        value=TrainState.create(apply_fn=value_net.apply, params=value_net.init(value_key, obs)["params"],
                                tx=optax.adam(config.critic_learning_rate)),
        target_critic_params=jax.tree.map(jnp.copy, critic_params),
        step=jnp.int32(0))


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    """Asymmetric squared loss `|expectile - 1(diff < 0)| diff^2` (elementwise)."""
    weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
    return weight * diff**2


def value_loss(params: Params, state: IQLState, batch: Batch, config: IQLConfig):
    q = jnp.min(state.critic.apply_fn({"params": state.target_critic_params}, batch.observations, batch.actions), 0)
    v = state.value.apply_fn({"params": params}, batch.observations)
    loss = jnp.mean(expectile_loss(q - v, config.expectile))
    return loss, {"value_loss": loss, "v_mean": jnp.mean(v)}


def critic_loss(params: Params, state: IQLState, batch: Batch, config: IQLConfig):
    next_v = state.value.apply_fn({"params": state.value.params}, batch.next_observations)
    targets = batch.rewards + config.gamma * (1.0 - batch.terminations) * next_v
    q = state.critic.apply_fn({"params": params}, batch.observations, batch.actions)
    loss = jnp.sum(jnp.mean((q - targets) ** 2, axis=1))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}


def advantage_weights(state: IQLState, batch: Batch, config: IQLConfig) -> jax.Array:
    q = jnp.min(state.critic.apply_fn({"params": state.target_critic_params}, batch.observations, batch.actions), 0)
    v = state.value.apply_fn({"params": state.value.params}, batch.observations)
    return jnp.minimum(jnp.exp(config.weight_temp * (q - v)), config.max_weight)


def actor_loss(params: Params, state: IQLState, batch: Batch, config: IQLConfig):
    weights = advantage_weights(state, batch, config)
    mean, log_std = state.actor.apply_fn({"params": params}, batch.observations)
    loss = -jnp.mean(weights * gaussian_log_prob(batch.actions, mean, log_std))
    return loss, {"actor_loss": loss, "weight_mean": jnp.mean(weights)}


def update(state: IQLState, batch: Batch, key: PRNGKey, *, config: IQLConfig) -> tuple[IQLState, Metrics]:
    grads, value_metrics = jax.grad(value_loss, has_aux=True)(state.value.params, state, batch, config)
    state = state.replace(value=state.value.apply_gradients(grads=grads))
    grads, actor_metrics = jax.grad(actor_loss, has_aux=True)(state.actor.params, state, batch, config)
    state = state.replace(actor=state.actor.apply_gradients(grads=grads))
    grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(state.critic.params, state, batch, config)
    critic = state.critic.apply_gradients(grads=grads)
    state = state.replace(
        critic=critic, step=state.step + 1,
        target_critic_params=optax.incremental_update(critic.params, state.target_critic_params, config.tau))
    return state, {**value_metrics, **actor_metrics, **critic_metrics}


def act(state: IQLState, observations: jax.Array, key: PRNGKey, *, config: IQLConfig, deterministic: bool):
    mean, log_std = state.actor.apply_fn({"params": state.actor.params}, observations)
    if deterministic:
        return mean
    return jnp.clip(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape), -1.0, 1.0)


def q_value(state: IQLState, observations: jax.Array, actions: jax.Array, *, config: IQLConfig):
    return jnp.mean(state.critic.apply_fn({"params": state.critic.params}, observations, actions), axis=0)


SPEC = AlgoSpec("iql", IQLConfig, init=init, update=update, act=act, q_value=q_value)
