"""The shipped zoo: `manifest.json` plus policy snapshots under `weights/<task>/`.

The manifest records, per task, how the snapshots were trained (the exact command), every shipped
snapshot with its evaluated return, which snapshot is `medium` and which `expert` (and the rule
that chose them), the training schedule that `medium-replay` reproduces, and the task's reference
scores (uniform-random and expert returns over 100 episodes).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tether.zoo.policy import ZooPolicy

PACKAGE_ZOO = Path(__file__).parent


def zoo_dir() -> Path:
    """The zoo in use: `$TETHER_ZOO_DIR` if set (tests, custom zoos), else the one shipped with tether."""
    return Path(os.environ.get("TETHER_ZOO_DIR", PACKAGE_ZOO))


@dataclass(frozen=True)
class TaskZoo:
    """One task's entry in the manifest."""

    task: str
    entry: dict[str, Any]
    root: Path

    def snapshot_path(self, step: int) -> Path:
        for snapshot in self.entry["snapshots"]:
            if snapshot["step"] == step:
                return self.root / snapshot["file"]
        raise KeyError(f"{self.task} has no shipped snapshot at step {step}")

    def policy(self, level: str) -> ZooPolicy:
        """The `medium` or `expert` policy, or `step_<n>` for any shipped snapshot."""
        step = int(level.removeprefix("step_")) if level.startswith("step_") else self.entry[level]["step"]
        return _load_policy(str(self.snapshot_path(step)))

    def policy_sha256(self, level: str) -> str:
        step = int(level.removeprefix("step_")) if level.startswith("step_") else self.entry[level]["step"]
        return hashlib.sha256(self.snapshot_path(step).read_bytes()).hexdigest()

    @property
    def ref_min_score(self) -> float:
        return float(self.entry["ref_min_score"])

    @property
    def ref_max_score(self) -> float:
        return float(self.entry["ref_max_score"])

    def replay_schedule(self) -> list[tuple[str, float]]:
        """`(policy, share of steps)` pairs that reproduce the training run up to the medium snapshot.

        The run first took `warmup_steps` uniform-random actions, then acted with the policy being
        trained; the snapshot saved at step `s` stands for the interval that produced it,
        `[s - eval_interval, s)`, so the schedule covers exactly the steps up to the medium snapshot.
        """
        training = self.entry["training"]
        medium_step = self.entry["medium"]["step"]
        warmup, interval = training["warmup_steps"], training["eval_interval"]
        pieces: list[tuple[str, float]] = [("random", float(min(warmup, medium_step)))]
        for snapshot in self.entry["snapshots"]:
            step = snapshot["step"]
            if step > medium_step:
                break
            begin = max(step - interval, warmup)
            if step > begin:
                pieces.append((f"step_{step}", float(step - begin)))
        total = sum(share for _, share in pieces)
        return [(name, share / total) for name, share in pieces]


@lru_cache(maxsize=32)
def _load_policy(path: str) -> ZooPolicy:
    return ZooPolicy.load(path)


def load_manifest(root: Path | None = None) -> dict[str, Any]:
    root = root or zoo_dir()
    path = root / "manifest.json"
    if not path.exists():
        return {"tasks": {}}
    return json.loads(path.read_text())


def task_zoo(task: str) -> TaskZoo:
    """The zoo entry of a task; a clear error if the zoo has none (with the command that trains it)."""
    root = zoo_dir()
    tasks = load_manifest(root)["tasks"]
    if task not in tasks:
        raise LookupError(
            f"the behaviour-policy zoo at {root} has no policies for {task!r} (it has: {sorted(tasks) or 'none'}). "
            f"Train them with `python -m tether.zoo.train {task} --run-dir runs/zoo/{task}` then "
            f"`python -m tether.zoo.build`, or use the random level, which needs no policy")
    return TaskZoo(task, tasks[task], root)
