"""What every algorithm is made of: the batch it learns from, the dataset spec it builds networks for,
and `AlgoSpec`, its pure functions and capabilities.

An algorithm file defines a frozen config (`tether.algos.config.LearnerConfig`), a state pytree and
pure functions, and ends with its spec:

    SPEC = AlgoSpec("td3_plus_bc", TD3PlusBCConfig, init=init, update=update, act=act, q_value=q_value)

`tether.algos.registry` lists every algorithm's spec; the engine (`tether.algos.engine.Learner`)
does everything else: data on the device, fused updates, seeds, evaluators, checkpoints, saving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import jax

from tether.errors import DatasetError

if TYPE_CHECKING:
    from tether.algos.config import LearnerConfig


class Batch(NamedTuple):
    """A batch of transitions, already scaled: observations normalised, actions in [-1, 1]."""

    observations: jax.Array  # [batch, obs_dim]
    actions: jax.Array  # [batch, action_dim] (or [batch] int32 for discrete)
    rewards: jax.Array  # [batch]
    next_observations: jax.Array  # [batch, obs_dim]
    terminations: jax.Array  # [batch], 1.0 where the episode truly ended: no bootstrap
    action_masks: jax.Array | None = None  # [batch, n_actions] bool, discrete logs with masks only
    next_action_masks: jax.Array | None = None  # [batch, n_actions] bool, allowed in the successor
    next_actions: jax.Array | None = None  # [batch, action_dim], logged at the successor (continuous logs)


@dataclass(frozen=True)
class DatasetSpec:
    """Shapes an algorithm needs to build its networks."""

    observation_dim: int
    action_dim: int
    discrete_actions: int | None = None  # number of actions when discrete

    @property
    def n_actions(self) -> int:
        """The number of discrete actions; raises for continuous data."""
        if self.discrete_actions is None:
            raise ValueError("this learner chooses among discrete actions, but the dataset's actions are "
                             "continuous: use BC, TD3+BC, IQL, CQL or BCQ")
        return self.discrete_actions


@dataclass(frozen=True)
class AlgoSpec:
    """The pure functions that define an algorithm.

    - `init(config, spec, key) -> state`, a struct dataclass with an int32 `step` field that counts
      updates (the engine sets it before each update, the same for every seed, so a `lax.cond` on
      it stays a branch under the seed `vmap`)
    - `update(state, batch, key, *, config) -> (state, metrics)`, returning `step + 1`
    - `act(state, observations, key, *, config, deterministic) -> actions` (scaled to [-1, 1]);
      discrete learners also take `action_masks=None` and never choose a masked action
    - `q_value(state, observations, actions, *, config) -> [batch]` (None for pure imitation)
    - `prepare(state, dataset, scaling, *, config, seed, run_dir, log) -> state` (optional): runs once
      on a freshly built state (every leaf with the seed axis), before the first update, to fit
      what the updates need from the whole dataset (the model-based learners' dynamics ensemble);
      not called on resume, where the checkpoint already holds it

    Capabilities, which the command line, `tether run` and the contract test read:
    - `action_space`: the kind of actions it learns, `"continuous"` or `"discrete"`
    - `exportable`: its greedy policy exports to ONNX (`Learner.save_policy`)
    - `needs_propensities`: it needs the logged behaviour probabilities
    - `needs_environment`: it interacts with an environment (or an expert) while it learns
    - `baseline`: it is the behaviour-cloning baseline `tether run` compares candidates with

    Creating the spec binds it to its config class, so `config.algorithm()` finds it.
    """

    name: str
    config_cls: type[LearnerConfig]
    init: Callable[..., Any]
    update: Callable[..., Any]
    act: Callable[..., Any]
    q_value: Callable[..., Any] | None = None
    prepare: Callable[..., Any] | None = None
    action_space: Literal["continuous", "discrete"] = "continuous"
    exportable: bool = True
    needs_propensities: bool = False
    needs_environment: bool = False
    baseline: bool = False

    def __post_init__(self) -> None:
        if self.config_cls.TYPE != self.name:
            raise ValueError(f"{self.config_cls.__name__}.TYPE is {self.config_cls.TYPE!r}, but its spec is named "
                             f"{self.name!r}")
        self.config_cls._algorithm = self

    def check_action_space(self, dataset_kind: str, alternatives: list[str] | None = None) -> None:
        """Refuse data of the other action kind, naming `alternatives` (the algorithms that fit) when known."""
        if self.action_space != dataset_kind:
            fit = f"use one of {alternatives}" if alternatives else f"use a learner for {dataset_kind} actions"
            raise DatasetError("actions", f"{self.name} learns {self.action_space} actions but this dataset's "
                               f"actions are {dataset_kind}", f"{fit}, or declare --action-space "
                               f"{self.action_space} if the actions were read as the wrong kind")


@dataclass(frozen=True)
class InteractiveSpec:
    """A learner that trains a policy by acting in an environment against a learned reward (GAIL, AIRL):
    its name, config class (`tether.algos.ppo.OnPolicyConfig`), one line for the command line's help, and
    the action kinds it learns. Its loop lives in `tether.imitation`; the engine does not fit it on a log.
    """

    name: str
    config_cls: Any  # an OnPolicyConfig subclass (tether.algos.ppo; importing it here would be a cycle)
    summary: str
    action_spaces: tuple[str, ...] = ("continuous", "discrete")

    def __post_init__(self) -> None:
        if self.config_cls.TYPE != self.name:
            raise ValueError(f"{self.config_cls.__name__}.TYPE is {self.config_cls.TYPE!r}, but its spec is named "
                             f"{self.name!r}")
