"""Every bad-input case gives a DatasetError naming the field, where, and the fix."""

from __future__ import annotations

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_dataset
from tether.data import ActionSpace, DatasetError, LoggedDataset, TabularSchema, load_dataset, save_dataset


def _fields(**overrides):
    n = 6
    base = dict(observations=np.zeros((n, 2)), actions=np.zeros((n, 1)), rewards=np.ones(n),
                terminations=[0, 0, 1, 0, 0, 1], truncations=np.zeros(n), episode_starts=[0, 3],
                action_space=ActionSpace.continuous([-1], [1]))
    base.update(overrides)
    return base


@pytest.mark.parametrize("overrides, message", [
    ({"observations": np.r_[np.zeros((4, 2)), [[np.nan, 0]], np.zeros((1, 2))]},
     r"observations: NaN value \(1 rows affected\) at row 4 \(episode 1, step 1\)\. Fix: drop or impute"),
    ({"rewards": [0, 0, np.inf, 0, 0, 0]}, r"rewards: infinite value .* at row 2 \(episode 0, step 2\)"),
    ({"actions": np.zeros((5, 1))}, r"actions: has 5 rows but rewards has 6\. Fix: give every step array one row"),
    ({"actions": np.r_[np.zeros((3, 1)), [[1.5]], np.zeros((2, 1))]},
     r"actions: dimension 0 value 1\.5 is outside the declared bounds \[-1, 1\] .* at row 3 .*Fix: clip or rescale"),
    ({"actions": [0, 1, 3, 0, 1, 2], "action_space": ActionSpace.discrete(3)},
     r"actions: value 3 is not in the declared set 0\.\.2 at row 2 .* Fix: map actions to ids 0\.\.n-1"),
    ({"actions": [0, 1, 0.5, 0, 1, 2], "action_space": ActionSpace.discrete(3)}, r"actions: value 0\.5 is not in"),
    ({"actions": [0, 1, 1, 0, 1, 2], "action_space": ActionSpace.discrete(3),
      "behavior_log_probs": np.array([np.log(0.5)] * 3 + [-np.inf] + [np.log(0.5)] * 2)},
     r"behavior_probs: propensity 0 is outside \(0, 1\] at row 3 \(episode 1, step 0\)"),
    ({"actions": [0, 1, 1, 0, 1, 2], "action_space": ActionSpace.discrete(3),
      "behavior_log_probs": np.log([0.5, 1.7, 1.0, 0.2, 0.5, 0.5])},
     r"behavior_probs: propensity 1\.7 is outside \(0, 1\] at row 1"),
    ({"rewards": [], "observations": np.zeros((0, 2)), "actions": np.zeros((0, 1)), "terminations": [],
      "truncations": [], "episode_starts": [0]}, r"rewards: the dataset has no steps"),
    ({"terminations": [0, 0, 0, 0, 0, 1]},
     r"episode 0 ends with neither flag set .* at row 2 \(episode 0, step 2\)\. Fix: set truncated=true"),
    ({"terminations": [0, 1, 0, 0, 0, 1], "episode_starts": [0, 3]},
     r"flagged as an episode end inside an episode at row 1"),
    ({"observations": [[0, 1], [2], [3, 4], [5, 6], [7, 8], [9, 0]]}, r"observations: cannot be read as float32"),
    ({"next_observations": np.zeros((6, 3))}, r"next_observations: shape \(6, 3\) differs"),
    ({"episode_starts": [0, 3, 3]}, r"episode_starts: must increase strictly"),
])
def test_bad_input_names_field_where_and_fix(overrides, message):
    with pytest.raises(DatasetError, match=message):
        LoggedDataset(**_fields(**overrides))


def test_action_probs_must_be_distributions():
    probs = np.full((6, 2), 0.5)
    probs[4] = [0.9, 0.9]
    with pytest.raises(DatasetError, match=r"action_probs: a row is not a probability distribution at row 4"):
        LoggedDataset(**_fields(actions=[0, 1, 0, 1, 0, 1], action_space=ActionSpace.discrete(2), action_probs=probs))


def test_parquet_shape_drift_and_missing_columns(tmp_path):
    table = pa.table({"episode_id": [0, 0, 1], "step": [0, 1, 0], "obs": [[0.0, 1.0], [1.0, 2.0], [3.0]],
                      "action": [0, 1, 1], "reward": [1.0, 0.0, 1.0], "terminated": [False, True, True],
                      "truncated": [False, False, False]})
    pq.write_table(table, tmp_path / "drift.parquet")
    with pytest.raises(DatasetError, match=r"obs: shape drift: row 2 has 1 values, row 0 has 2"):
        load_dataset(tmp_path / "drift.parquet")
    pq.write_table(table.drop(["reward"]).append_column("r", pa.array([1.0, 0, 1])).set_column(
        2, "obs", pa.array([[0.0], [1.0], [2.0]])), tmp_path / "renamed.parquet")
    with pytest.raises(DatasetError, match=r"reward: no such column .* Fix: .*TabularSchema\(reward='your_column'\)"):
        load_dataset(tmp_path / "renamed.parquet")
    ds = load_dataset(tmp_path / "renamed.parquet", schema=TabularSchema(reward="r"))
    assert ds.n_episodes == 2 and ds.action_space == ActionSpace.discrete(2)
    assert "action_space_inferred" in ds.metadata


