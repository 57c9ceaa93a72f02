"""Minari datasets on disk (HDF5 storage), read directly and written so `minari.load_dataset` opens them.

Layout (Minari 0.5, `hdf5_storage.py`): `<root>/<dataset_id>/data/metadata.json` and
`data/main_data.hdf5` with one group `episode_<i>` per episode holding `observations` (T + 1 rows:
the reset observation and every successor), `actions`, `rewards`, `terminations`, `truncations`
(T rows) and optional `infos/<key>` (T + 1 rows: the reset info, then each step's). tether stores
the behaviour log-probability of step t's action at `infos/action_log_probs[t + 1]` (row 0 is the
reset info and holds 0), and its own metadata under the `tether` key of `metadata.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np

from tether._env_ids import is_trusted_env_id
from tether.data._h5 import open_h5, read_h5_dataset
from tether.data.dataset import ActionSpace, LoggedDataset, metadata_entry, parse_metadata_json
from tether.data.errors import DatasetError


def minari_root() -> Path:
    """Minari's dataset root: `$MINARI_DATASETS_PATH` or `~/.minari/datasets`."""
    return Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))


def resolve_minari_path(source: str | Path) -> Path:
    """The `data/` directory of a Minari dataset given its directory, its data dir or its id."""
    path = Path(source).expanduser()
    for candidate in (path / "data", path, minari_root() / str(source) / "data"):
        if (candidate / "metadata.json").is_file():
            return candidate
    raise DatasetError(str(source), "is not a Minari dataset (no data/metadata.json found)",
                       f"pass the dataset directory or an id under {minari_root()}")


def _space_to_action_space(space: gym.Space) -> ActionSpace:
    if isinstance(space, gym.spaces.Discrete):
        if int(space.start) != 0:
            raise DatasetError("action_space", f"Discrete starts at {space.start}", "shift action ids to start at 0")
        return ActionSpace.discrete(int(space.n))
    if isinstance(space, gym.spaces.Box):
        return ActionSpace.continuous(space.low.ravel(), space.high.ravel())
    raise DatasetError("action_space", f"{type(space).__name__} actions are not supported",
                       "use a Box or Discrete action space")


def _episode_groups(handle: Any) -> list[str]:
    names = [k for k in handle.keys() if k.startswith("episode_")]
    return sorted(names, key=lambda k: int(k.split("_")[1]))  # numeric, not lexical, order


