"""GAIL's settings and registry entry; the discriminator and the loop live in `tether.imitation.gail`."""

from __future__ import annotations

from dataclasses import dataclass

from tether.algos.base import InteractiveSpec
from tether.algos.ppo import AdversarialConfig
from tether.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class GAILConfig(AdversarialConfig):
    """GAIL's settings (with `AdversarialConfig`'s `ppo`, `total_steps`, `checkpoint_every` and the
    discriminator's `disc_learning_rate`, `disc_updates`, `disc_batch_size`).

    Args:
        disc_hidden_dims: the discriminator's ReLU MLP widths.
        gradient_penalty: weight of the zero-centred gradient penalty on interpolated inputs.
        observation_only: discriminate (s, s') rather than (s, a).
        absorbing: a termination leads to an absorbing state the discriminator also judges (Kostrikov et
            al., 2019), so ending an episode is worth what the expert's own terminations say; a time
            limit never does. Off by default: PPO receives the absorbing state's reward for the rest of
            time at once (gamma / (1 - gamma) steps of it), and before the discriminator has learned
            that state that is ln 2 per step, so on CartPole PPO learns to end episodes (return 9 after
            40,960 steps, against about 500 without it).
    """

    TYPE = "gail"
    disc_hidden_dims: tuple[int, ...] = (64, 64)
    gradient_penalty: float = 1.0
    observation_only: bool = False
    absorbing: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gradient_penalty < 0:
            raise ConfigError("gradient_penalty", f"must be >= 0, got {self.gradient_penalty}", "use 0 or more")


SPEC = InteractiveSpec("gail", GAILConfig, "occupancy matching with a discriminator; PPO on -log(1 - D)")
