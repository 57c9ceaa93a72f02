"""tether's importance-sampling and doubly robust estimators against two independent libraries on a fixed
fixture: Open Bandit Pipeline 0.4.1 on a bandit log, SCOPE-RL 0.2.1 on a trajectory log (same logs,
same target policies, same Q estimates; `bench/ope_peer_fixture.py` made the fixture and their values)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tether.data import ActionSpace, LoggedDataset
from tether.ope import evaluate_policy
from tether.ope import importance as imp
from tether.ope.policy import EvaluationPolicy

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "ope_peer_fixture.json").read_text())
TOLERANCE = 1e-7
# tether's name -> the peer's name for the same estimator
OBP_NAMES = {"IS": "IPW", "PDIS": "IPW", "WIS": "SNIPW", "WPDIS": "SNIPW", "DR": "DR", "WDR": "SNDR"}
SCOPE_RL_NAMES = {"IS": "TIS", "PDIS": "PDIS", "WIS": "SNTIS", "WPDIS": "SNPDIS", "DR": "DR", "WDR": "SNDR"}


def fixture_log(log: dict, steps_per_episode: int) -> tuple[LoggedDataset, dict[str, np.ndarray]]:
    """The fixture's log as a dataset (observation = row index, so a policy can look its row up) and the
    per-step inputs: target and behaviour log-probabilities of the logged actions, Q(s, a) and V(s)."""
    n = len(log["actions"])
    actions = np.asarray(log["actions"])
    rows = np.arange(n)
    ends = (rows + 1) % steps_per_episode == 0
    data = LoggedDataset(observations=rows[:, None].astype(np.float32), actions=actions,
                         rewards=np.asarray(log["rewards"]), terminations=ends, truncations=np.zeros(n, bool),
                         episode_starts=np.arange(0, n, steps_per_episode), action_space=ActionSpace.discrete(
                             log["n_actions"]))
    target, q_hat = np.asarray(log["target_probs"]), np.asarray(log["q_hat"])
    inputs = {"log_pi": np.log(target[rows, actions]), "log_b": np.log(np.asarray(log["pscore"])),
              "q_logged": q_hat[rows, actions], "v_policy": (target * q_hat).sum(1), "target": target}
    return data, inputs


@pytest.mark.parametrize("peer", ["obp", "scope-rl"])
def test_estimators_agree_with_an_independent_library(peer):
    values = FIXTURE["values"][peer]
    if peer == "obp":
        log, names, steps, gamma = FIXTURE["inputs"]["bandit"], OBP_NAMES, 1, 1.0
    else:
        log, names = FIXTURE["inputs"]["trajectories"], SCOPE_RL_NAMES
        steps, gamma = log["steps_per_episode"], log["gamma"]
    data, x = fixture_log(log, steps)
    table = imp.episode_table(data, x["log_pi"], x["log_b"], gamma, x["q_logged"], x["v_policy"])
    for ours, theirs in names.items():
        assert imp.ESTIMATORS[ours](table) == pytest.approx(values[theirs], rel=TOLERANCE, abs=TOLERANCE), ours


def test_evaluate_policy_reaches_the_same_values_from_a_policy_and_logged_propensities():
    """The whole path a user takes (a policy object, propensities as logged) gives SCOPE-RL's numbers."""
    log = FIXTURE["inputs"]["trajectories"]
    data, x = fixture_log(log, log["steps_per_episode"])
    policy = EvaluationPolicy("fixture", True, False, _probs=lambda obs, masks: x["target"][obs[:, 0].astype(int)],
                              n_actions=log["n_actions"])
    estimates = evaluate_policy(policy, data, gamma=log["gamma"], estimators=("IS", "PDIS", "WIS", "WPDIS"),
                                behavior=(x["log_b"], "logged", None), n_boot=20)
    for ours, estimate in estimates.items():
        assert estimate.value == pytest.approx(FIXTURE["values"]["scope-rl"][SCOPE_RL_NAMES[ours]], rel=TOLERANCE)