def read_minari(source: str | Path) -> LoggedDataset:
    """Read a Minari dataset (HDF5 storage) from its directory or id.

    Raises:
        DatasetError: no such dataset, an unsupported storage or space, or invalid arrays.
    """
    data_dir = resolve_minari_path(source)
    meta_path = data_dir / "metadata.json"
    meta = parse_metadata_json(meta_path.read_bytes(), str(meta_path))
    # Without stored spaces Minari would build the environment its env_spec names (an entry point the
    # data chose) to find them: refuse before handing the directory to the library.
    if "action_space" not in meta or "observation_space" not in meta:
        raise DatasetError(str(meta_path), "has no observation_space/action_space",
                           "re-create the dataset with Minari >= 0.5 (tether never builds the env_spec's environment)")
    action_space = _space_to_action_space(_stored_space(meta, "action_space", meta_path))
    if not isinstance(_stored_space(meta, "observation_space", meta_path), gym.spaces.Box):
        raise DatasetError("observation_space", "only Box observations are supported", "flatten observations first")
    if meta.get("data_format", "hdf5") != "hdf5":
        return _read_through_minari(data_dir, meta)
    columns: dict[str, list] = {k: [] for k in ("obs", "next_obs", "act", "rew", "term", "trunc", "logp")}
    with open_h5(data_dir / "main_data.hdf5") as handle:
        for name in _episode_groups(handle):
            group = handle[name]
            obs = read_h5_dataset(group["observations"], data_dir)
            steps = len(read_h5_dataset(group["rewards"], data_dir))
            if len(obs) != steps + 1:
                raise DatasetError("observations", f"has {len(obs)} rows for {steps} steps (expected {steps + 1})",
                                   "the file is corrupt: regenerate it", where=name)
            columns["obs"].append(obs[:-1].reshape(steps, -1))
            columns["next_obs"].append(obs[1:].reshape(steps, -1))
            columns["act"].append(read_h5_dataset(group["actions"], data_dir))
            columns["rew"].append(read_h5_dataset(group["rewards"], data_dir))
            columns["term"].append(read_h5_dataset(group["terminations"], data_dir))
            columns["trunc"].append(read_h5_dataset(group["truncations"], data_dir))
            if "infos" in group and "action_log_probs" in group["infos"]:
                columns["logp"].append(read_h5_dataset(group["infos"]["action_log_probs"], data_dir)[1:])
    if not columns["rew"]:
        raise DatasetError(str(data_dir), "holds no episodes", "write at least one episode")
    lengths = [len(r) for r in columns["rew"]]
    tether_meta = metadata_entry(meta, "tether", str(meta_path))
    metadata = {"source": "minari", "dataset_id": meta.get("dataset_id"), **tether_meta}
    for key in ("ref_min_score", "ref_max_score"):
        if key in meta:
            metadata[key] = meta[key]
    if meta.get("env_spec"):
        metadata.setdefault("env_id", _env_spec_id(meta["env_spec"], meta_path))
    return LoggedDataset(
        observations=np.concatenate(columns["obs"]), actions=np.concatenate(columns["act"]),
        rewards=np.concatenate(columns["rew"]), terminations=np.concatenate(columns["term"]),
        truncations=np.concatenate(columns["trunc"]),
        episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]),
        action_space=action_space, next_observations=np.concatenate(columns["next_obs"]),
        behavior_log_probs=np.concatenate(columns["logp"]) if len(columns["logp"]) == len(lengths) else None,
        metadata=metadata)


def _stored_space(meta: dict, key: str, meta_path: Path) -> gym.Space:
    """A space Minari serialised into `metadata.json`, or a `DatasetError` naming the key."""
    from minari.serialization import deserialize_space

    try:
        return deserialize_space(meta[key])
    except Exception as err:  # Minari raises whatever its JSON walk meets
        raise DatasetError(str(meta_path), f"its {key} cannot be read ({type(err).__name__}: {str(err)[:80]})",
                           "re-create the dataset with Minari >= 0.5") from None


def _env_spec_id(env_spec: object, meta_path: Path) -> str | None:
    """The `id` inside Minari's `env_spec` JSON string (only the id: entry points are never read)."""
    spec = parse_metadata_json(env_spec, str(meta_path), "env_spec") if isinstance(env_spec, str | bytes) else None
    value = spec.get("id") if spec else None
    return value if isinstance(value, str) else None


def _read_through_minari(data_dir: Path, meta: dict) -> LoggedDataset:
    """Any other Minari storage (arrow, ...), episode by episode through the `minari` library."""
    from minari import MinariDataset

    try:
        source = MinariDataset(data_dir)
        episodes = list(source.iterate_episodes())
    except Exception as err:  # minari raises many types for unreadable storage
        raise DatasetError(str(data_dir), f"Minari could not read this dataset ({err})",
                           "check the dataset is complete, or re-create it") from None
    if not episodes:
        raise DatasetError(str(data_dir), "holds no episodes", "write at least one episode")
    action_space = _space_to_action_space(source.action_space)
    lengths = [len(e.rewards) for e in episodes]
    obs = [np.asarray(e.observations) for e in episodes]
    return LoggedDataset(
        observations=np.concatenate([o[:-1].reshape(len(o) - 1, -1) for o in obs]),
        next_observations=np.concatenate([o[1:].reshape(len(o) - 1, -1) for o in obs]),
        actions=np.concatenate([np.asarray(e.actions) for e in episodes]),
        rewards=np.concatenate([np.asarray(e.rewards) for e in episodes]),
        terminations=np.concatenate([np.asarray(e.terminations) for e in episodes]),
        truncations=np.concatenate([np.asarray(e.truncations) for e in episodes]),
        episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]), action_space=action_space,
        metadata={"source": "minari", "dataset_id": meta.get("dataset_id"),
                  **metadata_entry(meta, "tether", str(data_dir / "metadata.json"))})


