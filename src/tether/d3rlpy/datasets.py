"""d3rlpy's dataset getters. Nothing is downloaded: `get_d4rl` reads D4RL files already on disk
(`~/.d4rl/datasets`) or tether's regenerated `-v5` datasets, resolved by `tether.sources`."""

from __future__ import annotations

import gymnasium as gym

from tether.data import LoggedDataset
from tether.sources import resolve


def get_d4rl(name: str, *, create_env: bool = True) -> tuple[LoggedDataset, gym.Env | None]:
    """d3rlpy's `get_d4rl`: `(dataset, env)` for a D4RL `-v2` name on disk or a built-in `-v5` name."""
    source = resolve(name, with_truth=create_env)
    env = source.truth if isinstance(source.truth, gym.Env) else None
    return source.dataset, env


__all__ = ["get_d4rl"]
