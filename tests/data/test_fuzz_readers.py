"""Fuzzed readers: whatever bytes or metadata a file holds, loading returns a valid dataset or raises
`DatasetError` naming what is wrong; never another exception, and never a traceback for the user."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import make_dataset
from tether.data import DatasetError, LoggedDataset, load_dataset, save_dataset

FORMATS = {"npz": "log.npz", "parquet": "log.parquet", "csv": "log.csv", "hdf5": "log.hdf5"}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Originals(dict):
    def __repr__(self) -> str:  # hypothesis prints fixtures of a failing case: keep the bytes out of it
        return f"<originals of {sorted(self)}>"


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    """Each format's bytes for a small valid log with propensities (discrete, but continuous for D4RL's)."""
    folder = tmp_path_factory.mktemp("originals")
    discrete, continuous = make_dataset((6, 4, 5), obs_dim=3, discrete_n=3), make_dataset((6, 4, 5), obs_dim=3)
    return Originals({fmt: save_dataset(continuous if fmt == "hdf5" else discrete, folder / name).read_bytes()
                      for fmt, name in FORMATS.items()})


def load_or_refuse(path: Path) -> None:
    try:
        loaded = load_dataset(path)
    except DatasetError as err:
        assert str(err) and "Fix:" in str(err)
    else:
        assert isinstance(loaded, LoggedDataset) and loaded.n_steps > 0


damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.floats(0.0, 1.0), st.integers(1, 255)),
    st.tuples(st.just("overwrite"), st.floats(0.0, 1.0), st.binary(min_size=1, max_size=64)),
)


def damaged(data: bytes, how: tuple) -> bytes:
    at = int(how[1] * (len(data) - 1))
    if how[0] == "truncate":
        return data[:at]
    if how[0] == "flip":
        return data[:at] + bytes([data[at] ^ how[2]]) + data[at + 1 :]
    return data[:at] + how[2] + data[at + len(how[2]) :]


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(how=damage)
def test_damaged_files_load_or_are_refused_by_name(fmt, how, originals, tmp_path):
    path = tmp_path / FORMATS[fmt]
    path.write_bytes(damaged(originals[fmt], how))
    if fmt == "csv":  # the sidecar stays valid; the CSV's bytes are damaged
        path.with_name(path.name + ".tether.json").unlink(missing_ok=True)
    load_or_refuse(path)


json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)
metadata_text = st.one_of(st.text(max_size=40), json_values.map(json.dumps),
                          st.dictionaries(st.sampled_from(["action_space", "metadata", "extras_dtypes", "env_id"]),
                                          json_values, max_size=4).map(json.dumps))


@FUZZ
@given(text=metadata_text)
def test_any_csv_sidecar_loads_or_is_refused_by_name(text, tmp_path):
    path = save_dataset(make_dataset((6, 4), obs_dim=2, discrete_n=3), tmp_path / "log.csv")
    path.with_name(path.name + ".tether.json").write_text(text)
    load_or_refuse(path)


@FUZZ
@given(text=metadata_text)
def test_any_parquet_metadata_loads_or_is_refused_by_name(text, tmp_path):
    import pyarrow.parquet as pq

    path = save_dataset(make_dataset((6, 4), obs_dim=2, discrete_n=3), tmp_path / "log.parquet")
    pq.write_table(pq.read_table(path).replace_schema_metadata({"tether": text}), path)
    load_or_refuse(path)


@FUZZ
@given(metadata=metadata_text, space=metadata_text)
def test_any_npz_metadata_loads_or_is_refused_by_name(metadata, space, tmp_path):
    arrays = {"observations": np.zeros((5, 2), np.float32), "actions": np.array([0, 1, 2, 1, 0]),
              "rewards": np.arange(5, dtype=np.float32), "terminations": np.array([0, 0, 1, 0, 1], bool),
              "__metadata__": np.array(metadata), "__action_space__": np.array(space)}
    np.savez(tmp_path / "log.npz", **arrays)
    load_or_refuse(tmp_path / "log.npz")


@FUZZ
@given(text=metadata_text)
def test_any_d4rl_tether_json_loads_or_is_refused_by_name(text, tmp_path):
    import h5py

    assume("\x00" not in text)  # HDF5 strings cannot hold NUL, so no file can carry one
    path = save_dataset(make_dataset((6, 4), obs_dim=2, action_dim=2), tmp_path / "log.hdf5")
    with h5py.File(path, "a") as handle:
        del handle["metadata/tether_json"]
        handle.create_dataset("metadata/tether_json", data=text)
    load_or_refuse(path)


@pytest.fixture(scope="module")
def minari_original(tmp_path_factory) -> Path:
    from tether.data.minari_format import write_minari

    return write_minari(make_dataset((6, 4), obs_dim=2, discrete_n=3), "logs",
                        root=tmp_path_factory.mktemp("minari"))


@FUZZ
@given(edit=st.dictionaries(st.sampled_from(["action_space", "observation_space", "env_spec", "tether",
                                             "data_format", "ref_min_score"]), json_values, max_size=3),
       raw=st.one_of(st.none(), st.text(max_size=30)))
def test_any_minari_metadata_loads_or_is_refused_by_name(edit, raw, minari_original, tmp_path):
    root = tmp_path / "logs"
    shutil.copytree(minari_original, root, dirs_exist_ok=True)
    meta_path = root / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(raw if raw is not None else json.dumps({**meta, **edit}))
    load_or_refuse(root)


@FUZZ
@given(how=damage)
def test_damaged_minari_episodes_load_or_are_refused_by_name(how, minari_original, tmp_path):
    root = tmp_path / "logs"
    shutil.copytree(minari_original, root, dirs_exist_ok=True)
    data = root / "data" / "main_data.hdf5"
    data.write_bytes(damaged(data.read_bytes(), how))
    load_or_refuse(root)
