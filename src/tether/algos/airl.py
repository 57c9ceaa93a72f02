"""AIRL's settings and registry entry; the discriminator, the saved reward and the loop live in
`tether.imitation.airl`."""

from __future__ import annotations

from dataclasses import dataclass

from tether.algos.base import InteractiveSpec
from tether.algos.ppo import AdversarialConfig


@dataclass(frozen=True, kw_only=True)
class AIRLConfig(AdversarialConfig):
    """AIRL's settings (with `AdversarialConfig`'s `ppo` (its `gamma` is also the shaping's discount),
    `total_steps`, `checkpoint_every` and the discriminator's `disc_learning_rate`, `disc_updates`,
    `disc_batch_size`).

    Args:
        reward_hidden_dims, potential_hidden_dims: widths of g's and h's ReLU MLPs.
        absorbing: a termination leads to an absorbing state with its own learned g and h (Kostrikov et
            al., 2019), so g is identified up to one constant that no longer changes which episodes are
            better, and a policy retrained on g alone does not learn to end (or drag out) episodes
            because of that constant; a time limit never leads there. With it, the outputs of g and h
            start at zero, so the absorbing state's reward starts neutral.
    """

    TYPE = "airl"
    reward_hidden_dims: tuple[int, ...] = (32,)
    potential_hidden_dims: tuple[int, ...] = (32, 32)
    absorbing: bool = True


SPEC = InteractiveSpec("airl", AIRLConfig, "a disentangled reward g(s) you can save and reuse; PPO on f - log pi")
