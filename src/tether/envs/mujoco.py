"""The Gymnasium MuJoCo v5 tasks behind tether's D4RL-style datasets."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class MujocoTask:
    """A locomotion task: its short name, Gymnasium id, sizes and D4RL's published reference scores."""

    name: str
    env_id: str
    observation_dim: int
    action_dim: int
    d4rl_ref_min_score: float
    d4rl_ref_max_score: float
    max_episode_steps: int = 1000


# D4RL reference scores from d4rl/infos.py (REF_MIN = uniform random, REF_MAX = D4RL's expert).
MUJOCO_TASKS: dict[str, MujocoTask] = {
    "halfcheetah": MujocoTask("halfcheetah", "HalfCheetah-v5", 17, 6, -280.178953, 12135.0),
    "hopper": MujocoTask("hopper", "Hopper-v5", 11, 3, -20.272305, 3234.3),
    "walker2d": MujocoTask("walker2d", "Walker2d-v5", 17, 6, 1.629008, 4592.3),
}


def get_task(name: str) -> MujocoTask:
    """Look a task up by short name (`halfcheetah`) or Gymnasium id (`HalfCheetah-v5`)."""
    key = name.lower().split("-")[0]
    if key not in MUJOCO_TASKS:
        known = ", ".join(sorted(MUJOCO_TASKS))
        raise ValueError(f"unknown MuJoCo task {name!r}: choose one of {known}")
    return MUJOCO_TASKS[key]


_KNOWN_DEPRECATIONS = ("settotalmass",)  # in Gymnasium's own XML files, not actionable by users
_quiet = False


def _filter_mujoco_warnings() -> None:
    """Drop MuJoCo's known deprecation notices about Gymnasium's XML; forward every other warning."""
    global _quiet
    if _quiet:
        return
    import mujoco

    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if any(word in message for word in _KNOWN_DEPRECATIONS):
            return
        if previous is not None:
            previous(message)
        else:
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(handler)
    _quiet = True


def make_env(name: str, **kwargs) -> gym.Env:
    """Create the Gymnasium env of a task, with its 1000-step time limit."""
    _filter_mujoco_warnings()
    task = get_task(name)
    return gym.make(task.env_id, max_episode_steps=task.max_episode_steps, **kwargs)
