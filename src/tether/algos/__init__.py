"""Offline learners on one JAX engine, with d3rlpy v2's API shape.

    learner = TD3PlusBCConfig().create(device="cpu")
    learner.fit(dataset, n_steps=100_000, evaluators={"environment": EnvironmentEvaluator(env)})
"""

from tether.algos.base import LearnerConfig, get_algo, registered_algos
from tether.algos.bc import BCConfig
from tether.algos.bcq import BCQConfig
from tether.algos.cql import CQLConfig
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.algos.discrete_bcq import DiscreteBCQConfig
from tether.algos.discrete_cql import DiscreteCQLConfig
from tether.algos.engine import Learner, TrainingDivergedError
from tether.algos.evaluators import (
    AverageValueEstimationEvaluator,
    ContinuousActionDiffEvaluator,
    DiscreteActionMatchEvaluator,
    EnvironmentEvaluator,
    InitialStateValueEstimationEvaluator,
    TDErrorEvaluator,
    TrueValueEvaluator,
)
from tether.algos.iql import IQLConfig
from tether.algos.td3_plus_bc import TD3PlusBCConfig

load_learner = Learner.load

__all__ = [
    "AverageValueEstimationEvaluator", "BCConfig", "BCQConfig", "CQLConfig", "ContinuousActionDiffEvaluator",
    "DiscreteActionMatchEvaluator", "DiscreteBCConfig", "DiscreteBCQConfig", "DiscreteCQLConfig",
    "EnvironmentEvaluator", "IQLConfig", "InitialStateValueEstimationEvaluator", "Learner", "LearnerConfig",
    "TD3PlusBCConfig", "TDErrorEvaluator", "TrainingDivergedError", "TrueValueEvaluator", "get_algo", "load_learner",
    "registered_algos",
]
