"""Imitation with interaction: DAgger with any expert (a function, a zoo policy, an ONNX file, a simulator's
optimal policy, or a person labelling through a local web page), its label queue and its tasks; GAIL and
AIRL on a JAX PPO, and PPO retrained on a reward AIRL saved."""

from tether.algos.airl import AIRLConfig
from tether.algos.gail import GAILConfig
from tether.algos.ppo import PPOConfig
from tether.imitation.adversarial import load_policy
from tether.imitation.airl import SavedReward, train_airl, train_on_reward
from tether.imitation.dagger import DAggerResult, RoundRecord, acting_policy, current_queue, train_dagger
from tether.imitation.experts import (
    CallableExpert,
    Expert,
    HumanExpert,
    OnnxExpert,
    OptimalExpert,
    ZooExpert,
    checked_labels,
    expert_from_spec,
)
from tether.imitation.gail import train_gail
from tether.imitation.ppo import PPO, PPOPolicy
from tether.imitation.queue import LabelQueue
from tether.imitation.tasks import InteractiveTask, resolve_task, task_from_env

__all__ = [
    "AIRLConfig", "CallableExpert", "DAggerResult", "Expert", "GAILConfig", "HumanExpert", "InteractiveTask",
    "LabelQueue", "OnnxExpert", "OptimalExpert", "PPO", "PPOConfig", "PPOPolicy", "RoundRecord", "SavedReward",
    "ZooExpert", "acting_policy", "checked_labels", "current_queue", "expert_from_spec", "load_policy",
    "resolve_task", "task_from_env", "train_airl", "train_dagger", "train_gail", "train_on_reward",
]
