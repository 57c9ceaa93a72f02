"""The one place that turns what a user names as data into a `Source`.

A user can name a file in any supported format (`logs.parquet`, `hopper_medium-v2.hdf5`, ...), a
Minari dataset directory or id, a built-in dataset (`halfcheetah-medium-v5`, generated once and
cached), a local D4RL `-v2` name, or a decision-simulator scenario (`fraud`). `resolve` returns the
logged data, where they came from, and the truth a simulator knows about them. The command line, the
workflow, the Python API and `tether.d3rlpy` all call it; `tether.data` itself reads files only.

    source = resolve("fraud", with_truth=True)
    source.dataset, source.kind, source.truth.true_value(policy, gamma=0.99)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import gymnasium as gym

from tether import datasets
from tether._progress import StageProgress
from tether.data import LoggedDataset, load_dataset
from tether.data.dataset import ActionKind, ActionSpace
from tether.data.io import with_action_space
from tether.errors import ConfigError

SourceKind = Literal["file", "minari", "builtin", "d4rl", "scenario"]


@runtime_checkable
class ExactTruth(Protocol):
    """A simulator that knows any policy's exact value on the logged task (tether's scenarios)."""

    def true_value(self, policy: Any, gamma: float) -> float:
        """The exact expected discounted return of `policy` (a learner or a policy table)."""
        ...


Truth = ExactTruth | gym.Env  # exact values, or an environment to roll policies out in


@dataclass(frozen=True)
class Source:
    """Logged data and where they came from.

    Attributes:
        dataset: the logged data.
        name: what the user named (a path as given, a built-in name, a scenario).
        kind: `file`, `minari`, `builtin`, `d4rl` or `scenario`.
        location: the absolute path for files and Minari directories; the name otherwise.
        truth: a scenario (`ExactTruth`) or the task's environment (rollouts), when asked for and known.
        seed: the generation seed of built-in datasets and scenarios.
    """

    dataset: LoggedDataset
    name: str
    kind: SourceKind
    location: str
    truth: Truth | None = None
    seed: int = 0

    def coverage_reference(self) -> LoggedDataset | None:
        """The audit's SACo reference: uniform-random logs of a scenario (as many episodes), or the task's
        random dataset (up to 100k steps) for a built-in dataset; None for files."""
        if self.kind == "scenario":
            from tether.envs.scenarios import get_scenario

            return get_scenario(self.name).random_logs(self.dataset.n_episodes, seed=1)
        if self.kind == "builtin":
            task, _, _ = datasets.parse_name(self.name)
            return datasets.get_dataset(f"{task}-random-v5", size=min(self.dataset.n_steps, 100_000),
                                        create_env=False)[0]
        return None


def kind_of(name: str) -> SourceKind:
    """What `name` refers to (an existing path always wins over a built-in name)."""
    path = Path(name).expanduser()
    if path.exists():
        return "minari" if path.is_dir() else "file"
    if datasets.is_scenario(name):
        return "scenario"
    if datasets.is_known_name(name):
        return "d4rl" if name.endswith("-v2") else "builtin"
    return "minari"  # a Minari id under the Minari root, or nothing (load_dataset says which)


def resolve(name: str | Path, *, size: int | None = None, seed: int = 0,
            action_space: ActionSpace | ActionKind | None = None, with_truth: bool = False,
            show_progress: bool = False) -> Source:
    """The `Source` behind `name` (see the module docstring).

    Args:
        name: a path, a Minari id, a built-in dataset name or a scenario name.
        size: steps of a built-in dataset (episodes of a scenario); None for the default.
        seed: generation seed of built-in datasets and scenarios.
        action_space: declare the action space or its kind, overriding what the data suggest.
        with_truth: also build the simulator truth (a scenario, or the task's environment).
        show_progress: show generation progress (a bar, or plain lines off a terminal).

    Raises:
        DatasetError: nothing readable is at `name`, or the data are invalid.
        ConfigError: `size` is not a positive whole number.
    """
    text = str(name)
    kind = kind_of(text)
    datasets.check_size(size, "size")
    if kind in ("file", "minari"):
        if size is not None:
            raise ConfigError("size", f"applies to built-in datasets and scenarios, not to {text}",
                              "drop the size, or subsample the file yourself")
        path = Path(text).expanduser()
        location = str(path.resolve()) if path.exists() else text
        return Source(load_dataset(text, action_space=action_space), text, kind, location)
    if kind == "scenario":
        from tether.envs.scenarios import get_scenario

        scenario = get_scenario(text)
        logs = with_action_space(scenario.logs(size, seed=seed), action_space)
        return Source(logs, text, kind, text, scenario if with_truth else None, seed)
    total = size or (datasets.default_size(text) if kind == "builtin" else 0)
    with StageProgress(f"generating {text}", total, enabled=show_progress and kind == "builtin") as bar:
        if kind == "d4rl":
            dataset, env = datasets.get_d4rl(text, create_env=with_truth)
        else:
            dataset, env = datasets.get_dataset(text, size=size, seed=seed, create_env=with_truth,
                                                progress=bar.advance)
    return Source(with_action_space(dataset, action_space), text, kind, text, env, seed)


def load(name: str | Path, **options: Any) -> LoggedDataset:
    """The logged data behind any name `resolve` accepts (`options` as `resolve`'s)."""
    return resolve(name, **options).dataset
