"""The soft actor-critic pieces shared by CQL, SAC-N, EDAC, the model-based learners and the zoo's online SAC.

Both states carry `actor` (a `TanhGaussianActor` train state), `critic` (a `QEnsemble` train
state) and `log_temp` (a train state over `{"log_temp": scalar}`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from tether._types import Metrics, Params, PRNGKey
from tether.nets.mlp import tanh_gaussian_log_prob


def temperature_state(initial_temperature: float, learning_rate: float) -> TrainState:
    return TrainState.create(apply_fn=None, params={"log_temp": jnp.log(jnp.float32(initial_temperature))},
                             tx=optax.adam(learning_rate))


def temperature(state: Any) -> jax.Array:
    return jnp.exp(state.log_temp.params["log_temp"])


def sample_actions(state: Any, params: Params, observations: jax.Array, key: PRNGKey, n: int | None = None):
    """`n` (or 1) tanh-Gaussian samples: actions `[(n,) batch, action_dim]` and log-probs `[(n,) batch]`."""
    mean, log_std = state.actor.apply_fn({"params": params}, observations)
    shape = mean.shape if n is None else (n, *mean.shape)
    pre_tanh = mean + jnp.exp(log_std) * jax.random.normal(key, shape)
    return jnp.tanh(pre_tanh), tanh_gaussian_log_prob(pre_tanh, mean, log_std)


def actor_loss(params: Params, state: Any, observations: jax.Array, key: PRNGKey):
    """SAC's `E[temperature * log pi(a|s) - min_i Q_i(s, a)]`, a ~ pi(s)."""
    actions, log_probs = sample_actions(state, params, observations, key)
    q = jnp.min(state.critic.apply_fn({"params": state.critic.params}, observations, actions), axis=0)
    loss = jnp.mean(temperature(state) * log_probs - q)
    return loss, {"actor_loss": loss, "entropy": -jnp.mean(log_probs)}


def temperature_loss(params: Params, entropy: jax.Array, target_entropy: float):
    loss = params["log_temp"] * (entropy - target_entropy)
    return loss, {"temperature": jnp.exp(params["log_temp"])}


def actor_and_temperature_step(state: Any, observations: jax.Array, key: PRNGKey, target_entropy: float):
    """One actor step, then one temperature step toward `target_entropy`; returns `(state, metrics)`."""
    grads, actor_metrics = jax.grad(actor_loss, has_aux=True)(state.actor.params, state, observations, key)
    state = state.replace(actor=state.actor.apply_gradients(grads=grads))
    grads, temp_metrics = jax.grad(temperature_loss, has_aux=True)(
        state.log_temp.params, jax.lax.stop_gradient(actor_metrics["entropy"]), target_entropy)
    return state.replace(log_temp=state.log_temp.apply_gradients(grads=grads)), {**actor_metrics, **temp_metrics}


def soft_bellman_loss(params: Params, state: Any, batch: Any, key: PRNGKey, gamma: float):
    """SAC's soft Bellman loss summed over critics: `r + gamma (1 - terminations) (min_i Q'_i(s', a') -
    temperature * log pi(a'|s'))`, a' ~ pi(s'), as the target of every critic."""
    next_actions, next_log_probs = sample_actions(state, state.actor.params, batch.next_observations, key)
    next_q = jnp.min(state.critic.apply_fn({"params": state.target_critic_params}, batch.next_observations,
                                           next_actions), axis=0)
    next_value = next_q - temperature(state) * next_log_probs
    targets = jax.lax.stop_gradient(batch.rewards + gamma * (1.0 - batch.terminations) * next_value)
    q = state.critic.apply_fn({"params": params}, batch.observations, batch.actions)
    loss = jnp.sum(jnp.mean((q - targets) ** 2, axis=1))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}


CriticLoss = Callable[[Params, Any, Any, PRNGKey], tuple[jax.Array, Metrics]]


def update(state: Any, batch: Any, key: PRNGKey, *, gamma: float, tau: float,
           critic_loss: CriticLoss | None = None) -> tuple[Any, Metrics]:
    """One SAC step: critics (on `critic_loss`, the soft Bellman loss unless given), then actor, then
    temperature toward `-action_dim`, then Polyak-averaged target critics; `step + 1`."""
    critic_key, actor_key = jax.random.split(key)
    if critic_loss is None:
        critic_loss = lambda params, s, b, k: soft_bellman_loss(params, s, b, k, gamma)  # noqa: E731
    grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(state.critic.params, state, batch, critic_key)
    critic = state.critic.apply_gradients(grads=grads)
    state = state.replace(critic=critic)
    state, actor_metrics = actor_and_temperature_step(state, batch.observations, actor_key,
                                                      target_entropy=-float(batch.actions.shape[-1]))
    state = state.replace(step=state.step + 1,
                          target_critic_params=optax.incremental_update(critic.params, state.target_critic_params, tau))
    return state, {**critic_metrics, **actor_metrics}


def act(state: Any, observations: jax.Array, key: PRNGKey, *, config: Any, deterministic: bool) -> jax.Array:
    """The SAC policy's actions `[batch, action_dim]`: tanh of the Gaussian's mean, or a tanh-Gaussian sample."""
    if deterministic:
        return jnp.tanh(state.actor.apply_fn({"params": state.actor.params}, observations)[0])
    return sample_actions(state, state.actor.params, observations, key)[0]


def q_value(state: Any, observations: jax.Array, actions: jax.Array, *, config: Any) -> jax.Array:
    """The critics' mean `Q(s, a)`, `[batch]`."""
    return jnp.mean(state.critic.apply_fn({"params": state.critic.params}, observations, actions), axis=0)
