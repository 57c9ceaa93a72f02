"""d3rlpy's evaluators (`tether.algos` has them under the same names and meanings)."""

from tether.algos.evaluators import (
    AverageValueEstimationEvaluator,
    CompareContinuousActionDiffEvaluator,
    CompareDiscreteActionMatchEvaluator,
    ContinuousActionDiffEvaluator,
    DiscountedSumOfAdvantageEvaluator,
    DiscreteActionMatchEvaluator,
    EnvironmentEvaluator,
    InitialStateValueEstimationEvaluator,
    SoftOPCEvaluator,
    TDErrorEvaluator,
)

__all__ = [
    "AverageValueEstimationEvaluator", "CompareContinuousActionDiffEvaluator", "CompareDiscreteActionMatchEvaluator",
    "ContinuousActionDiffEvaluator", "DiscountedSumOfAdvantageEvaluator", "DiscreteActionMatchEvaluator",
    "EnvironmentEvaluator", "InitialStateValueEstimationEvaluator", "SoftOPCEvaluator", "TDErrorEvaluator",
]
