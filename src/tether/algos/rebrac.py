"""ReBRAC: TD3+BC revisited, with a behaviour penalty in the critic's target as well as in the actor.

The actor minimises `actor_beta * ||pi(s) - a||^2 - Q(s, pi(s)) / mean|Q|` (the squared error summed
over action dimensions, `mean|Q|` detached); the critics' target is `r + gamma * (min_i Q'_i(s', a')
- critic_beta * ||a' - a'_logged||^2)`, with `a'` the target actor's smoothed action at `s'` and
`a'_logged` the action the log holds at `s'`. LayerNorm in the critics, three hidden layers, batch 1024
and learning rates 1e-3 are the rest of the recipe. Tarasov et al. 2023, "Revisiting the Minimalist
Approach to Offline Reinforcement Learning".

Differences: from the paper's code, none in the objective or the defaults (the paper tunes the two
betas per dataset: its Table 11; the defaults are the shipped halfcheetah-medium ones, `actor_beta`
0.001 and `critic_beta` 0.01). At an episode's last step cut by a time limit, where the log holds no
next action, the penalty compares with the step's own action. From d3rlpy's `ReBRACConfig`: the same
names and defaults; observations are not standardised by default, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from tether._types import Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.algos.td3_plus_bc import (
    TD3PlusBCState,
    act,
    actor_critic_state,
    delayed_actor_update,
    q_value,
    smoothed_target_actions,
)
from tether.errors import ConfigError
from tether.nets import DeterministicActor, QEnsemble
from tether.nets.mlp import check_init


@dataclass(frozen=True, kw_only=True)
class ReBRACConfig(LearnerConfig):
    """ReBRAC.

    Args:
        actor_learning_rate, critic_learning_rate: Adam learning rates (paper: 1e-3).
        tau: Polyak factor of the targets (5e-3).
        actor_beta: weight of the actor's behaviour penalty (paper's beta_1; Table 11 tunes it in 0.001-0.1).
        critic_beta: weight of the penalty in the critics' target (beta_2; 0-0.5).
        target_smoothing_sigma, target_smoothing_clip: target policy noise (0.2, clipped at 0.5).
        update_actor_interval: critic steps per actor step (2).
        n_critics: critics in the ensemble; the target and the actor use their minimum (2).
        hidden_dims: widths of the actor's and the critics' MLPs (three of 256).
        critic_layer_norm, actor_layer_norm: LayerNorm after each hidden layer (critics only, as the paper).

    The state, the delayed actor step and the policy are TD3+BC's (`tether.algos.td3_plus_bc`).
        network_init: `"edac"` (the paper's: PyTorch's kernels, biases 0.1, small output layers),
            `"torch"` or `"lecun"`.
    """

    TYPE = "rebrac"
    batch_size: int = 1024
    observation_scaler: str | None = None
    actor_learning_rate: float = 1e-3
    critic_learning_rate: float = 1e-3
    tau: float = 0.005
    actor_beta: float = 0.001
    critic_beta: float = 0.01
    target_smoothing_sigma: float = 0.2
    target_smoothing_clip: float = 0.5
    update_actor_interval: int = 2
    n_critics: int = 2
    hidden_dims: tuple[int, ...] = (256, 256, 256)
    critic_layer_norm: bool = True
    actor_layer_norm: bool = False
    network_init: str = "edac"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_init(self.network_init, "network_init")
        for field in ("actor_beta", "critic_beta"):
            if getattr(self, field) < 0:
                raise ConfigError(field, f"must be at least 0, got {getattr(self, field)}",
                                  "use the paper's range, 0.001 to 0.5")
        if self.update_actor_interval < 1:
            raise ConfigError("update_actor_interval", f"must be positive, got {self.update_actor_interval}", "use 2")


def init(config: ReBRACConfig, spec: DatasetSpec, key: PRNGKey) -> TD3PlusBCState:
    actor_net = DeterministicActor(config.hidden_dims, spec.action_dim, weight_init=config.network_init,
                                   layer_norm=config.actor_layer_norm)
    critic_net = QEnsemble(config.hidden_dims, config.n_critics, layer_norm=config.critic_layer_norm,
                           weight_init=config.network_init)
    return actor_critic_state(actor_net, critic_net, spec, key, config)


def critic_loss(params: Params, state: TD3PlusBCState, batch: Batch, key: PRNGKey, config: ReBRACConfig):
    """Squared TD error summed over critics; the target's next value pays `critic_beta` times the squared
    distance of the smoothed target action from the logged next action."""
    if batch.next_actions is None:
        raise ValueError("rebrac's critic needs the logged next actions (Batch.next_actions): continuous logs "
                         "carry them; build batches with tether.algos.engine.device_data")
    next_actions = smoothed_target_actions(state, batch.next_observations, key, config)
    penalty = jnp.sum((next_actions - batch.next_actions) ** 2, axis=-1)
    next_q = state.critic.apply_fn({"params": state.target_critic_params}, batch.next_observations, next_actions)
    next_value = jnp.min(next_q, axis=0) - config.critic_beta * penalty
    targets = jax.lax.stop_gradient(batch.rewards + config.gamma * (1.0 - batch.terminations) * next_value)
    q = state.critic.apply_fn({"params": params}, batch.observations, batch.actions)
    loss = jnp.sum(jnp.mean((q - targets) ** 2, axis=1))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q), "critic_bc_penalty": jnp.mean(penalty)}


def actor_loss(params: Params, state: TD3PlusBCState, batch: Batch, config: ReBRACConfig):
    """`mean(actor_beta * ||pi(s) - a||^2 - min_i Q_i(s, pi(s)) / mean|min_i Q_i|)`."""
    actions = state.actor.apply_fn({"params": params}, batch.observations)
    q = jnp.min(state.critic.apply_fn({"params": state.critic.params}, batch.observations, actions), axis=0)
    penalty = jnp.sum((actions - batch.actions) ** 2, axis=-1)
    loss = jnp.mean(config.actor_beta * penalty - q / jax.lax.stop_gradient(jnp.mean(jnp.abs(q))))
    return loss, {"actor_loss": loss, "bc_loss": jnp.mean(penalty)}


def update(state: TD3PlusBCState, batch: Batch, key: PRNGKey, *, config: ReBRACConfig):
    return delayed_actor_update(state, batch, key, config=config, critic_loss=critic_loss, actor_loss=actor_loss)


SPEC = AlgoSpec("rebrac", ReBRACConfig, init=init, update=update, act=act, q_value=q_value)
