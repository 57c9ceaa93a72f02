"""A learned model of the logged dynamics (a Gaussian ensemble), shared by the model-based learners
(MOPO, MOReL) and model-based off-policy evaluation."""

from tether.dynamics.ensemble import (
    DynamicsModel,
    ModelStep,
    Prediction,
    aleatoric_uncertainty,
    disagreement,
    disagreement_at,
    ensemble_spread,
    init_dynamics,
    predict,
    sample_step,
)
from tether.dynamics.fit import DynamicsConfig, DynamicsData, DynamicsReport, fit_dynamics, holdout_split
from tether.dynamics.termination import rule_for

__all__ = [
    "DynamicsConfig", "DynamicsData", "DynamicsModel", "DynamicsReport", "ModelStep", "Prediction",
    "aleatoric_uncertainty", "disagreement", "disagreement_at", "ensemble_spread", "fit_dynamics", "holdout_split",
    "init_dynamics", "predict", "rule_for", "sample_step",
]
