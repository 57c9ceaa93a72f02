"""EDAC: SAC-N whose critics are pushed to disagree about the action gradient, so far fewer suffice.

To SAC-N's soft Bellman loss EDAC adds `eta` times the ensemble's gradient similarity at the logged
`(s, a)`: `1/(N-1) sum_{i != j} <g_i, g_j>`, with `g_i = grad_a Q_i(s, a) / ||grad_a Q_i(s, a)||`, averaged
over the batch. Critics whose action gradients point apart fall off quickly away from the logged actions,
so the minimum over 10 to 50 of them is as pessimistic there as SAC-N's over hundreds. An et al. 2021,
"Uncertainty-Based Offline Reinforcement Learning with Diversified Q-Ensemble".

Differences: from the paper and CORL's configs, none in the objective or the defaults (`eta` 1.0,
`n_critics` 10: their halfcheetah and walker2d value, hopper uses 50; 3M steps there). The state,
the networks and the policy are SAC-N's (`tether.algos.sac_n`).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from tether._types import Metrics, Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch
from tether.algos.sac_n import SACNConfig, SACNState, init
from tether.errors import ConfigError
from tether.nets import sac


@dataclass(frozen=True, kw_only=True)
class EDACConfig(SACNConfig):
    """EDAC: SAC-N's settings (`tether.algos.sac_n.SACNConfig`) and the diversity term's weight.

    Args:
        eta: weight of the gradient-similarity term in the critics' loss (1.0; the paper uses 5.0 on
            halfcheetah and walker2d medium-expert).
    """

    TYPE = "edac"
    eta: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eta < 0:
            raise ConfigError("eta", f"must be at least 0, got {self.eta}", "use 1.0 (0 is SAC-N)")


def gradient_similarity(params: Params, state: SACNState, observations: jax.Array, actions: jax.Array) -> jax.Array:
    """`mean_batch 1/(N-1) sum_{i != j} <g_i, g_j>` with `g_i` the unit action gradient of critic `i` at
    `(observations, actions)`: 0 for orthogonal gradients, `N` when all critics agree."""
    n_critics = jax.tree.leaves(params)[0].shape[0]
    per_member = jnp.broadcast_to(actions, (n_critics, *actions.shape))  # a gradient per critic, one pass
    grads = jax.grad(lambda a: jnp.sum(state.critic.apply_fn({"params": params}, observations, a)))(per_member)
    unit = grads / (jnp.linalg.norm(grads, axis=-1, keepdims=True) + 1e-10)
    gram = jnp.einsum("iba,jba->bij", unit, unit)  # [batch, N, N]
    off_diagonal = jnp.sum(gram, axis=(1, 2)) - jnp.trace(gram, axis1=1, axis2=2)
    return jnp.mean(off_diagonal) / (n_critics - 1)


def critic_loss(params: Params, state: SACNState, batch: Batch, key: PRNGKey, config: EDACConfig):
    """SAC's soft Bellman loss summed over critics plus `eta` times their gradient similarity."""
    bellman, metrics = sac.soft_bellman_loss(params, state, batch, key, config.gamma)
    similarity = gradient_similarity(params, state, batch.observations, batch.actions)
    loss = bellman + config.eta * similarity
    return loss, {**metrics, "critic_loss": loss, "bellman_loss": bellman, "gradient_similarity": similarity}


def update(state: SACNState, batch: Batch, key: PRNGKey, *, config: EDACConfig) -> tuple[SACNState, Metrics]:
    return sac.update(state, batch, key, gamma=config.gamma, tau=config.tau,
                      critic_loss=lambda params, s, b, k: critic_loss(params, s, b, k, config))


SPEC = AlgoSpec("edac", EDACConfig, init=init, update=update, act=sac.act, q_value=sac.q_value)
