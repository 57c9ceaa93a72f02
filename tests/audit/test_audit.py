"""The audit's verdicts against what the ground truth supports, each case saying why."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tether.audit import THRESHOLDS, audit
from tether.cli.main import app
from tether.datasets import get_dataset
from tether.envs import scenario_logs

# scenario -> (verdict, why the ground truth supports it; measured with exact values in tests/envs)
SCENARIO_VERDICTS = {
    # CQL reaches 9.1 against the behaviour's 4.2 (optimum 9.4): the log supports offline RL
    "fraud": "offline-rl",
    # reviewers never deviate: no logged outcome for approve/decline on borderline cases; CQL and BCQ
    # only reproduce the habit (7.37 = BC), so cloning is all the log supports
    "fraud-narrow": "bc-only",
    # same log as `fraud` without propensities: offline RL is still supported, with a note on IS
    "fraud-unlogged-propensities": "offline-rl",
    # hidden responder type drives the logged choices: learners pick aggressive therapy for all
    # (true value -1.97) against the behaviour's 3.59, and no policy on the logged state beats it
    "treatment-confounded": "do-not-train",
    # clicks over 3 steps per session; retention comes later: learners fall below the behaviour
    "recommender-window": "do-not-train",
    # quality items are almost never shown: learners cannot learn that they pay (5.61 vs 5.63)
    "recommender-narrow": "bc-only",
    # whole sessions logged with a broad ranker: BCQ reaches 9.8 against the behaviour's 5.9
    "recommender": "offline-rl",
    # clinicians ignore the hidden type: learners reach 2.48 against the behaviour's -0.67
    "treatment": "offline-rl",
}


@pytest.mark.parametrize("name", list(SCENARIO_VERDICTS))
def test_verdicts_on_the_decision_simulators_match_the_ground_truth(name):
    data, _ = scenario_logs(name, None, seed=0)
    report = audit(data)
    assert report.verdict == SCENARIO_VERDICTS[name], [r.text for r in report.reasons]
    for reason in report.reasons:  # every reason names its diagnostic, value and threshold
        assert reason.diagnostic and reason.threshold and reason.text and reason.next_step
    if name == "fraud-unlogged-propensities":
        assert any(r.verdict == "note" and r.diagnostic == "propensities" for r in report.reasons)
    if name == "treatment-confounded":
        gap = report.diagnostics["reproducibility"]["hidden_information_gap"]
        assert gap > THRESHOLDS["hidden_information_gap"] > abs(
            audit(scenario_logs("treatment", None)[0]).diagnostics["reproducibility"]["hidden_information_gap"])


# D4RL's published results (offline-rl-anchors): constrained offline RL beats BC on random, medium and
# medium-replay data, while on expert data BC is already at the reference and nothing beats it.
@pytest.mark.parametrize("level, verdict", [("random", "offline-rl"), ("medium", "offline-rl"),
                                            ("medium-replay", "offline-rl"), ("expert", "bc-only")])
def test_verdicts_on_regenerated_d4rl_datasets(level, verdict):
    data, _ = get_dataset(f"hopper-{level}-v5", size=20_000, create_env=False)
    reference, _ = get_dataset("hopper-random-v5", size=20_000, create_env=False)
    report = audit(data, reference=reference)
    assert report.verdict == verdict, [r.text for r in report.reasons]
    saco = report.diagnostics["coverage"]["saco"]
    assert saco == pytest.approx(1.0) if level == "random" else saco > 0


def test_too_little_data_is_do_not_train():
    data, _ = scenario_logs("fraud", 10)
    report = audit(data)
    assert report.verdict == "do-not-train" and report.reasons[0].diagnostic == "size"


def test_drift_between_early_and_late_logs_is_noted():
    from tether.data import LoggedDataset

    early, _ = scenario_logs("fraud", 200, seed=1)
    late, _ = scenario_logs("fraud-narrow", 200, seed=2)
    report = audit(LoggedDataset.concatenate([early, late]))
    assert report.diagnostics["drift"]["return_shift_z"] > THRESHOLDS["drift_return_z"]  # 4.2 -> 7.4
    assert any(r.diagnostic == "drift" for r in report.reasons)


def test_cli_audit_prints_json_and_gates_pipelines():
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "treatment-confounded", "--json", "--fail-on", "do-not-train"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["verdict"] == "do-not-train"
    result = runner.invoke(app, ["audit", "fraud", "--fail-on", "do-not-train"])
    assert result.exit_code == 0 and "offline-rl" in result.stdout
    assert runner.invoke(app, ["audit", "fraud", "--fail-on", "maybe"]).exit_code == 2
    assert np.isfinite(json.loads(runner.invoke(app, ["audit", "fraud", "--json"]).stdout)["diagnostics"]["seconds"])


def test_saco_against_uniform_random_logs_separates_narrow_from_broad_logging():
    from tether.sources import resolve

    saco = {}
    for name in ("fraud", "fraud-narrow", "recommender", "recommender-narrow"):
        source = resolve(name, seed=0)
        data, reference = source.dataset, source.coverage_reference()
        assert reference.metadata["reference"] == "uniform random" and reference.n_episodes == data.n_episodes
        saco[name] = audit(data, reference=reference).diagnostics["coverage"]["saco"]
    # broad behaviour policies reach every state-action cell the uniform policy reaches; narrow ones about half
    assert saco["fraud"] == pytest.approx(1.0, abs=0.05) and saco["recommender"] == pytest.approx(1.0, abs=0.05)
    assert saco["fraud-narrow"] < 0.6 and saco["recommender-narrow"] < 0.7
