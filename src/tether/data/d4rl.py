"""D4RL HDF5 files as they exist on users' disks, read and written in D4RL's exact layout.

Layout (D4RL `scripts/generation/mujoco/collect_data.py`): flat keys `observations`, `actions`,
`next_observations`, `rewards`, `terminals`, `timeouts`, `infos/action_log_probs`, `infos/qpos`,
`infos/qvel` and scalar `metadata/*` entries. Episodes end at `terminals | timeouts`; the array end
is a boundary too (D4RL cuts its arrays mid-episode), kept as a truncated episode. Replay files hold
float64 arrays and are cast to float32. A step flagged both terminal and timeout is terminal for
bootstrapping (the environment really ended).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from tether.data._h5 import open_h5, read_h5_dataset
from tether.data.dataset import ActionKind, ActionSpace, LoggedDataset, infer_action_space, parse_metadata_json
from tether.data.errors import DatasetError

D4RL_MAX_EPISODE_STEPS = 1000
_STEP_KEYS = {"observations", "actions", "next_observations", "rewards", "terminals", "timeouts"}
_NAME_RE = re.compile(r"^(?P<env>[a-z0-9]+)[_-](?P<level>[a-z_\-]+?)-(?P<version>v\d)$")


def d4rl_dataset_dir() -> Path:
    """Where D4RL keeps its files: `$D4RL_DATASET_DIR` or `~/.d4rl/datasets`."""
    return Path(os.environ.get("D4RL_DATASET_DIR", Path.home() / ".d4rl" / "datasets"))


def d4rl_file_name(name: str) -> str:
    """`halfcheetah-medium-replay-v2` -> `halfcheetah_medium_replay-v2.hdf5` (D4RL's URL basename)."""
    env, _, rest = name.partition("-")
    level, _, version = rest.rpartition("-")
    return f"{env}_{level.replace('-', '_')}-{version}.hdf5"


def parse_d4rl_name(stem: str) -> tuple[str, str, str] | None:
    """`halfcheetah_medium_replay-v2` or `halfcheetah-medium-replay-v2` -> (env, level, version)."""
    match = _NAME_RE.match(stem.lower())
    if not match:
        return None
    return match["env"], match["level"].replace("_", "-"), match["version"]


def _walk(handle: h5py.File, path: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}

    def visit(name: str | bytes, node: object) -> None:
        if isinstance(node, h5py.Dataset):  # a damaged file can hand back names that are not UTF-8
            arrays[name if isinstance(name, str) else name.decode(errors="replace")] = read_h5_dataset(node, path)

    handle.visititems(visit)
    return arrays


def read_d4rl_hdf5(path: str | Path, action_space: ActionSpace | ActionKind | None = None) -> LoggedDataset:
    """Read a D4RL HDF5 file into a `LoggedDataset`.

    Args:
        path: the `.hdf5` file (for example `~/.d4rl/datasets/hopper_medium-v2.hdf5`).
        action_space: declared action space, or its kind; by default one column of whole numbers
            0..255 is discrete, anything else continuous with D4RL's bounds `[-1, 1]` per dimension.

    Raises:
        DatasetError: the file is unreadable, lacks a required key, or its arrays are invalid.
    """
    path = Path(path).expanduser()
    with open_h5(path) as handle:
        arrays = _walk(handle, path)
    for key in ("observations", "actions", "rewards", "terminals"):
        if key not in arrays:
            raise DatasetError(key, f"missing from {path.name} (keys found: {sorted(arrays)[:8]})",
                               "pass a D4RL-layout HDF5 file (observations, actions, rewards, terminals, timeouts)")
    n = len(np.ravel(arrays["rewards"]))
    terminals = np.ravel(arrays["terminals"]).astype(bool)
    metadata: dict = {"source": "d4rl", "path": str(path)}
    if "timeouts" in arrays:
        timeouts = np.ravel(arrays["timeouts"]).astype(bool)
    else:  # old files: D4RL assumes a time limit every 1000 steps
        timeouts = np.zeros(n, bool)
        timeouts[D4RL_MAX_EPISODE_STEPS - 1 :: D4RL_MAX_EPISODE_STEPS] = True
        metadata["timeouts_inferred_every"] = D4RL_MAX_EPISODE_STEPS
    if len(terminals) != n or len(timeouts) != n:
        raise DatasetError("terminals/timeouts", f"have {len(terminals)}/{len(timeouts)} rows, rewards {n}",
                           "the file is inconsistent: regenerate it")
    for key, value in arrays.items():
        if key.startswith("metadata/") and np.ndim(value) == 0:
            metadata[key] = value.decode(errors="replace") if isinstance(value, bytes) else value.item()
    if "metadata/tether_json" in metadata:
        metadata.update(parse_metadata_json(str(metadata.pop("metadata/tether_json")), str(path),
                                            "metadata/tether_json"))
    if any(k.startswith("metadata/policy/") for k in arrays):
        metadata["d4rl_policy_weights_in_file"] = True
    parsed = parse_d4rl_name(path.stem)
    if parsed and "name" not in metadata:
        metadata["name"] = "-".join(parsed)
    extras = {k: v for k, v in arrays.items()
              if k not in _STEP_KEYS and k != "infos/action_log_probs" and not k.startswith("metadata/")
              and np.ndim(v) >= 1 and len(v) == n}
    log_probs = arrays.get("infos/action_log_probs")
    if not isinstance(action_space, ActionSpace):
        inferred, note = infer_action_space(arrays["actions"], action_space)
        if inferred.is_discrete:
            action_space = inferred
        else:
            action_dim = np.atleast_2d(arrays["actions"].T).T.shape[-1]
            action_space = ActionSpace.continuous(-np.ones(action_dim), np.ones(action_dim))
            note = "continuous with D4RL's bounds [-1, 1] per dimension (declare the true bounds)"
        metadata["action_space_inferred"] = note
    return LoggedDataset.from_end_flags(
        observations=arrays["observations"], actions=arrays["actions"], rewards=arrays["rewards"],
        terminations=terminals, truncations=timeouts & ~terminals, action_space=action_space,
        next_observations=arrays.get("next_observations"),
        behavior_log_probs=None if log_probs is None else np.ravel(log_probs), extras=extras, metadata=metadata)


def write_d4rl_hdf5(dataset: LoggedDataset, path: str | Path, compression: str | None = "gzip") -> Path:
    """Write `dataset` in D4RL's HDF5 layout, atomically (temp file, then rename).

    Truncated steps become `timeouts`, terminated ones `terminals`; a trailing partial episode that
    the source file did not flag is written unflagged again, as D4RL does. tether's own metadata is
    kept as the JSON string `metadata/tether_json`.
    """
    if dataset.action_space.is_discrete:
        raise DatasetError("actions", "D4RL files hold continuous actions only", "write Parquet, NPZ or Minari instead")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    timeouts = dataset.truncations & ~dataset.terminations
    if dataset.metadata.get("trailing_partial_episode"):
        timeouts = timeouts.copy()
        timeouts[-1] = False
    arrays = {"observations": dataset.observations, "actions": dataset.actions, "rewards": dataset.rewards,
              "terminals": dataset.terminations, "timeouts": timeouts}
    if dataset.next_observations is not None:
        arrays["next_observations"] = dataset.next_observations
    if dataset.behavior_log_probs is not None:
        arrays["infos/action_log_probs"] = dataset.behavior_log_probs.astype(np.float32)
    arrays.update(dataset.extras)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open_h5(tmp, "w") as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=value, compression=compression)
        meta = {k: v for k, v in dataset.metadata.items() if k not in ("path",)}
        handle.create_dataset("metadata/tether_json", data=json.dumps(meta, default=str))
    os.replace(tmp, path)
    return path
