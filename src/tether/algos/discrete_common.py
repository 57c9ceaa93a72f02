"""Pieces shared by the discrete-action learners: Huber TD error, hard target copies, greedy actions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from tether._types import Params


def huber(x: jax.Array, delta: float = 1.0) -> jax.Array:
    """Elementwise Huber loss (the TD error d3rlpy's discrete learners use)."""
    return optax.huber_loss(x, delta=delta)


def hard_update(step: jax.Array, interval: int, params: Params, target: Params) -> Params:
    """Copy `params` into the target every `interval` steps (no Python branching on traced values)."""
    copy = step % interval == 0
    return jax.tree.map(lambda p, t: jnp.where(copy, p, t), params, target)


def masked(values: jax.Array, masks: jax.Array | None) -> jax.Array:
    """`values` with forbidden actions pushed to a very low value (unchanged when `masks` is None)."""
    return values if masks is None else jnp.where(masks, values, -1e9)


def chosen(values: jax.Array, actions: jax.Array) -> jax.Array:
    """`values[i, actions[i]]` for `[batch, n]` values and `[batch]` actions."""
    return jnp.take_along_axis(values, actions[:, None].astype(jnp.int32), axis=1)[:, 0]
