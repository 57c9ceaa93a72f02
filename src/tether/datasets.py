"""Built-in D4RL-style datasets, regenerated locally from the behaviour-policy zoo (d3rlpy-style API).

    dataset, env = tether.datasets.get_dataset("halfcheetah-medium-v5")

Names follow D4RL with the Gymnasium env version: `<task>-<level>-v5` for task in halfcheetah,
hopper, walker2d and level in random, medium, medium-replay, medium-expert, expert. D4RL's own
`-v2` names are read from the user's local D4RL file (see `get_d4rl`).

Recipes:
- random: uniform actions on `[-1, 1]^d`.
- medium, expert: actions sampled from the stochastic zoo policy (as D4RL did).
- medium-expert: medium then expert, half the size each (D4RL: 1M + 1M).
- medium-replay: rollouts of the shipped snapshots along the learning curve up to medium, in the
  training schedule's proportions (the uniform warm-up, then each evaluation interval's snapshot);
  D4RL shipped the replay buffer itself, which is too large to ship here. Default size: the number
  of environment steps the training run took to reach the medium snapshot.

Generated datasets are cached as Minari datasets under `$TETHER_HOME/datasets` (default
`~/.cache/tether`), made once and reused. A file lock serialises concurrent generators, and data
are written to a staging directory renamed into place, so a killed run never leaves a dataset that
loads. A cached dataset made with other zoo weights is regenerated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from tether.data import DatasetError, LoggedDataset
from tether.envs import MUJOCO_TASKS, get_task, make_env
from tether.errors import ConfigError

LEVELS = ("random", "medium", "medium-replay", "medium-expert", "expert")
DEFAULT_SIZE = 1_000_000
RECIPE_VERSION = 2  # bump when a recipe changes: cached datasets are then regenerated
# 2: each env's policy product is a 1-row product, so data no longer depend on n_envs (floats move at 1e-7)


def tether_home() -> Path:
    """`$TETHER_HOME`, else `$XDG_CACHE_HOME/tether`, else `~/.cache/tether`."""
    if "TETHER_HOME" in os.environ:
        return Path(os.environ["TETHER_HOME"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tether"


def dataset_names() -> list[str]:
    """Every built-in `-v5` dataset name."""
    return [f"{task}-{level}-v5" for task in MUJOCO_TASKS for level in LEVELS]


def parse_name(name: str) -> tuple[str, str, str]:
    """`halfcheetah-medium-replay-v5` -> `("halfcheetah", "medium-replay", "v5")`."""
    task, _, rest = name.lower().partition("-")
    level, _, version = rest.rpartition("-")
    if task not in MUJOCO_TASKS or level not in LEVELS or version not in ("v5", "v2"):
        raise DatasetError(name, "is not a built-in dataset name",
                           f"use <task>-<level>-v5 with task in {sorted(MUJOCO_TASKS)} and level in {list(LEVELS)}")
    return task, level, version


def is_scenario(name: str) -> bool:
    """A logged-decision simulator scenario (tether.envs.scenarios), such as `fraud`."""
    from tether.envs.scenarios import SCENARIOS

    return name in SCENARIOS


def is_known_name(name: str) -> bool:
    """Whether `name` is a built-in dataset (`halfcheetah-medium-v5`, ...) or a simulator scenario."""
    if is_scenario(name):
        return True
    try:
        parse_name(name)
    except DatasetError:
        return False
    return True


def default_size(name: str) -> int:
    """The number of steps a built-in dataset has unless a size is asked for."""
    task, level, _ = parse_name(name)
    if level == "medium-expert":
        return 2 * DEFAULT_SIZE
    if level == "medium-replay":
        from tether.zoo.registry import task_zoo

        return int(task_zoo(task).entry["medium"]["step"])
    return DEFAULT_SIZE


def reference_scores(task_or_name: str) -> tuple[float, float]:
    """`(ref_min, ref_max)`: the zoo's 100-episode random and expert returns for v5; D4RL's for v2 names."""
    task = get_task(task_or_name)
    if task_or_name.endswith("-v2"):
        return task.d4rl_ref_min_score, task.d4rl_ref_max_score
    from tether.zoo.registry import task_zoo

    zoo = task_zoo(task.name)
    return zoo.ref_min_score, zoo.ref_max_score


def normalized_score(task_or_name: str, returns: float | np.ndarray) -> float | np.ndarray:
    """D4RL's normalisation on a 0-100 scale: `100 (R - ref_min) / (ref_max - ref_min)`."""
    low, high = reference_scores(task_or_name)
    return 100.0 * (np.asarray(returns) - low) / (high - low)


