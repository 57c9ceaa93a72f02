"""The soft actor-critic pieces shared by CQL, the model-based learners and the zoo's online SAC.

Both states carry `actor` (a `TanhGaussianActor` train state), `critic` (a `QEnsemble` train
state) and `log_temp` (a train state over `{"log_temp": scalar}`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from tether._types import Params, PRNGKey
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


def act(state: Any, observations: jax.Array, key: PRNGKey, *, config: Any, deterministic: bool) -> jax.Array:
    """The SAC policy's actions `[batch, action_dim]`: tanh of the Gaussian's mean, or a tanh-Gaussian sample."""
    if deterministic:
        return jnp.tanh(state.actor.apply_fn({"params": state.actor.params}, observations)[0])
    return sample_actions(state, state.actor.params, observations, key)[0]


def q_value(state: Any, observations: jax.Array, actions: jax.Array, *, config: Any) -> jax.Array:
    """The critics' mean `Q(s, a)`, `[batch]`."""
    return jnp.mean(state.critic.apply_fn({"params": state.critic.params}, observations, actions), axis=0)
