"""The one rule for environment ids that come from data: only plain, already registered ids.

Gymnasium's `module:EnvName` form imports `module`, so an id taken from a file could run code the
file chose. An id without a module part that Gymnasium's registry already holds imports nothing new:
tether's MuJoCo and classic-control tasks are all such ids.
"""

from __future__ import annotations


def is_trusted_env_id(env_id: object) -> bool:
    """Whether data may name `env_id`: a non-empty string without `:` already in Gymnasium's registry."""
    if not isinstance(env_id, str) or not env_id or ":" in env_id:
        return False
    import gymnasium as gym

    return env_id in gym.registry
