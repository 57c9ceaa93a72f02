"""Multi-layer perceptrons, the tanh-Gaussian actor and vmapped critic ensembles."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_STD_MIN = -20.0  # rlkit / D4RL behaviour-policy clamp
LOG_STD_MAX = 2.0


class MLP(nn.Module):
    """ReLU MLP; `hidden_dims` then a linear output of `output_dim` (none if 0)."""

    hidden_dims: Sequence[int]
    output_dim: int = 0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden_dims:
            x = nn.Dense(width)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.relu(x)
        if self.output_dim:
            x = nn.Dense(self.output_dim)(x)
        return x


class TanhGaussianActor(nn.Module):
    """Gaussian policy squashed by tanh. Returns `(mean, log_std)`, each `[batch, action_dim]`."""

    hidden_dims: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = MLP(self.hidden_dims, name="trunk")(observations)
        mean = nn.Dense(self.action_dim, name="mean")(h)
        log_std = nn.Dense(self.action_dim, name="log_std")(h)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def tanh_gaussian_log_prob(
    pre_tanh: jax.Array, mean: jax.Array, log_std: jax.Array
) -> jax.Array:
    """Log-density of `tanh(pre_tanh)` under a tanh-squashed Gaussian, summed over action dims.

    Uses the numerically stable `log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))`.
    """
    gauss = -0.5 * (((pre_tanh - mean) / jnp.exp(log_std)) ** 2) - log_std - 0.5 * jnp.log(2 * jnp.pi)
    squash = 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))
    return jnp.sum(gauss - squash, axis=-1)


class QEnsemble(nn.Module):
    """`n_critics` independent Q(s, a) MLPs evaluated in one vmapped call: returns `[n_critics, batch]`."""

    hidden_dims: Sequence[int]
    n_critics: int = 2
    layer_norm: bool = False

    @nn.compact
    def __call__(self, observations: jax.Array, actions: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.n_critics,
        )
        x = jnp.concatenate([observations, actions], axis=-1)
        return ensemble(self.hidden_dims, 1, self.layer_norm)(x)[..., 0]
