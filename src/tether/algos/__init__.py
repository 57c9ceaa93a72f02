"""Offline learners on one JAX engine, with d3rlpy v2's API shape.

    learner = TD3PlusBCConfig().create(device="cpu")
    learner.fit(dataset, n_steps=100_000, evaluators={"environment": EnvironmentEvaluator(env)})

Example:
    Behaviour cloning recovers a known linear policy `a = s @ W`, and a saved learner reloads
    (msgpack, no pickle) with the same predictions:

    >>> import tempfile
    >>> import numpy as np
    >>> from tether.algos import BCConfig, load_learner
    >>> from tether.data import ActionSpace, LoggedDataset
    >>> rng = np.random.default_rng(0)
    >>> states = rng.uniform(-1, 1, (2000, 3)).astype(np.float32)
    >>> weights = np.array([[0.5], [-0.2], [0.3]], np.float32)
    >>> logs = LoggedDataset(
    ...     observations=states, actions=states @ weights, rewards=np.zeros(2000),
    ...     terminations=np.ones(2000, bool), truncations=np.zeros(2000, bool), episode_starts=np.arange(2000),
    ...     action_space=ActionSpace.continuous([-1.0], [1.0]))
    >>> learner = BCConfig(hidden_dims=(64, 64), batch_size=128).create(device="cpu")
    >>> history = learner.fit(logs, n_steps=1000, n_steps_per_epoch=500, show_progress=False)
    >>> [(epoch, metrics["step"]) for epoch, metrics in history]  # d3rlpy's [(epoch, metrics), ...]
    [(1, 500), (2, 1000)]
    >>> bool(history[-1][1]["loss"] < history[0][1]["loss"])
    True
    >>> test_states = rng.uniform(-1, 1, (200, 3)).astype(np.float32)
    >>> bool(np.abs(learner.predict(test_states) - test_states @ weights).max() < 0.1)
    True
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     again = load_learner(learner.save(f"{folder}/bc"))
    >>> np.array_equal(again.predict(test_states), learner.predict(test_states))
    True
"""

from tether.algos.airl import AIRLConfig
from tether.algos.bc import BCConfig
from tether.algos.bcq import BCQConfig
from tether.algos.config import LearnerConfig
from tether.algos.cql import CQLConfig
from tether.algos.dagger import DAggerConfig, DiscreteDAggerConfig
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.algos.discrete_bcq import DiscreteBCQConfig
from tether.algos.discrete_cql import DiscreteCQLConfig
from tether.algos.edac import EDACConfig
from tether.algos.engine import Learner, TrainingDivergedError
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
    TrueValueEvaluator,
)
from tether.algos.gail import GAILConfig
from tether.algos.iql import IQLConfig
from tether.algos.mopo import MOPOConfig
from tether.algos.morel import MOReLConfig
from tether.algos.ppo import PPOConfig
from tether.algos.rebrac import ReBRACConfig
from tether.algos.registry import algos_for, get_algo, get_interactive, load_learner, registered_algos
from tether.algos.sac_n import SACNConfig
from tether.algos.td3_plus_bc import TD3PlusBCConfig

__all__ = [
    "AIRLConfig", "AverageValueEstimationEvaluator", "BCConfig", "BCQConfig", "CQLConfig",
    "CompareContinuousActionDiffEvaluator", "CompareDiscreteActionMatchEvaluator", "ContinuousActionDiffEvaluator",
    "DAggerConfig", "DiscountedSumOfAdvantageEvaluator", "DiscreteActionMatchEvaluator", "DiscreteBCConfig",
    "DiscreteBCQConfig", "DiscreteCQLConfig", "DiscreteDAggerConfig", "EDACConfig", "EnvironmentEvaluator",
    "GAILConfig", "IQLConfig", "InitialStateValueEstimationEvaluator", "Learner", "LearnerConfig", "MOPOConfig",
    "MOReLConfig", "PPOConfig", "ReBRACConfig", "SACNConfig", "SoftOPCEvaluator", "TD3PlusBCConfig",
    "TDErrorEvaluator", "TrainingDivergedError", "TrueValueEvaluator", "algos_for", "get_algo", "get_interactive",
    "load_learner", "registered_algos"
]
