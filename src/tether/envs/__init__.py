"""Environments: Gymnasium MuJoCo tasks for regenerated datasets, and logged-decision simulators with
known ground truth (fraud-review queue, treatment course, recommender session, classic control)."""

from tether.envs.classic import CLASSIC_TASKS, make_classic_logs, monte_carlo_value
from tether.envs.finite import DecisionEnv, FiniteMDP
from tether.envs.fraud import fraud_review_queue
from tether.envs.mujoco import MUJOCO_TASKS, MujocoTask, get_task, make_env
from tether.envs.recommender import recommender_session
from tether.envs.scenarios import SCENARIOS, Scenario, get_scenario, scenario_logs
from tether.envs.treatment import treatment_course
from tether.envs.trusted import UntrustedMetadataWarning, env_from_metadata, env_id_from_metadata

__all__ = ["CLASSIC_TASKS", "DecisionEnv", "FiniteMDP", "MUJOCO_TASKS", "MujocoTask", "SCENARIOS", "Scenario",
           "fraud_review_queue", "get_scenario", "get_task", "make_classic_logs", "make_env", "monte_carlo_value",
           "recommender_session", "scenario_logs", "treatment_course", "UntrustedMetadataWarning", "env_from_metadata",
           "env_id_from_metadata"]