def test_parquet_missing_steps_and_unsorted_rows(tmp_path):
    rows = {"episode_id": ["b", "a", "a", "b"], "step": [1, 1, 0, 0], "obs_0": [3.0, 1.0, 0.0, 2.0],
            "action": [0.1, 0.2, 0.3, 0.4], "reward": [1.0, 2.0, 3.0, 4.0],
            "terminated": [1, 1, 0, 0], "truncated": [0, 0, 0, 0]}
    pq.write_table(pa.table(rows), tmp_path / "shuffled.parquet")
    ds = load_dataset(tmp_path / "shuffled.parquet", action_space=ActionSpace.continuous([-1], [1]))
    np.testing.assert_array_equal(ds.observations[:, 0], [2.0, 3.0, 0.0, 1.0])  # episode b first (first seen)
    np.testing.assert_array_equal(ds.episode_returns(), [5.0, 5.0])
    rows["step"] = [2, 1, 0, 0]
    pq.write_table(pa.table(rows), tmp_path / "gap.parquet")
    with pytest.raises(DatasetError, match=r"step: episode 'b' jumps from step 0 to 2"):
        load_dataset(tmp_path / "gap.parquet")


def test_corrupt_and_truncated_files_give_clean_errors(tmp_path):
    ds = make_dataset((50, 50))
    for name in ("d.hdf5", "d.parquet", "d.npz"):
        path = save_dataset(ds, tmp_path / name)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(DatasetError, match=r"truncated or corrupt|cannot be read"):
            load_dataset(path)
    (tmp_path / "junk.hdf5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetError, match=r"junk.hdf5: is not a readable HDF5 file .* Fix: the file is truncated"):
        load_dataset(tmp_path / "junk.hdf5")


def test_d4rl_missing_key_and_npz_pickle_refused(tmp_path):
    with h5py.File(tmp_path / "nokey.hdf5", "w") as f:
        f.create_dataset("observations", data=np.zeros((3, 2)))
    with pytest.raises(DatasetError, match=r"actions: missing from nokey.hdf5"):
        load_dataset(tmp_path / "nokey.hdf5")
    np.savez(tmp_path / "obj.npz", observations=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match=r"pickled objects, which tether never loads"):
        load_dataset(tmp_path / "obj.npz")


def test_unknown_source_and_suffix(tmp_path):
    with pytest.raises(DatasetError, match=r"neither an existing path nor a Minari dataset id.*tether.sources.load"):
        load_dataset("no-such-thing")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DatasetError, match=r"unknown file type '.txt'"):
        load_dataset(tmp_path / "x.txt")


def test_action_mask_errors_and_successor_masks():
    base = dict(observations=np.zeros((4, 1)), actions=[0, 1, 2, 0], rewards=np.zeros(4), terminations=[0, 1, 0, 1],
                truncations=np.zeros(4), episode_starts=[0, 2], action_space=ActionSpace.discrete(3))
    masks = np.ones((4, 3), bool)
    masks[1, 1] = False
    with pytest.raises(DatasetError, match=r"action_masks: the logged action 1 is masked out .* at row 1"):
        LoggedDataset(**base, action_masks=masks)
    masks = np.ones((4, 3), bool)
    masks[2] = False
    with pytest.raises(DatasetError, match=r"action_masks: a state allows no action at all at row 2"):
        LoggedDataset(**base, action_masks=masks)
    masks = np.array([[1, 0, 1], [1, 1, 0], [1, 1, 1], [1, 0, 0]], bool)
    probs = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    with pytest.raises(DatasetError, match=r"action_probs: give probability to a masked action at row 0"):
        LoggedDataset(**base, action_masks=masks, action_probs=probs)
    ds = LoggedDataset(**base, action_masks=masks)
    tr = ds.transitions()
    np.testing.assert_array_equal(tr.next_action_masks[0], masks[1])  # inside an episode: the next step's mask
    assert tr.next_action_masks[1].all() and tr.next_action_masks[3].all()  # after an episode end: all allowed
    with pytest.raises(DatasetError, match=r"action_masks: are only defined for discrete actions"):
        LoggedDataset(**{**base, "actions": np.zeros((4, 1)), "action_space": ActionSpace.continuous([-1], [1])},
                      action_masks=masks)