def _gym_action_space(space: ActionSpace) -> gym.Space:
    if space.is_discrete:
        return gym.spaces.Discrete(space.n_actions)
    return gym.spaces.Box(*space.bounds, dtype=np.float32)


def write_minari(dataset: LoggedDataset, dataset_id: str, root: str | Path | None = None,
                 overwrite: bool = False) -> Path:
    """Write `dataset` as a Minari HDF5 dataset at `<root>/<dataset_id>`, atomically.

    The dataset is built in a temporary sibling directory and renamed into place, so a killed
    writer never leaves a half-written dataset behind.

    Raises:
        DatasetError: the dataset lacks `next_observations` (Minari stores each episode's final
            observation) or the target exists and `overwrite` is False.
    """
    from minari.dataset.minari_storage import MinariStorage

    if dataset.next_observations is None:
        raise DatasetError("next_observations", "are needed: Minari stores every episode's final observation",
                           "log next observations (or write Parquet/NPZ, which do not need them)")
    inside = np.ones(dataset.n_steps, bool)
    inside[dataset.episode_ends - 1] = False
    mismatch = np.flatnonzero(inside[:-1] & np.any(dataset.next_observations[:-1] != dataset.observations[1:], axis=1))
    if len(mismatch):
        raise DatasetError("next_observations", "differ from the following step's observation inside an episode, "
                           "which Minari's layout cannot represent", "write Parquet, NPZ or D4RL HDF5 instead",
                           where=f"row {int(mismatch[0])}")
    target = Path(root or minari_root()) / dataset_id
    if target.exists() and not overwrite:
        raise DatasetError(str(target), "already exists", "pass overwrite=True or choose another dataset_id")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp", dir=target.parent))
    try:
        _write_minari_data(dataset, dataset_id, staging / "data", MinariStorage)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_minari_data(dataset: LoggedDataset, dataset_id: str, data_dir: Path, storage_cls: Any) -> None:
    obs_dim = dataset.observation_dim
    observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    env_spec = None
    if is_trusted_env_id(dataset.metadata.get("env_id")):  # gym.spec would import a `module:` id's module
        env_spec = gym.spec(dataset.metadata["env_id"])
    storage = storage_cls.new(data_dir, observation_space=observation_space,
                              action_space=_gym_action_space(dataset.action_space), env_spec=env_spec)
    with open_h5(data_dir / "main_data.hdf5", "a") as handle:
        for episode in dataset.episodes():
            group = handle.create_group(f"episode_{episode.index}")
            group.attrs["id"] = episode.index
            group.attrs["total_steps"] = len(episode)
            final = cast(np.ndarray, episode.next_observations)[-1:]  # write_minari checked they exist
            group.create_dataset("observations", data=np.concatenate([episode.observations, final]))
            group.create_dataset("actions", data=episode.actions)
            group.create_dataset("rewards", data=episode.rewards)
            s, e = int(dataset.episode_starts[episode.index]), int(dataset.episode_ends[episode.index])
            group.create_dataset("terminations", data=dataset.terminations[s:e])
            group.create_dataset("truncations", data=dataset.truncations[s:e])
            if dataset.behavior_log_probs is not None:
                logp = dataset.behavior_log_probs[s:e]
                group.create_group("infos").create_dataset("action_log_probs", data=np.concatenate([[0.0], logp]))
    import minari

    size_mb = round((data_dir / "main_data.hdf5").stat().st_size / 2**20, 1)
    meta: dict[str, Any] = {"dataset_id": dataset_id, "minari_version": minari.__version__,
                            "dataset_size": size_mb, "algorithm_name": str(dataset.metadata.get("algorithm", "")),
                            "total_steps": dataset.n_steps, "total_episodes": dataset.n_episodes,
                            "tether": json.loads(json.dumps(dataset.metadata, default=str))}
    for key in ("ref_min_score", "ref_max_score"):
        if key in dataset.metadata:
            meta[key] = float(dataset.metadata[key])
    storage.update_metadata(meta)
