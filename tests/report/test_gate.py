"""The gate's rules, one case each: what sends a policy to a guarded test, and what holds it back."""

from __future__ import annotations

import pytest

from tether.ope.evaluate import Estimate
from tether.ope.support import SupportReport
from tether.workflow.gate import decide

PASSED = SupportReport(True, 0.01, [{"region": 0, "share": 1.0, "off_support": 0.01, "passed": True}], "test")
FAILED = SupportReport(False, 0.4, [{"region": 3, "share": 0.2, "off_support": 0.4, "passed": False}], "test")


def fqe(value: float, trusted: bool = True) -> Estimate:
    return Estimate("FQE", value, (value - 0.5, value + 0.5), "test", "not used",
                    warnings=[] if trusted else ["FQE has not converged"])


def gains(value: float, behaviour: float = 1.0) -> dict:
    """The improvement and its interval, as `tether.ope.improvements` forms them (behaviour interval +-0.1)."""
    return {"FQE": (value - behaviour, value - 0.5 - (behaviour + 0.1), value + 0.5 - (behaviour - 0.1))}


@pytest.mark.parametrize(("verdict", "value", "bc_value", "trusted", "support", "baseline", "expected"), [
    ("offline-rl", 3.0, 2.0, True, PASSED, False, "go"),  # everything holds
    ("offline-rl", 3.0, 3.0, True, PASSED, False, "investigate"),  # matches BC: adds nothing over imitation
    ("offline-rl", 3.0, 2.0, False, PASSED, False, "investigate"),  # the only estimator fails its diagnostics
    ("offline-rl", 3.0, 2.0, True, FAILED, False, "investigate"),  # leaves the logged support
    ("offline-rl", 0.5, 0.2, True, PASSED, False, "no-go"),  # trusted and below the behaviour
    ("bc-only", 3.0, 2.0, True, PASSED, False, "investigate"),  # offline RL not allowed
    ("do-not-train", 3.0, 2.0, True, PASSED, False, "no-go"),
    ("bc-only", 3.0, None, True, PASSED, True, "go"),  # the baseline: bc-only allows it, nothing to beat
    ("offline-rl", 3.0, None, True, PASSED, True, "go"),
    ("do-not-train", 3.0, None, True, PASSED, True, "no-go"),
    ("bc-only", 1.2, None, True, PASSED, True, "investigate"),  # interval of the gain reaches below zero
])
def test_gate_rules(verdict, value, bc_value, trusted, support, baseline, expected):
    decision = decide("policy", verdict, 0.0, {"FQE": fqe(value, trusted)}, gains(value), bc_value, support, [],
                      baseline=baseline)
    assert decision.decision == expected, decision.reasons
    if expected == "go":
        assert decision.evidence and decision.unsafe_if  # the memo says why, and what would make it unsafe
    else:
        assert decision.reasons


def test_a_candidate_that_only_matches_the_baseline_is_told_so():
    decision = decide("cql", "offline-rl", 0.0, {"FQE": fqe(3.0)}, gains(3.0), 3.0, PASSED, [])
    assert any("does not beat BC" in reason for reason in decision.reasons)


def test_training_instability_is_a_no_go_whatever_the_estimates_say():
    decision = decide("cql", "offline-rl", 0.0, {"FQE": fqe(3.0)}, gains(3.0), 2.0, PASSED, ["value blow-up"])
    assert decision.decision == "no-go" and "training instability: value blow-up" in decision.reasons


def test_fqe_ceiling_defaults_to_four_times_its_steps_and_never_below_them():
    from tether.workflow import RunConfig

    assert RunConfig(data="fraud").steps_for("fqe_max") == 4 * RunConfig(data="fraud").steps_for("fqe")
    assert RunConfig(data="fraud", steps={"fqe": 300, "fqe_max": 900}).steps_for("fqe_max") == 900
    assert RunConfig(data="fraud", steps={"fqe": 300, "fqe_max": 100}).steps_for("fqe_max") == 300
