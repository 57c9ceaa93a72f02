"""One entry point for every on-disk format: `load_dataset` and `save_dataset`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

from tether.data.dataset import ActionKind, ActionSpace, LoggedDataset, infer_action_space
from tether.data.errors import DatasetError
from tether.data.tabular import TabularSchema

Format = Literal["d4rl", "minari", "parquet", "csv", "npz"]
FORMATS: tuple[str, ...] = ("d4rl", "minari", "parquet", "csv", "npz")
_SUFFIXES = {".hdf5": "d4rl", ".h5": "d4rl", ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".npz": "npz"}


def detect_format(path: Path) -> str:
    """Guess a file's format from its suffix, or a directory's from its Minari `data/metadata.json`."""
    if path.is_dir():
        if (path / "data" / "metadata.json").exists() or (path / "metadata.json").exists():
            return "minari"
        raise DatasetError(str(path), "is a directory but not a Minari dataset",
                           "pass a file (.hdf5, .parquet, .csv, .npz) or a Minari dataset directory")
    if path.name == "main_data.hdf5" and (path.parent / "metadata.json").exists():
        return "minari"
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(str(path), f"unknown file type {path.suffix!r}",
                           f"use one of {sorted(_SUFFIXES)} or pass format= one of {FORMATS}")
    return fmt


def load_dataset(source: str | Path, *, format: Format | None = None, schema: TabularSchema | None = None,
                 action_space: ActionSpace | ActionKind | None = None) -> LoggedDataset:
    """Load a logged dataset from a file or a Minari dataset (built-in names: `tether.sources.load`).

    Args:
        source: a file (`.hdf5` D4RL, `.parquet`, `.csv`, `.npz`), or a Minari dataset directory or id.
        format: force a format instead of guessing from the suffix.
        schema: column names of a Parquet/CSV long-format log.
        action_space: declare the action space, or only its kind (`"discrete"` or `"continuous"`),
            overriding what the file stores or what the logged actions suggest.

    Raises:
        DatasetError: nothing readable at `source`, or the data are invalid.

    Example:
        A simulator's log written to Parquet and read back, propensities and masks included:

        >>> import tempfile
        >>> from tether.envs import fraud_review_queue
        >>> from tether.envs.fraud import behavior_policy
        >>> mdp = fraud_review_queue()
        >>> logs = mdp.make_logs(behavior_policy(mdp), n_episodes=50, seed=0)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_dataset(logs, f"{folder}/fraud.parquet")
        ...     again = load_dataset(path)
        >>> again.n_episodes, again.n_steps, again.fingerprint() == logs.fingerprint()
        (50, 1000, True)
    """
    path = Path(source).expanduser()
    if format is None and not path.exists():
        return with_action_space(_load_by_name(str(source)), action_space)
    fmt = format or detect_format(path)
    if fmt == "d4rl":
        from tether.data.d4rl import read_d4rl_hdf5

        return read_d4rl_hdf5(path, action_space=action_space)
    if fmt == "minari":
        from tether.data.minari_format import read_minari

        return with_action_space(read_minari(path.parent if path.name == "main_data.hdf5" else path), action_space)
    if fmt in ("parquet", "csv"):
        from tether.data.tabular import read_csv, read_parquet

        return (read_parquet if fmt == "parquet" else read_csv)(path, schema=schema, action_space=action_space)
    if fmt == "npz":
        from tether.data.npz import read_npz

        return read_npz(path, action_space=action_space)
    raise DatasetError("format", f"unknown format {fmt!r}", f"use one of {FORMATS}")


def with_action_space(dataset: LoggedDataset, action_space: ActionSpace | ActionKind | None) -> LoggedDataset:
    """`dataset` with a declared space, or re-inferred as the declared kind when it holds the other one."""
    if action_space is None or action_space == dataset.action_space or action_space == dataset.action_space.kind:
        return dataset
    if not isinstance(action_space, ActionSpace):
        action_space, note = infer_action_space(dataset.actions, action_space)
        dataset = replace(dataset, metadata={**dataset.metadata, "action_space_inferred": note})
    actions = dataset.actions.reshape(len(dataset.actions), -1)
    actions = actions[:, 0].astype("int64") if action_space.is_discrete else actions.astype("float32")
    return replace(dataset, actions=actions, action_space=action_space)


def _load_by_name(name: str) -> LoggedDataset:
    from tether.data.minari_format import minari_root, read_minari

    if (minari_root() / name / "data" / "metadata.json").exists():
        return read_minari(name)
    raise DatasetError(name, "is neither an existing path nor a Minari dataset id",
                       "check the path; built-in datasets and scenarios (tether datasets list) load with "
                       "tether.sources.load(name), as the command line does")


def save_dataset(dataset: LoggedDataset, path: str | Path, *, format: Format | None = None) -> Path:
    """Write `dataset` to `path` in `format` (guessed from the suffix; a suffix-less path is Minari)."""
    path = Path(path)
    fmt = format or (_SUFFIXES.get(path.suffix.lower()) if path.suffix else "minari")
    if fmt == "d4rl":
        from tether.data.d4rl import write_d4rl_hdf5

        return write_d4rl_hdf5(dataset, path)
    if fmt == "minari":
        from tether.data.minari_format import write_minari

        return write_minari(dataset, path.name, root=path.parent, overwrite=True)
    if fmt == "parquet":
        from tether.data.tabular import write_parquet

        return write_parquet(dataset, path)
    if fmt == "csv":
        from tether.data.tabular import write_csv

        return write_csv(dataset, path)
    if fmt == "npz":
        from tether.data.npz import write_npz

        return write_npz(dataset, path)
    raise DatasetError("format", f"unknown format {fmt!r}", f"use one of {FORMATS}")
