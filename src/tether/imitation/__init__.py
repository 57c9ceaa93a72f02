"""Imitation with interaction: DAgger with any expert (a function, a zoo policy, an ONNX file, a simulator's
optimal policy, or a person labelling through a local web page), its label queue and its tasks."""

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
from tether.imitation.queue import LabelQueue
from tether.imitation.tasks import InteractiveTask, resolve_task, task_from_env

__all__ = ["CallableExpert", "DAggerResult", "Expert", "HumanExpert", "InteractiveTask", "LabelQueue", "OnnxExpert",
           "OptimalExpert", "RoundRecord", "ZooExpert", "acting_policy", "checked_labels", "current_queue",
           "expert_from_spec", "resolve_task", "task_from_env", "train_dagger"]
