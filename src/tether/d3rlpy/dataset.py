"""d3rlpy's `MDPDataset(observations, actions, rewards, terminals, timeouts)`, as a tether `LoggedDataset`."""

from __future__ import annotations

import numpy as np

from tether.d3rlpy.constants import ActionSpace as D3ActionSpace
from tether.data import ActionSpace, LoggedDataset


def MDPDataset(observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminals: np.ndarray,  # noqa: N802
               timeouts: np.ndarray | None = None, action_space: D3ActionSpace | None = None,
               action_size: int | None = None) -> LoggedDataset:
    """Flat step arrays with d3rlpy's end flags: an episode ends at every `terminals` (no bootstrap)
    or `timeouts` (time limit) step.

    Differences from d3rlpy: steps after the last flag are kept as a truncated episode (d3rlpy drops
    them); continuous actions are declared in [-1, 1] when they all lie there, else in their
    per-dimension min and max, which tether maps to [-1, 1] as d3rlpy's `MinMaxActionScaler` would.
    Invalid input raises `DatasetError` naming the field and the fix.
    """
    actions = np.asarray(actions)
    rewards = np.ravel(rewards)
    terminals = np.ravel(terminals).astype(bool)
    timeouts = np.zeros(len(rewards), bool) if timeouts is None else np.ravel(timeouts).astype(bool)
    discrete = (action_space == D3ActionSpace.DISCRETE if action_space is not None
                else np.issubdtype(actions.dtype, np.integer))
    if discrete:
        actions = np.ravel(actions).astype(np.int64)
        space = ActionSpace.discrete(action_size or int(actions.max()) + 1)
    else:
        actions = actions.reshape(len(actions), -1).astype(np.float32)
        inside = bool(np.all(np.abs(actions) <= 1.0))
        space = (ActionSpace.continuous(-np.ones(actions.shape[1]), np.ones(actions.shape[1])) if inside
                 else ActionSpace.continuous(actions.min(axis=0), actions.max(axis=0)))
    return LoggedDataset.from_end_flags(observations=np.asarray(observations), actions=actions, rewards=rewards,
                                        terminations=terminals, truncations=timeouts & ~terminals
                                        if len(timeouts) == len(terminals) else timeouts,  # else refused there
                                        action_space=space, metadata={"source": "d3rlpy MDPDataset"})


__all__ = ["MDPDataset"]
