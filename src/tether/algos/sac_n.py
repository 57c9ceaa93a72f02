"""SAC-N: soft actor-critic with N critics, pessimistic by the minimum over a large ensemble alone.

The critics' target and the actor both use `min_i Q_i` over `n_critics` critics; with enough of them
the minimum drops below the data's value wherever the critics disagree, which is off the logged
actions, so no behaviour penalty is needed. An et al. 2021, "Uncertainty-Based Offline Reinforcement
Learning with Diversified Q-Ensemble". The N critics are one vmapped network: from 2 to 50 (or 500, as
the paper's hopper) is one program, no Python loop.

Differences: from the paper and CORL's configs, none in the objective or the defaults (three hidden
layers of 256, learning rates 3e-4, batch 256, the EDAC paper's initialisation), except `n_critics`
10, the paper's halfcheetah value: it tunes N per dataset (walker2d 20, hopper 200 to 500), and
trains 3M steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Metrics, Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.errors import ConfigError
from tether.nets import QEnsemble, TanhGaussianActor, sac
from tether.nets.mlp import check_init


@dataclass(frozen=True, kw_only=True)
class SACNConfig(LearnerConfig):
    """SAC-N.

    Args:
        actor_learning_rate, critic_learning_rate, temp_learning_rate: Adam rates (3e-4 each).
        tau: Polyak factor of the target critics (5e-3).
        initial_temperature: SAC's entropy temperature at the start (tuned toward `-action_dim`).
        n_critics: critics in the ensemble (10; the paper tunes it per dataset, up to 500).
        hidden_dims: widths of the actor's and the critics' MLPs (three of 256).
        network_init: `"edac"` (the paper's), `"torch"` or `"lecun"`.
    """

    TYPE = "sac_n"
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    temp_learning_rate: float = 3e-4
    tau: float = 0.005
    initial_temperature: float = 1.0
    n_critics: int = 10
    hidden_dims: tuple[int, ...] = (256, 256, 256)
    network_init: str = "edac"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_init(self.network_init, "network_init")
        if self.n_critics < 2:
            raise ConfigError("n_critics", f"must be at least 2, got {self.n_critics}",
                              "use 10 (halfcheetah), 20 (walker2d) or more for narrow data")
        if self.initial_temperature <= 0:
            raise ConfigError("initial_temperature", f"must be positive, got {self.initial_temperature}", "use 1.0")


class SACNState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    log_temp: TrainState
    target_critic_params: Params
    step: jax.Array


def init(config: SACNConfig, spec: DatasetSpec, key: PRNGKey) -> SACNState:
    actor_key, critic_key = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.observation_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = TanhGaussianActor(config.hidden_dims, spec.action_dim, weight_init=config.network_init)
    critic_net = QEnsemble(config.hidden_dims, config.n_critics, weight_init=config.network_init)
    critic_params = critic_net.init(critic_key, obs, act)["params"]
    return SACNState(
        actor=TrainState.create(apply_fn=actor_net.apply, params=actor_net.init(actor_key, obs)["params"],
                                tx=optax.adam(config.actor_learning_rate)),
        critic=TrainState.create(apply_fn=critic_net.apply, params=critic_params,
                                 tx=optax.adam(config.critic_learning_rate)),
        log_temp=sac.temperature_state(config.initial_temperature, config.temp_learning_rate),
        target_critic_params=jax.tree.map(jnp.copy, critic_params),
        step=jnp.int32(0))


def update(state: SACNState, batch: Batch, key: PRNGKey, *, config: SACNConfig) -> tuple[SACNState, Metrics]:
    """SAC's step (`tether.nets.sac.update`) with the minimum over all `n_critics` in target and actor."""
    return sac.update(state, batch, key, gamma=config.gamma, tau=config.tau)


SPEC = AlgoSpec("sac_n", SACNConfig, init=init, update=update, act=sac.act, q_value=sac.q_value)
