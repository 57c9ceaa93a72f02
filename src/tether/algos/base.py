"""What every learner shares: the config base class, the dataset spec, the batch, and the registry.

An algorithm file defines a frozen config, a state pytree and pure functions, then registers them:

    register(AlgoSpec("td3_plus_bc", TD3PlusBCConfig, init=init, update=update, act=act, q_value=q_value))

The engine (`tether.algos.engine.Learner`) does everything else: data on the device, fused updates,
seeds, evaluators, checkpoints, saving.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import jax

from tether.errors import ConfigError, DatasetError, did_you_mean

if TYPE_CHECKING:
    from tether.algos.engine import Learner


class Batch(NamedTuple):
    """A batch of transitions, already scaled: observations normalised, actions in [-1, 1]."""

    observations: jax.Array  # [batch, obs_dim]
    actions: jax.Array  # [batch, action_dim] (or [batch] int32 for discrete)
    rewards: jax.Array  # [batch]
    next_observations: jax.Array  # [batch, obs_dim]
    terminations: jax.Array  # [batch], 1.0 where the episode truly ended: no bootstrap
    action_masks: jax.Array | None = None  # [batch, n_actions] bool, discrete logs with masks only
    next_action_masks: jax.Array | None = None  # [batch, n_actions] bool, allowed in the successor


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


@dataclass(frozen=True, kw_only=True)
class LearnerConfig:
    """Hyperparameters shared by every learner (d3rlpy names).

    Args:
        batch_size: transitions per gradient step.
        gamma: discount factor.
        observation_scaler: `"standard"` normalises observations by the dataset's mean and std;
            `None` leaves them as logged.
        reward_scale: rewards are multiplied by this before learning.
        reward_scaler: `"return_range"` also multiplies rewards by `1000 / (max - min)` of the
            dataset's episode returns (IQL's locomotion recipe, d3rlpy's `ReturnBasedRewardScaler`
            with multiplier 1000); `None` applies `reward_scale` alone.
    """

    batch_size: int = 256
    gamma: float = 0.99
    observation_scaler: str | None = "standard"
    reward_scale: float = 1.0
    reward_scaler: str | None = None

    TYPE: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size", f"must be positive, got {self.batch_size}", "use 1 or more")
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError("gamma", f"must lie in (0, 1], got {self.gamma}", "use a discount such as 0.99")
        if self.observation_scaler not in (None, "standard"):
            raise ConfigError("observation_scaler", f"must be 'standard' or None, got {self.observation_scaler!r}",
                              "use 'standard' or None")
        if self.reward_scaler not in (None, "return_range"):
            raise ConfigError("reward_scaler", f"must be 'return_range' or None, got {self.reward_scaler!r}",
                              "use 'return_range' or None")

    @classmethod
    def get_type(cls) -> str:
        """The registered name of the algorithm (`"td3_plus_bc"`, ...), as d3rlpy's `get_type`."""
        return cls.TYPE

    def create(self, device: str | bool | None = False) -> Learner:
        """Build the learner: `device` is False/None/"cpu" (CPU), or "gpu"/"cuda:0"/True (first GPU)."""
        from tether.algos.engine import Learner

        return Learner(self, device=device)

    def to_json(self) -> dict[str, Any]:
        """`{"type": ..., "params": {...}}`: what `from_json` needs to rebuild this config (saved with a learner)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"type": self.get_type(), "params": json.loads(json.dumps(values))}

    @staticmethod
    def from_json(data: dict[str, Any]) -> LearnerConfig:
        """Rebuild a config of any registered algorithm from `to_json`'s output."""
        spec = get_algo(data["type"])
        fields = {f.name: f for f in dataclasses.fields(spec.config_cls)}
        params: dict[str, Any] = {k: tuple(v) if isinstance(v, list) and "tuple" in str(fields[k].type) else v
                                  for k, v in data["params"].items()}
        return spec.config_cls(**params)


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
    - `action_space`: the kind of actions it learns, `"continuous"` or `"discrete"`
    """

    name: str
    config_cls: type[LearnerConfig]
    init: Callable[..., Any]
    update: Callable[..., Any]
    act: Callable[..., Any]
    q_value: Callable[..., Any] | None = None
    action_space: Literal["continuous", "discrete"] = "continuous"


_REGISTRY: dict[str, AlgoSpec] = {}


def register(spec: AlgoSpec) -> AlgoSpec:
    """Add an algorithm to the registry (its config's `TYPE` must equal `spec.name`)."""
    if spec.config_cls.TYPE != spec.name:
        raise ValueError(f"{spec.config_cls.__name__}.TYPE is {spec.config_cls.TYPE!r}, registered as {spec.name!r}")
    _REGISTRY[spec.name] = spec
    return spec


def get_algo(name: str) -> AlgoSpec:
    """The registered algorithm `name` (raises `ConfigError` listing the known names)."""
    import tether.algos  # noqa: F401  (registers the built-in algorithms)

    if name not in _REGISTRY:
        raise ConfigError("algorithm", f"unknown algorithm {name!r}{did_you_mean(str(name), _REGISTRY)}",
                          f"choose one of {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def algos_for(action_space: str) -> list[str]:
    """Names of the registered algorithms that learn `"continuous"` or `"discrete"` actions."""
    import tether.algos  # noqa: F401

    return sorted(name for name, spec in _REGISTRY.items() if spec.action_space == action_space)


def check_action_space(name: str, dataset_kind: str) -> None:
    """Refuse to train algorithm `name` on data of the other action kind, naming the algorithms that fit."""
    spec = get_algo(name)
    if spec.action_space != dataset_kind:
        raise DatasetError("actions", f"{name} learns {spec.action_space} actions but this dataset's actions are "
                           f"{dataset_kind}", f"use one of {algos_for(dataset_kind)}, or declare --action-space "
                           f"{spec.action_space} if the actions were read as the wrong kind")


def registered_algos() -> list[str]:
    """Names of every registered algorithm, sorted."""
    import tether.algos  # noqa: F401

    return sorted(_REGISTRY)
