"""Data never chooses code: a dataset whose every metadata place names `module:Env` imports nothing in
`info`, `audit`, `train` (with its evaluators), `run`, or when tether builds an environment from it."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import make_dataset
from tether.cli.main import app
from tether.data import load_dataset, save_dataset
from tether.envs import UntrustedMetadataWarning, env_from_metadata

PROBE = "tether_probe_env"
ENV_ID = f"{PROBE}:Probe-v0"
FORMATS = ["npz", "parquet", "csv", "hdf5", "minari"]
runner = CliRunner()


def hostile_dataset(folder: Path, fmt: str) -> Path:
    """Logs naming the probe module as their env in every place the format keeps metadata."""
    dataset = make_dataset(tuple([12] * 30), obs_dim=3, action_dim=2)
    dataset.metadata.update(env_id=ENV_ID, env_entry_point=f"{PROBE}:Probe", behavior=f"{PROBE}:policy")
    if fmt != "minari":
        return save_dataset(dataset, folder / f"logs.{fmt}")
    from tether.data.minari_format import write_minari

    root = write_minari(dataset, "logs", root=folder / "minari")
    meta_path = root / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["env_spec"] = json.dumps({"id": ENV_ID, "entry_point": f"{PROBE}:Probe", "reward_threshold": None,
                                   "nondeterministic": False, "max_episode_steps": 12, "order_enforce": True,
                                   "disable_env_checker": False, "kwargs": {}, "additional_wrappers": [],
                                   "vector_entry_point": None})
    meta["eval_env_spec"] = meta["env_spec"]
    meta_path.write_text(json.dumps(meta))
    return root


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """An importable module that leaves a file behind when anything imports it."""
    marker = tmp_path / "IMPORTED"
    (tmp_path / f"{PROBE}.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield marker
    sys.modules.pop(PROBE, None)


def assert_not_imported(marker: Path) -> None:
    assert not marker.exists() and PROBE not in sys.modules, "a module named by the data was imported"


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_command_imports_a_module_the_data_names(fmt, tmp_path, probe):
    path = str(hostile_dataset(tmp_path, fmt))
    dataset = load_dataset(path)
    assert dataset.metadata.get("env_id") == ENV_ID  # the name survives as data, shown to the user
    with pytest.warns(UntrustedMetadataWarning, match=r"names 'tether_probe_env:Probe-v0'"):
        assert env_from_metadata(dataset.metadata) is None
    assert_not_imported(probe)

    for args in (["info", path], ["audit", path, "--json"],
                 ["train", "td3_plus_bc", "--dataset", path, "--steps", "4", "--steps-per-epoch", "2",
                  "--out", str(tmp_path / "train")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output + result.stderr
        assert_not_imported(probe)
    assert "no environment is built from data" in result.stderr  # train warned about the env it skipped

    config = tmp_path / "run.toml"
    config.write_text(f'data = "{path}"\ncandidates = ["td3_plus_bc"]\n[steps]\nbaseline = 4\ntd3_plus_bc = 4\n'
                      "fqe = 4\n[fqe]\nhidden_dims = [8]\nn_heads = 2\n")
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output + result.stderr
    assert_not_imported(probe)


def test_a_registered_plain_env_id_is_still_built(tmp_path):
    dataset = make_dataset((5,), obs_dim=4)
    dataset.metadata["env_id"] = "CartPole-v1"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = env_from_metadata(dataset.metadata)
    assert env is not None and env.spec is not None and env.spec.id == "CartPole-v1"


def test_an_explicit_env_is_the_users_choice(tmp_path):
    path = save_dataset(make_dataset(tuple([10] * 10), obs_dim=3, action_dim=2), tmp_path / "d.npz")
    result = runner.invoke(app, ["train", "bc", "--dataset", str(path), "--steps", "2", "--steps-per-epoch", "2",
                                 "--env", "NoSuchEnv-v9", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--env: 'NoSuchEnv-v9' cannot be made" in result.stderr
