"""Model-based evaluation against a closed form: on the narrow linear system the reward is the action, so a
constant policy's discounted value is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tests.algos.test_model_based import narrow_logs
from tether.dynamics import DynamicsConfig
from tether.ope.model_based import fit_evaluation_model, model_based_estimate

GAMMA = 0.95
LENGTH = 50


def constant(value: float):
    return lambda observations: np.full((len(observations), 1), value, np.float32)


@pytest.fixture(scope="module")
def fitted():
    logs = narrow_logs()
    config = DynamicsConfig(n_members=5, n_elites=3, hidden_dims=(64, 64), max_steps=3000, steps_per_check=500)
    return logs, fit_evaluation_model(logs, config)


def test_a_supported_policy_is_valued_by_the_closed_form(fitted):
    logs, model = fitted
    estimate = model_based_estimate(constant(0.1), logs, gamma=GAMMA, model=model)
    truth = 0.1 * (1 - GAMMA**LENGTH) / (1 - GAMMA)
    assert abs(estimate.value - truth) < 0.05 * truth
    assert estimate.interval[0] <= truth <= estimate.interval[1] and estimate.trusted


def test_a_policy_that_leaves_the_logs_is_flagged(fitted):
    logs, model = fitted
    estimate = model_based_estimate(constant(1.0), logs, gamma=GAMMA, model=model)
    assert estimate.diagnostics["unknown_share"] > 0.9 and not estimate.trusted
    assert "the model is guessing" in estimate.warnings[0]
