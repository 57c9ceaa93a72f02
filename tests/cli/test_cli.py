"""The command line calls the public API and reports clearly."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.conftest import make_dataset
from tether.cli.main import app
from tether.data import save_dataset

runner = CliRunner()


def test_info_json_card_matches_the_dataset(tmp_path):
    ds = make_dataset((5, 7, 9), discrete_n=3)
    path = save_dataset(ds, tmp_path / "log.parquet")
    result = runner.invoke(app, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert card["steps"] == 21 and card["episodes"] == 3 and card["propensities_logged"]
    assert card["episode_length"]["max"] == 9.0
    assert abs(card["episode_return"]["mean"] - float(ds.episode_returns().mean())) < 1e-6
    assert sum(card["action_counts"]) == 21


def test_info_on_bad_data_fails_with_the_message(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"junk")
    result = runner.invoke(app, ["info", str(tmp_path / "bad.npz")])
    assert result.exit_code == 1  # a data error; usage errors exit 2
    assert "cannot be read as .npz" in result.output


def test_datasets_list_json_lists_every_name():
    result = runner.invoke(app, ["datasets", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    from tether.envs import SCENARIOS

    assert len(rows) == 15 + len(SCENARIOS)
    assert {r["name"] for r in rows} >= {"halfcheetah-medium-v5", "hopper-random-v5", "fraud", "treatment-confounded"}


def test_train_writes_a_loadable_model(tmp_path):
    from tether.algos import load_learner

    path = save_dataset(make_dataset(tuple([10] * 10), obs_dim=3, action_dim=2), tmp_path / "d.npz")
    result = runner.invoke(app, ["train", "bc", "--dataset", str(path), "--steps", "40", "--steps-per-epoch", "20",
                                 "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    learner = load_learner(tmp_path / "runs" / "bc" / "model.tether")
    assert learner.predict(make_dataset((3,), obs_dim=3).observations).shape == (3, 2)
    assert len((tmp_path / "runs" / "bc" / "metrics.jsonl").read_text().splitlines()) == 2


def test_export_writes_an_onnx_policy_that_acts_as_the_model(tmp_path):
    import numpy as np
    import pytest

    from tether.algos import BCConfig
    ort = pytest.importorskip("onnxruntime")

    data = make_dataset(tuple([10] * 10), obs_dim=3, action_dim=2)
    learner = BCConfig(hidden_dims=(8,), batch_size=16).create()
    learner.fit(data, n_steps=10, n_steps_per_epoch=10, seeds=[0, 1], show_progress=False)
    learner.save(tmp_path / "model.tether")
    result = runner.invoke(app, ["export", str(tmp_path / "model.tether"), "--out", str(tmp_path / "p.onnx"),
                                 "--seed-index", "1"])
    assert result.exit_code == 0, result.output
    exported = ort.InferenceSession(str(tmp_path / "p.onnx")).run(None, {"observations": data.observations[:4]})[0]
    np.testing.assert_allclose(exported, learner.predict(data.observations[:4])[1], atol=1e-5)
    result = runner.invoke(app, ["export", str(tmp_path / "model.tether"), "--seed-index", "2"])
    assert result.exit_code == 2 and "holds 2 seeds" in result.output
