"""AIRL's settings and registry entry; the discriminator, the saved reward and the loop live in
`tether.imitation.airl`."""

from __future__ import annotations

from dataclasses import dataclass

from tether.algos.base import InteractiveSpec
from tether.algos.ppo import OnPolicyConfig
from tether.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class AIRLConfig(OnPolicyConfig):
    """AIRL's settings (with `OnPolicyConfig`'s `ppo` (its `gamma` is also the shaping's discount),
    `total_steps` and `checkpoint_every`).

    Args:
        reward_hidden_dims, potential_hidden_dims: widths of g's and h's ReLU MLPs.
        disc_learning_rate: Adam step size of g and h.
        disc_updates: discriminator minibatches after each PPO rollout.
        disc_batch_size: expert and policy transitions per minibatch (each).
        absorbing: a termination leads to an absorbing state with its own learned g and h (Kostrikov et
            al., 2019), so g is identified up to one constant that no longer changes which episodes are
            better, and a policy retrained on g alone does not learn to end (or drag out) episodes
            because of that constant; a time limit never leads there. With it, the outputs of g and h
            start at zero, so the absorbing state's reward starts neutral.
    """

    TYPE = "airl"
    reward_hidden_dims: tuple[int, ...] = (32,)
    potential_hidden_dims: tuple[int, ...] = (32, 32)
    disc_learning_rate: float = 3e-4
    disc_updates: int = 4
    disc_batch_size: int = 256
    absorbing: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("disc_updates", "disc_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}", f"set {name} to 1 or more")


SPEC = InteractiveSpec("airl", AIRLConfig, "a disentangled reward g(s) you can save and reuse; PPO on f - log pi")
