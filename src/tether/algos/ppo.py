"""The settings of PPO and of the learners built on it (GAIL, AIRL): plain dataclasses that the registry
lists and the command line builds. PPO itself, the adversarial loops and their runs live in
`tether.imitation` (they need an environment).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from tether.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class PPOConfig:
    """PPO's hyperparameters (Stable-Baselines3's names and defaults where they exist).

    Args:
        n_envs: environments stepped together.
        n_steps: steps per environment per rollout (a rollout is `n_envs * n_steps` transitions).
        n_epochs: passes over each rollout.
        batch_size: transitions per minibatch.
        learning_rate: Adam's step size.
        gamma, gae_lambda: discount and GAE's lambda.
        clip_range: the ratio's clipping range.
        clip_range_vf: clip the value update to this range around the old values (None: off).
        ent_coef, vf_coef: weights of the entropy bonus and of the value loss.
        max_grad_norm: global gradient-norm clip.
        hidden_dims: widths of the policy's and the value's tanh MLPs (separate networks).
        normalize_observations: standardise observations by running statistics.
    """

    n_envs: int = 8
    n_steps: int = 256
    n_epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    clip_range_vf: float | None = None
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden_dims: tuple[int, ...] = (64, 64)
    normalize_observations: bool = True

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "n_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}", f"set {name} to 1 or more")
        if (self.n_envs * self.n_steps) % self.batch_size:
            raise ConfigError("batch_size", f"{self.batch_size} does not divide a rollout of "
                              f"{self.n_envs * self.n_steps} transitions", "choose a divisor of n_envs * n_steps")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ConfigError("gamma", "gamma must lie in (0, 1] and gae_lambda in [0, 1]", "use 0.99 and 0.95")


@dataclass(frozen=True, kw_only=True)
class OnPolicyConfig:
    """What the learners that train PPO against a learned reward share: the generator's settings, the run's
    length and checkpoint cadence, and a JSON form saved with their checkpoints and policies."""

    ppo: PPOConfig = field(default_factory=PPOConfig)
    total_steps: int = 200_000
    checkpoint_every: int = 10

    TYPE: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for name in ("total_steps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}", f"set {name} to 1 or more")

    @classmethod
    def get_type(cls) -> str:
        """The registered name (`"gail"`, `"airl"`)."""
        return cls.TYPE

    def to_json(self) -> dict[str, Any]:
        """`{"type": ..., "params": {...}}` with the PPO settings nested under `ppo`."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["ppo"] = dataclasses.asdict(self.ppo)
        return {"type": self.get_type(), "params": json.loads(json.dumps(values))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Rebuild from `to_json`'s output (lists back to tuples)."""
        if data.get("type") != cls.TYPE:
            raise ConfigError("type", f"is {data.get('type')!r}, not {cls.TYPE!r}", f"load it as {data.get('type')}")
        params = _tuples({k: v for k, v in data["params"].items() if k != "ppo"})
        return cls(ppo=ppo_config_from_json(data["params"].get("ppo", {})), **params)


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def ppo_config_from_json(values: dict[str, Any]) -> PPOConfig:
    """`PPOConfig` from `dataclasses.asdict` of one, read back from JSON."""
    return PPOConfig(**_tuples(values))


@dataclass(frozen=True, kw_only=True)
class AdversarialConfig(OnPolicyConfig):
    """What GAIL and AIRL add to `OnPolicyConfig`: how their discriminator learns.

    Args:
        disc_learning_rate: the discriminator's Adam step size.
        disc_updates: discriminator minibatches after each PPO rollout.
        disc_batch_size: expert and policy transitions per minibatch (each).
    """

    disc_learning_rate: float = 3e-4
    disc_updates: int = 4
    disc_batch_size: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("disc_updates", "disc_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}", f"set {name} to 1 or more")
        if not self.disc_learning_rate > 0:
            raise ConfigError("disc_learning_rate", f"must be positive, got {self.disc_learning_rate}", "use 3e-4")
