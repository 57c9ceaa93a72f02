"""`LearnerConfig`: the hyperparameters every learner shares, and `create`, which builds its `Learner`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from tether.algos.base import AlgoSpec
from tether.algos.engine import Learner
from tether.errors import ConfigError


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
    _algorithm: ClassVar[AlgoSpec]  # bound when the algorithm file creates its AlgoSpec

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

    @classmethod
    def algorithm(cls) -> AlgoSpec:
        """The algorithm's spec: its pure functions and capabilities."""
        return cls._algorithm

    def create(self, device: str | bool | None = False) -> Learner:
        """Build the learner: `device` is False/None/"cpu" (CPU), or "gpu"/"cuda:0"/True (first GPU)."""
        return Learner(self, device=device)

    def to_json(self) -> dict[str, Any]:
        """`{"type": ..., "params": {...}}`: what `from_json` needs to rebuild this config (saved with a learner)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"type": self.get_type(), "params": json.loads(json.dumps(values))}
