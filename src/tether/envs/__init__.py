"""Environments: Gymnasium MuJoCo tasks used for regenerated datasets (and, later, logged-decision simulators)."""

from tether.envs.mujoco import MUJOCO_TASKS, MujocoTask, get_task, make_env

__all__ = ["MUJOCO_TASKS", "MujocoTask", "get_task", "make_env"]
