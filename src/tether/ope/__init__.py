"""Offline policy evaluation: FQE, the importance-sampling and doubly robust family, intervals,
diagnostics, support checks and OPE-quality metrics."""

from tether.ope.behavior import BehaviorModel, fit_behavior_model
from tether.ope.evaluate import (
    THRESHOLDS,
    Comparison,
    Estimate,
    behavior_policy_of,
    behavior_value_interval,
    compare_policies,
    evaluate_policy,
    improvements,
)
from tether.ope.fqe import FQE, DiscreteFQE, FQEConfig, FQEEstimate
from tether.ope.metrics import coverage, normalized_absolute_error, regret_at_k, spearman
from tether.ope.policy import EvaluationPolicy, as_policy, table_policy
from tether.ope.support import SupportReport, state_regions, support_check

__all__ = ["FQE", "THRESHOLDS", "BehaviorModel", "Comparison", "DiscreteFQE", "Estimate", "EvaluationPolicy",
           "FQEConfig", "FQEEstimate", "SupportReport", "as_policy", "behavior_policy_of", "behavior_value_interval",
           "compare_policies", "coverage", "evaluate_policy", "fit_behavior_model", "improvements",
           "normalized_absolute_error", "regret_at_k", "spearman", "state_regions", "support_check", "table_policy"]
