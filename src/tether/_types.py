"""Type aliases shared by the JAX core."""

from __future__ import annotations

from typing import Any

import jax

PRNGKey = jax.Array
Params = Any  # a flax parameter pytree
Metrics = dict[str, jax.Array]