def generate(name: str, size: int | None = None, seed: int = 0, n_envs: int = 8,
             progress: Callable[[int], None] | None = None) -> LoggedDataset:
    """Generate a built-in dataset in memory (no cache): see the module docstring for the recipes."""
    from tether.zoo.collect import rollout
    from tether.zoo.registry import task_zoo

    task, level, _ = parse_name(name)
    size = size or default_size(name)
    kw: dict[str, Any] = {"n_envs": n_envs, "progress": progress}
    provenance: dict = {}
    if level == "random":
        data = rollout(task, None, size, seed=seed, **kw)
    elif level in ("medium", "expert"):
        zoo = task_zoo(task)
        data = rollout(task, zoo.policy(level), size, seed=seed, **kw)
        provenance = {"policy_step": zoo.entry[level]["step"]}
    elif level == "medium-expert":
        zoo = task_zoo(task)
        half = size // 2
        data = LoggedDataset.concatenate([rollout(task, zoo.policy("medium"), half, seed=seed, **kw),
                                          rollout(task, zoo.policy("expert"), size - half, seed=seed + 1, **kw)])
    else:  # medium-replay
        zoo = task_zoo(task)
        parts = []
        for k, (policy_name, share) in enumerate(zoo.replay_schedule()):
            steps = max(1, round(share * size))
            policy = None if policy_name == "random" else zoo.policy(policy_name)
            parts.append(rollout(task, policy, steps, seed=seed * 1000 + k, **kw))
        data = LoggedDataset.concatenate(parts)
        provenance = {"replay_schedule": zoo.replay_schedule()}
    sha = _expected_sha(name)
    if sha is not None:
        provenance["policy_sha256"] = sha
    low, high = (None, None)
    try:
        low, high = reference_scores(name)
    except LookupError:
        pass  # random level of a task with no zoo entry: no reference scores yet
    metadata = {**data.metadata, "name": name, "source": "tether-generated", "recipe_version": RECIPE_VERSION,
                "seed": seed, "size": size, **provenance}
    if low is not None:
        metadata.update(ref_min_score=low, ref_max_score=high)
    return dataclasses.replace(data, metadata=metadata)


def _cache_id(name: str, size: int, seed: int) -> str:
    if size == default_size(name) and seed == 0:
        return name
    return f"size{size}-seed{seed}/{name}"


def _expected_sha(name: str) -> str | None:
    """Hash of the zoo weights a dataset is generated from (None for random): the cache's staleness key."""
    from tether.zoo.registry import task_zoo

    task, level, _ = parse_name(name)
    if level == "random":
        return None
    zoo = task_zoo(task)
    if level in ("medium", "expert"):
        return zoo.policy_sha256(level)
    if level == "medium-expert":
        return zoo.policy_sha256("medium") + zoo.policy_sha256("expert")
    shas = ["random" if p == "random" else zoo.policy_sha256(p) for p, _ in zoo.replay_schedule()]
    return hashlib.sha256("".join(shas).encode()).hexdigest()


def check_size(size: object, field: str = "size") -> None:
    """Refuse a dataset size that is not a positive whole number (None means the default)."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(field, f"must be a positive whole number of steps (episodes for scenarios), got {size!r}",
                          "pass 1 or more, or leave it out for the default size")


def get_dataset(name: str, size: int | None = None, seed: int = 0, *, create_env: bool = True,
                progress: Callable[[int], None] | None = None) -> tuple[LoggedDataset, gym.Env | None]:
    """Return `(dataset, env)` for a built-in name, generating and caching it on first use.

    Args:
        name: `<task>-<level>-v5`, a D4RL `-v2` name (read from the local D4RL file), or a
            decision-simulator scenario such as `fraud` (see `tether.envs.scenarios`).
        size: number of steps (default: D4RL's, see `default_size`); episodes for scenarios.
        seed: generation seed.
        create_env: also make the matching Gymnasium v5 environment.
        progress: called with the number of new steps as generation advances.
    """
    from filelock import FileLock

    from tether.data.minari_format import read_minari, write_minari

    check_size(size, "size")
    if name.endswith("-v2"):
        return get_d4rl(name, create_env=create_env)
    if is_scenario(name):  # simulator logs: `size` counts episodes; generated in a moment, not cached
        from tether.envs.scenarios import get_scenario

        scenario = get_scenario(name)
        return scenario.logs(size, seed=seed), (scenario.env(seed) if create_env else None)
    task, _, _ = parse_name(name)
    size = size or default_size(name)
    cache_id = _cache_id(name, size, seed)
    root = tether_home() / "datasets"
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".locks" / (cache_id.replace("/", "__") + ".lock"))):
        target = root / cache_id
        dataset = None
        if (target / "data" / "metadata.json").exists():
            dataset = read_minari(target)
            stale = (dataset.metadata.get("recipe_version") != RECIPE_VERSION
                     or dataset.metadata.get("policy_sha256") != _expected_sha(name))
            if stale:
                dataset = None
        if dataset is None:
            for leftover in target.parent.glob(f".{target.name}.tmp*"):  # a killed run's staging dir
                shutil.rmtree(leftover, ignore_errors=True)
            started = time.perf_counter()
            generated = generate(name, size=size, seed=seed, progress=progress)
            generated.metadata["generation_seconds"] = round(time.perf_counter() - started, 1)
            write_minari(generated, cache_id, root=root, overwrite=True)
            dataset = read_minari(target)
    return dataset, (make_env(task) if create_env else None)


def get_d4rl(name: str, *, create_env: bool = True) -> tuple[LoggedDataset, gym.Env | None]:
    """d3rlpy's name: `-v5` names as `get_dataset`; D4RL `-v2` names from `~/.d4rl/datasets` (or
    `$D4RL_DATASET_DIR`), paired with the Gymnasium v5 env and D4RL's reference scores."""
    from tether.data.d4rl import d4rl_dataset_dir, d4rl_file_name, read_d4rl_hdf5

    if not name.endswith("-v2"):
        return get_dataset(name, create_env=create_env)
    task, level, _ = parse_name(name)
    path = d4rl_dataset_dir() / d4rl_file_name(name)
    if not path.exists():
        raise DatasetError(name, f"no local D4RL file at {path} (tether never downloads datasets)",
                           f"copy {path.name} there (or set D4RL_DATASET_DIR), or use the locally "
                           f"regenerated `{task}-{level}-v5` instead")
    info = get_task(task)
    dataset = read_d4rl_hdf5(path)
    dataset.metadata.update(name=name, env_id=info.env_id, ref_min_score=info.d4rl_ref_min_score,
                            ref_max_score=info.d4rl_ref_max_score)
    return dataset, (make_env(task) if create_env else None)
