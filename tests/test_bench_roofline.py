"""The roofline benchmark's matmul count (bench/_roofline.py) against closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from bench._roofline import count_matmuls


def compiled_text(fn, *args) -> str:
    return jax.jit(fn).lower(*args).compile().as_text()


def test_a_two_layer_mlp_step_runs_its_six_matmuls_once():
    batch, n_in, hidden, n_out = 64, 12, 48, 5
    params = (jnp.ones((n_in, hidden)), jnp.ones((hidden, n_out)))
    x = jnp.ones((batch, n_in))

    def loss(params, x):
        return jnp.sum((jnp.tanh(x @ params[0]) @ params[1] - 1.0) ** 2)

    counts = count_matmuls(compiled_text(jax.grad(loss), params, x))
    flops = sum(site.flops * count for site, count in counts.items())
    # forward 2 matmuls; backward: both weight gradients and the hidden layer's input gradient
    forward = 2 * batch * (n_in * hidden + hidden * n_out)
    expected = forward + 2 * batch * (n_in * hidden + hidden * n_out) + 2 * batch * hidden * n_out
    assert flops == expected


def test_loops_multiply_and_the_branches_of_a_conditional_split_their_count():
    w = jnp.ones((32, 32))

    def fn(x, flag):
        def body(carry, _):
            heavy = jax.lax.cond(flag, lambda c: (c @ w) @ w, lambda c: c, carry)
            return heavy @ w, None

        return jax.lax.scan(body, x, None, length=7)[0]

    counts = count_matmuls(compiled_text(fn, jnp.ones((8, 32)), True))
    per_matmul = 2 * 8 * 32 * 32
    # 7 iterations of one matmul always and two in one of two branches (counted as half the time)
    assert sum(site.flops * count for site, count in counts.items()) == 7 * (1 + 2 / 2) * per_matmul
