"""The zoo shipped with tether: files present, rules applied, and returns where the manifest says."""

from __future__ import annotations

import numpy as np
import pytest

from tether import datasets
from tether.zoo.registry import PACKAGE_ZOO, load_manifest

MANIFEST = load_manifest(PACKAGE_ZOO)
TASKS = sorted(MANIFEST["tasks"])


def test_the_zoo_ships_at_least_the_default_task():
    assert "halfcheetah" in TASKS


@pytest.mark.parametrize("task", TASKS)
def test_manifest_entries_are_consistent(task):
    entry = MANIFEST["tasks"][task]
    steps = [s["step"] for s in entry["snapshots"]]
    assert steps == sorted(steps) and entry["medium"]["step"] in steps and entry["expert"]["step"] in steps
    for snapshot in entry["snapshots"]:
        assert (PACKAGE_ZOO / snapshot["file"]).is_file()
    selection = {s["step"]: s["selection_return"] for s in entry["snapshots"]}
    assert selection[entry["expert"]["step"]] == max(selection.values())
    assert entry["ref_min_score"] < entry["medium"]["stochastic"]["return_mean"] < entry["ref_max_score"]
    assert entry["medium"]["step"] <= entry["expert"]["step"]
    assert "python -m tether.zoo.train" in entry["training"]["command"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("level", ["medium", "expert"])
def test_generated_returns_sit_where_the_manifest_says(task, level, monkeypatch):
    monkeypatch.delenv("TETHER_ZOO_DIR", raising=False)
    entry = MANIFEST["tasks"][task][level]["stochastic"]
    data = datasets.generate(f"{task}-{level}-v5", size=4000, seed=7)
    complete = data.select_episodes(np.flatnonzero(~data.truncations[data.episode_ends - 1]
                                                   | (data.episode_lengths == 1000)))
    mean = complete.episode_returns().mean()
    expected, spread = entry["return_mean"], entry["return_std"]
    assert abs(mean - expected) < 3 * spread + 0.05 * abs(expected), (
        f"{task}-{level}: generated mean return {mean:.1f}, manifest {expected:.1f} ± {spread:.1f}")
    low, high = MANIFEST["tasks"][task]["ref_min_score"], MANIFEST["tasks"][task]["ref_max_score"]
    np.testing.assert_allclose(datasets.normalized_score(f"{task}-{level}-v5", expected),
                               100 * (expected - low) / (high - low))
