"""NumPy `.npz` files: tether's own layout, or a plain D4RL-style dict of arrays.

tether's layout holds every array of `LoggedDataset.arrays()` by name plus two JSON strings,
`__action_space__` and `__metadata__`. A plain dict dump (`observations`, `actions`, `rewards`,
`terminals`/`terminations`, `timeouts`/`truncations`) is read too, episodes taken from the flags.
Files are always opened with `allow_pickle=False`.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tether._atomic import write_atomically
from tether.data.dataset import (
    ActionKind,
    ActionSpace,
    LoggedDataset,
    infer_action_space,
    parse_metadata_json,
    prefer_stored_space,
)
from tether.data.errors import DatasetError


def _text(value: np.ndarray | str, path: Path) -> str:
    """A JSON string stored as a 0-d array; anything else is refused naming the file."""
    array = np.asarray(value)
    if array.dtype.kind not in "US" or array.ndim != 0:
        raise DatasetError(str(path), f"holds a {array.dtype} array of shape {array.shape} where a JSON string "
                           "belongs (__metadata__ / __action_space__)", "store them as np.array(json.dumps(...))")
    return str(array)


def read_npz(path: str | Path, action_space: ActionSpace | ActionKind | None = None) -> LoggedDataset:
    """Read an `.npz` dataset (never unpickling anything)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(str(path), "file does not exist", "check the path")
    if not zipfile.is_zipfile(path):  # np.load would take any other file for a pickle
        raise DatasetError(str(path), "cannot be read as .npz (not a zip archive)",
                           "the file is truncated or corrupt, or not an .npz: regenerate it")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise DatasetError(str(path), "holds pickled objects, which tether never loads",
                               "save plain numeric arrays (np.savez with numeric arrays only)") from None
        raise DatasetError(str(path), f"cannot be read as .npz ({err})", "check the file is complete") from None
    except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, KeyError, zlib.error) as err:
        raise DatasetError(str(path), f"cannot be read as .npz ({type(err).__name__}: {err})",
                           "the file is truncated or corrupt: regenerate it") from None
    metadata = parse_metadata_json(_text(arrays.pop("__metadata__", "{}"), path), str(path), "__metadata__")
    metadata.setdefault("source", "npz")
    stored_space = arrays.pop("__action_space__", None)
    if stored_space is not None:
        stored_space = parse_metadata_json(_text(stored_space, path), str(path), "__action_space__")
    action_space = prefer_stored_space(stored_space, action_space)
    for key in ("observations", "actions", "rewards"):
        if key not in arrays:
            raise DatasetError(key, f"missing from {path.name} (arrays: {sorted(arrays)})",
                               "save observations, actions, rewards and the episode-end flags")
    terminations = arrays.pop("terminations", arrays.pop("terminals", None))
    truncations = arrays.pop("truncations", arrays.pop("timeouts", None))
    if terminations is None:
        raise DatasetError("terminations", f"missing from {path.name}", "save a terminations (or terminals) flag array")
    n = len(np.atleast_1d(arrays["rewards"]))
    terminations = np.ravel(terminations).astype(bool)
    truncations = np.zeros(n, bool) if truncations is None else np.ravel(truncations).astype(bool)
    starts = arrays.pop("episode_starts", None)
    if not isinstance(action_space, ActionSpace):
        action_space, note = infer_action_space(arrays["actions"], action_space)
        metadata["action_space_inferred"] = note
    extras = {k.removeprefix("extras/"): arrays.pop(k) for k in list(arrays) if k.startswith("extras/")}
    fields = dict(
        observations=arrays["observations"], actions=arrays["actions"], rewards=arrays["rewards"],
        terminations=terminations, truncations=truncations, action_space=action_space,
        next_observations=arrays.get("next_observations"), behavior_log_probs=arrays.get("behavior_log_probs"),
        action_probs=arrays.get("action_probs"), action_masks=arrays.get("action_masks"), extras=extras,
        metadata=metadata)
    if starts is None:
        return LoggedDataset.from_end_flags(**fields)
    return LoggedDataset(episode_starts=starts, **fields)


def write_npz(dataset: LoggedDataset, path: str | Path, compressed: bool = False) -> Path:
    """Write `dataset` in tether's `.npz` layout, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in dataset.metadata.items() if k != "path"}
    arrays: dict[str, Any] = {**dataset.arrays(),
                              "__action_space__": np.array(json.dumps(dataset.action_space.to_json())),
                              "__metadata__": np.array(json.dumps(meta, default=str))}
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return write_atomically(path, buffer.getvalue())
