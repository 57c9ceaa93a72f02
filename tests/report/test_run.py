"""`tether run` end to end: the gate against ground truth on the decision simulators, every memo section
filled from real numbers on halfcheetah-medium-v5 at a tiny budget, resume, and the HTML memo rendered
in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import isolate_homes
from tether.algos import load_learner
from tether.cli.main import app
from tether.envs import get_scenario
from tether.report.memo import write_memo
from tether.workflow import RunConfig, load_data, run

RUN_MODULE = import_module("tether.workflow.run")  # (the package's `run` is the function of that name)
SMALL = {"hidden_dims": [64, 64]}
SIMULATOR = {"steps": {"baseline": 3000, "discrete_cql": 3000, "discrete_bcq": 3000, "fqe": 6000},
             "hyperparameters": {"discrete_cql": {**SMALL, "alpha": 0.1, "target_update_interval": 100},
                                 "discrete_bcq": {**SMALL, "target_update_interval": 100}, "discrete_bc": SMALL},
             "fqe": SMALL}
SECTIONS = ["Decision", "Data and audit", "The behaviour-cloning baseline", "Did any candidate improve",
            "Training stability", "Where the candidates leave the data", "Evidence required before use",
            "Reproduce"]


def test_go_where_a_candidate_truly_beats_the_behaviour_policy_with_support(tmp_path):
    results = run(RunConfig(data="fraud", size=400, **SIMULATOR), tmp_path, log=lambda m: None)
    write_memo(results, tmp_path)
    decisions = {name: d.decision for name, d in results.decisions.items()}
    truth = {name: e.truth.discounted for name, e in results.evaluation.items()}
    behaviour = get_scenario("fraud").behavior_value(gamma=0.99)
    assert decisions["discrete_cql"] == "go", results.decisions["discrete_cql"].reasons
    assert truth["discrete_cql"] > truth["discrete_bc"] > behaviour  # BC copies the habit, better than exploring
    # BCQ at its 0.3 threshold only reproduces the habit: not better than BC, so not "go"
    assert decisions["discrete_bcq"] != "go" and truth["discrete_bcq"] == pytest.approx(truth["discrete_bc"])
    memo = (tmp_path / "memo.md").read_text()
    assert "Benchmark truth, and why it is not production proof" in memo
    assert "| discrete_bc (baseline) | **" in memo  # the baseline is judged too
    # the candidate that passed comes with its greedy policy as ONNX, named in the memo, equal to predict
    assert results.exports["discrete_cql"].path == "learners/discrete_cql/policy.onnx"
    assert "`learners/discrete_cql/policy.onnx`" in memo
    ort = pytest.importorskip("onnxruntime")
    data = load_data(RunConfig(data="fraud", size=400, **SIMULATOR)).dataset
    learner = load_learner(tmp_path / "learners" / "discrete_cql" / "model.tether")
    inputs = {"observations": data.observations.astype(np.float32)}
    if data.action_masks is not None:
        inputs["action_masks"] = data.action_masks
    exported = ort.InferenceSession(str(tmp_path / "learners" / "discrete_cql" / "policy.onnx")).run(None, inputs)[0]
    np.testing.assert_array_equal(exported, learner.predict(data.observations, action_masks=data.action_masks))


def test_no_go_on_a_confounded_log_where_a_naive_learner_claims_a_gain(tmp_path):
    results = run(RunConfig(data="treatment-confounded", size=400, **SIMULATOR), tmp_path, log=lambda m: None)
    assert results.audit.verdict == "do-not-train"
    assert all(d.decision == "no-go" for d in results.decisions.values())
    assert results.exports == {}  # nothing to test or serve
    scenario_behaviour = 3.589  # exact undiscounted value of the clinicians' policy (tests/envs)
    naive = [name for name in results.candidates
             if results.evaluation[name].truth.undiscounted < scenario_behaviour
             and results.decisions[name].improvements["FQE"][0] > 0]
    assert naive, "expected a learner whose offline estimate claims a gain while its true value is worse"


@pytest.fixture(scope="module")
def halfcheetah_run(tmp_path_factory):
    # a module fixture runs before the per-test home isolation (tests/conftest.py), so it isolates its own
    homes, out = tmp_path_factory.mktemp("homes"), tmp_path_factory.mktemp("run") / "halfcheetah"
    # three learners of three kinds (the baseline, a model-free and a model-based candidate), small networks:
    # the memo's sections, not the learners' quality, are under test
    config = RunConfig(data="halfcheetah-medium-v5", size=10_000, candidates=["td3_plus_bc", "mopo"],
                       steps={"baseline": 200, "td3_plus_bc": 100, "mopo": 50, "fqe": 200, "fqe_max": 200,
                              "model": 300},
                       hyperparameters={"bc": SMALL, "td3_plus_bc": SMALL,
                                        "mopo": {"model_max_steps": 300, "model_hidden_dims": [32, 32], **SMALL}},
                       fqe={"n_heads": 3, **SMALL}, model_evaluation=True)
    with pytest.MonkeyPatch.context() as patch:
        isolate_homes(patch, homes)
        patch.setattr(RUN_MODULE, "TRUTH_ROLLOUTS", 3)  # the memo's truth table, not its precision
        results = run(config, out, log=lambda m: None)
        write_memo(results, out)
        return results, out


def test_every_memo_section_is_filled_from_real_numbers(halfcheetah_run):
    results, out = halfcheetah_run
    memo = (out / "memo.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in memo
    assert "nan" not in memo.lower().replace("nans", "") and "None" not in memo
    names = {"bc", "td3_plus_bc", "mopo"}
    assert set(results.decisions) == names  # the baseline is judged too
    for name in names:
        fqe = results.evaluation[name].estimates["FQE"]
        assert re.search(rf"\| {name} \| FQE \| {re.escape(format(fqe.value, '.3g'))} \|", memo)
        assert (out / "learners" / name / "metrics.jsonl").exists()
        # the run fitted one dynamics ensemble: every policy has a model-based estimate and a model support check
        model_based = results.evaluation[name].estimates["MB"]
        assert re.search(rf"\| {name} \| MB \| {re.escape(format(model_based.value, '.3g'))} \|", memo)
        assert results.evaluation[name].model_support is not None
        assert not model_based.trusted  # shown as evidence, never acted on alone (its interval is uncalibrated)
    assert memo.count("  - dynamics model: ") == len(names) - 1  # each candidate's line (the baseline has none)
    assert (out / "evaluation" / "dynamics.tether").exists() and (out / "learners" / "mopo" / "dynamics.json").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["fingerprint"] == results.fingerprint and config["versions"]["jax"]
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results.to_json()))


def test_resume_reuses_finished_stages(halfcheetah_run, monkeypatch):
    results, out = halfcheetah_run
    monkeypatch.setattr(RUN_MODULE, "TRUTH_ROLLOUTS", 3)
    (out / "evaluation" / "td3_plus_bc.json").unlink()  # as if the run stopped before evaluating TD3+BC
    model_file = out / "evaluation" / "dynamics.tether"
    fitted_at = model_file.stat().st_mtime_ns
    resumed = run(RunConfig(), out, resume=True, log=lambda m: None)
    assert resumed.training == results.training
    as_stored = lambda evaluation: json.loads(json.dumps(evaluation.to_json()))  # noqa: E731
    assert as_stored(resumed.evaluation["mopo"]) == as_stored(results.evaluation["mopo"])
    assert (out / "evaluation" / "td3_plus_bc.json").exists()
    # the dynamics ensemble is not fitted again, and TD3+BC's model-based estimate comes out the same
    assert model_file.stat().st_mtime_ns == fitted_at
    model_based = as_stored(results.evaluation["td3_plus_bc"])["estimates"]["MB"]
    assert as_stored(resumed.evaluation["td3_plus_bc"])["estimates"]["MB"] == model_based


def test_cli_run_writes_the_memo_and_refuses_bad_input(tmp_path):
    runner = CliRunner()
    config = tmp_path / "run.toml"
    config.write_text('data = "fraud"\nsize = 60\nprofile = "quick"\n[steps]\nbaseline = 100\ndiscrete_cql = 100\n'
                      'discrete_bcq = 100\nfqe = 100\nfqe_max = 100\n[fqe]\nhidden_dims = [32, 32]\n')
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stdout
    assert (tmp_path / "out" / "memo.html").exists() and "gate for fraud" in result.stdout
    assert runner.invoke(app, ["run", "--data", "fraud", "--profile", "fast"]).exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('dataset = "fraud"\n')
    result = runner.invoke(app, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "unknown key 'dataset'" in result.stderr


def test_html_memo_renders_in_headless_chromium_without_console_errors(halfcheetah_run):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("Chromium is not installed (.ci/run installs it)")
    _, out = halfcheetah_run
    artifacts = Path(os.environ.get("TETHER_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "memo.png"
    shot.unlink(missing_ok=True)
    proc = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", "--window-size=1000,3000", f"--screenshot={shot}", (out / "memo.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert shot.exists() and shot.stat().st_size > 10_000
