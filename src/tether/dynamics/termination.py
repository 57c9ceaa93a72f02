"""When an imagined transition ends its episode: the known rule of a built-in task, or a learned one.

Model-based methods end imagined rollouts where the real task would (MOPO's and MOReL's code use hand-
written termination functions; d3rlpy issue #101 is what happens without them). The rules are a fixed
table chosen by the dataset's declared environment id; data never name code, they can only select a row
of this table. Logs of other tasks use the ensemble's learned termination classifier.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LEARNED, NEVER, HOPPER, WALKER2D = 0, 1, 2, 3
RULE_NAMES = ("learned classifier", "never terminates", "Hopper's healthy range", "Walker2d's healthy range")
# Gymnasium's MuJoCo tasks (v3-v5 share these defaults): the rule for each environment id
KNOWN_RULES = {f"{task}-v{version}": rule for version in (3, 4, 5)
               for task, rule in (("Hopper", HOPPER), ("Walker2d", WALKER2D), ("HalfCheetah", NEVER))}


def rule_for(env_id: str | None) -> int:
    """The termination rule for a dataset from `env_id` (its metadata's `env_id`): known, else learned."""
    return KNOWN_RULES.get(env_id or "", LEARNED)


def _hopper(observations: jax.Array) -> jax.Array:
    # Hopper-v5 `is_healthy`: observation[1:] within (-100, 100), height observation[0] > 0.7,
    # torso angle observation[1] within (-0.2, 0.2)
    healthy = (jnp.all(jnp.abs(observations[:, 1:]) < 100.0, axis=-1) & (observations[:, 0] > 0.7)
               & (jnp.abs(observations[:, 1]) < 0.2))
    return ~healthy


def _walker2d(observations: jax.Array) -> jax.Array:
    # Walker2d-v5 `is_healthy`: height within (0.8, 2.0), torso angle within (-1, 1)
    height, angle = observations[:, 0], observations[:, 1]
    return ~((height > 0.8) & (height < 2.0) & (angle > -1.0) & (angle < 1.0))


def terminated(rule: jax.Array, logged_next_observations: jax.Array, logits: jax.Array) -> jax.Array:
    """`[batch]` bool: whether each transition to `logged_next_observations` (logged units) ends the
    episode under `rule` (a traced int32; `logits` are the learned classifier's, used by `LEARNED`)."""
    branches = (lambda o, lg: lg > 0.0, lambda o, lg: jnp.zeros(o.shape[0], bool),
                lambda o, lg: _hopper(o), lambda o, lg: _walker2d(o))
    return jax.lax.switch(rule, branches, logged_next_observations, logits)
