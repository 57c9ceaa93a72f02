"""d3rlpy's evaluators (`tether.algos` has them under the same names and meanings)."""

from tether.algos.evaluators import (
    AverageValueEstimationEvaluator,
    ContinuousActionDiffEvaluator,
    DiscreteActionMatchEvaluator,
    EnvironmentEvaluator,
    InitialStateValueEstimationEvaluator,
    TDErrorEvaluator,
)

__all__ = [
    "AverageValueEstimationEvaluator", "ContinuousActionDiffEvaluator", "DiscreteActionMatchEvaluator",
    "EnvironmentEvaluator", "InitialStateValueEstimationEvaluator", "TDErrorEvaluator",
]
