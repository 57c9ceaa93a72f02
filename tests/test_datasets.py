"""Built-in D4RL-style datasets: recipes, log-probabilities, normalisation, caching and killed runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tether import datasets
from tether.data import DatasetError
from tether.zoo.registry import task_zoo


def _check_log_probs(ds, policy):
    actions = ds.actions.astype(np.float64)
    ok = np.all(np.abs(actions) < 0.999, axis=1)  # atanh is ill-conditioned at the bounds
    mean, log_std = policy.distribution(ds.observations[ok])
    expected = policy.log_prob_pre_tanh(np.arctanh(actions[ok]), mean, log_std)
    np.testing.assert_allclose(ds.behavior_log_probs[ok], expected, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("level", ["random", "medium", "expert", "medium-expert", "medium-replay"])
def test_recipes_at_small_sizes(with_fake_zoo, level):
    ds = datasets.generate(f"hopper-{level}-v5", size=1500, seed=3)
    assert ds.n_steps == 1500 and ds.observation_dim == 11
    assert ds.next_observations is not None and ds.behavior_log_probs is not None
    assert np.all(ds.terminations | ds.truncations)[()] is not None
    ends = ds.episode_ends - 1
    assert np.all(ds.terminations[ends] | ds.truncations[ends])
    zoo = task_zoo("hopper")
    assert ds.metadata["ref_min_score"] == zoo.ref_min_score
    if level == "random":
        np.testing.assert_allclose(ds.behavior_log_probs, -3 * np.log(2.0))
    elif level in ("medium", "expert"):
        _check_log_probs(ds, zoo.policy(level))
        assert ds.metadata["policy_step"] == zoo.entry[level]["step"]
    elif level == "medium-expert":
        assert ds.metadata["combined_from"] is not None
        first_half = ds.select_episodes(np.flatnonzero(ds.episode_starts < 750))
        _check_log_probs(first_half, zoo.policy("medium"))
    else:
        assert [p for p, _ in ds.metadata["replay_schedule"]] == ["random", "step_1000", "step_2000"]


def test_generation_is_reproducible(with_fake_zoo):
    a = datasets.generate("hopper-medium-v5", size=800, seed=1)
    b = datasets.generate("hopper-medium-v5", size=800, seed=1, n_envs=3)
    c = datasets.generate("hopper-medium-v5", size=800, seed=2)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_normalized_score_uses_zoo_for_v5_and_d4rl_for_v2(with_fake_zoo):
    zoo = task_zoo("hopper")
    assert datasets.normalized_score("hopper-medium-v5", zoo.ref_min_score) == pytest.approx(0.0)
    assert datasets.normalized_score("hopper-medium-v5", zoo.ref_max_score) == pytest.approx(100.0)
    assert datasets.normalized_score("hopper-medium-v2", 3234.3) == pytest.approx(100.0)
    assert datasets.normalized_score("halfcheetah-medium-v2", -280.178953) == pytest.approx(0.0)


def test_cache_generates_once_and_regenerates_when_zoo_changes(with_fake_zoo, monkeypatch):
    first, env = datasets.get_dataset("hopper-medium-v5", size=600)
    assert env is not None and env.spec.id == "Hopper-v5"

    def fail(*args, **kwargs):
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr(datasets, "generate", fail)
    second, _ = datasets.get_dataset("hopper-medium-v5", size=600, create_env=False)
    assert second.fingerprint() == first.fingerprint()
    monkeypatch.setattr(datasets, "_expected_sha", lambda name: "other-weights")
    with pytest.raises(AssertionError, match="should have come from the cache"):
        datasets.get_dataset("hopper-medium-v5", size=600, create_env=False)


_CHILD = """
import sys
from tether import datasets
ds, _ = datasets.get_dataset(sys.argv[1], size=int(sys.argv[2]), create_env=False)
print(ds.fingerprint(), ds.metadata["generation_seconds"], flush=True)
"""


def _child(name, size):
    return subprocess.Popen([sys.executable, "-c", _CHILD, name, str(size)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ})


def test_killed_generation_never_leaves_a_loadable_dataset(with_fake_zoo):
    root = datasets.tether_home() / "datasets"
    proc = _child("hopper-random-v5", 30_000)
    time.sleep(4.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    target = root / "size30000-seed0" / "hopper-random-v5"
    assert not (target / "data" / "metadata.json").exists()  # nothing half-written is ever in place
    (target.parent / ".hopper-random-v5.tmpjunk" / "data").mkdir(parents=True, exist_ok=True)  # a staging leftover
    ds, _ = datasets.get_dataset("hopper-random-v5", size=2000, create_env=False)
    assert ds.n_steps == 2000


def test_two_processes_generate_once_and_agree(with_fake_zoo):
    procs = [_child("hopper-random-v5", 3000) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1]  # same fingerprint and the same generation record: one generator


def test_d4rl_v2_names_explain_where_the_file_goes(tmp_path):
    with pytest.raises(DatasetError, match=r"hopper_medium-v2.hdf5 .* never downloads .* `hopper-medium-v5` instead"):
        datasets.get_d4rl("hopper-medium-v2")


def test_d4rl_v2_file_is_paired_with_v5_env_and_d4rl_scores(tmp_path):
    from tests.data.test_formats import _write_d4rl_by_hand

    path = datasets.Path(os.environ["D4RL_DATASET_DIR"]) / "hopper_medium-v2.hdf5"
    path.parent.mkdir(parents=True)
    _write_d4rl_by_hand(path)
    ds, env = datasets.get_d4rl("hopper-medium-v2")
    assert env.spec.id == "Hopper-v5"
    assert ds.metadata["ref_max_score"] == 3234.3 and ds.metadata["name"] == "hopper-medium-v2"


def test_unknown_names_are_refused():
    with pytest.raises(DatasetError, match="is not a built-in dataset name"):
        datasets.get_dataset("hopper-mediocre-v5")
    assert len(datasets.dataset_names()) == 15
    assert json.dumps(datasets.dataset_names())
