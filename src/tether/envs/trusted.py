"""Which environments a dataset may name. Data never chooses code.

Dataset metadata (`env_id` from a CSV sidecar, Parquet metadata, an NPZ, a Minari `env_spec`, D4RL
HDF5 attributes) comes from whoever wrote the file. Gymnasium's `module:EnvName` ids import
`module`, so building an environment from such an id would run code the file chose. tether builds an
environment from metadata only when the id is a plain id already in Gymnasium's registry (no module
part), as its MuJoCo and classic-control tasks are. Anything else is ignored with
an `UntrustedMetadataWarning` naming the field; a user who wants another environment passes it
explicitly (`tether train --env ID`, or an env object in Python).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from tether._env_ids import is_trusted_env_id


class UntrustedMetadataWarning(UserWarning):
    """Metadata named an environment (or other code) that tether will not build from data."""


def env_id_from_metadata(metadata: Mapping[str, Any], field: str = "env_id") -> str | None:
    """`metadata[field]` when it is a trusted environment id; otherwise None, with a warning when the
    field names something tether will not build."""
    value = metadata.get(field)
    if value in (None, ""):
        return None
    if is_trusted_env_id(value):
        return str(value)
    warnings.warn(f"metadata field {field!r} names {value!r}, which is not an environment tether knows: no "
                  "environment is built from data (pass one explicitly, e.g. `tether train --env ID`)",
                  UntrustedMetadataWarning, stacklevel=2)
    return None


def make_trusted_env(env_id: str) -> gym.Env:
    """Build an environment whose id passed `is_trusted_env_id` (tether's tasks get their time limits)."""
    if not is_trusted_env_id(env_id):
        raise ValueError(f"{env_id!r} is not a trusted environment id")
    from tether.envs.mujoco import MUJOCO_TASKS, make_env

    for task in MUJOCO_TASKS.values():
        if task.env_id == env_id:
            return make_env(task.name)
    return gym.make(env_id)


def env_from_metadata(metadata: Mapping[str, Any]) -> gym.Env | None:
    """The environment the dataset's metadata names, when tether may build it (see the module docstring)."""
    env_id = env_id_from_metadata(metadata)
    return None if env_id is None else make_trusted_env(env_id)
