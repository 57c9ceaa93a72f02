"""Supervised fitting with held-out early stopping, shared by behaviour models and the audit's outcome models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

N_CHECKS = 10  # held-out checks during training, for early stopping


def fit_early_stopped(net: Any, x: jax.Array, loss: Callable[[jax.Array, jax.Array], jax.Array],
                      train_rows: np.ndarray, held_rows: np.ndarray, n_steps: int, seed: int,
                      batch_size: int = 256, learning_rate: float = 1e-3) -> tuple[Any, float]:
    """Train `net` with Adam on minibatches of `train_rows`; return the weights with the lowest held-out loss.

    `loss(outputs, rows)` is the mean loss of `net`'s outputs for the given rows (the targets are the
    caller's, indexed by `rows`). Training runs as `N_CHECKS` fused `lax.scan` chunks; after each the
    loss on `held_rows` is measured and the best weights so far are kept (the initial ones included).
    Returns `(params, held-out loss of those params)`.
    """
    params = net.init(jax.random.PRNGKey(seed), x[:1])
    tx = optax.adam(learning_rate)
    train_index = jnp.asarray(train_rows)
    held_index = jnp.asarray(held_rows)

    def batch_loss(p, rows):
        return loss(net.apply(p, x[rows]), rows)

    def step(carry, key):
        p, opt = carry
        rows = train_index[jax.random.randint(key, (batch_size,), 0, len(train_index))]
        updates, opt = tx.update(jax.grad(batch_loss)(p, rows), opt, p)
        return (optax.apply_updates(p, updates), opt), None

    chunk = max(n_steps // N_CHECKS, 1)
    run_chunk = jax.jit(lambda c, k: jax.lax.scan(step, c, k)[0])
    held_loss = jax.jit(lambda p: batch_loss(p, held_index))
    carry = (params, tx.init(params))
    best, best_loss = params, float(held_loss(params))
    for check in range(N_CHECKS):
        carry = run_chunk(carry, jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), check), chunk))
        value = float(held_loss(carry[0]))
        if np.isfinite(value) and value < best_loss:
            best, best_loss = carry[0], value
    return best, best_loss
