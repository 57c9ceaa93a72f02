"""Conservative Q-Learning: SAC whose critics are pushed down on actions the data do not support.

Each critic's Bellman loss gets `conservative_weight * (logsumexp_a Q(s, a) - Q(s, a_data))`,
the logsumexp estimated by importance sampling over uniform actions and policy actions at s and s'
(`n_action_samples` each). Kumar et al. 2020, "Conservative Q-Learning for Offline Reinforcement
Learning" (CQL(H)).

Differences from d3rlpy 2.8.1's defaults: observations are standardised, and SAC's temperature
steps after the actor's loss (as softlearning and CORL do), not before. Otherwise the same update:
the conservative weight (5.0) is multiplied by a Lagrangian alpha (`alpha_learning_rate` 1e-4)
that grows while the mean gap `logsumexp - Q(s, a_data)` exceeds `alpha_threshold` (10) and shrinks
while it is below, the gap measured without the logsumexp's `- log(3 n)` average; alpha steps on
the batch's gap first and then weights that batch's penalty. `alpha_learning_rate=0` holds the
weight fixed, as JAX-CORL and OfflineRL-Kit do (the comparison: bench/NOTES.md). The
critic's target backs up the policy's mean next action (`backup`; the paper's code and CORL
sample it). Networks start from PyTorch's initialisation. From the same weights, batches and random
draws an update matches d3rlpy's (`python -m bench.update_crosscheck`, `tests/algos/test_crosscheck.py`).
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
from tether.nets.sac import actor_and_temperature_step, sample_actions, temperature, temperature_state

BACKUPS = ("mean", "sample", "soft")


@dataclass(frozen=True, kw_only=True)
class CQLConfig(LearnerConfig):
    """CQL.

    Args:
        actor_learning_rate, critic_learning_rate, temp_learning_rate: Adam learning rates
            (d3rlpy: 1e-4, 3e-4, 1e-4).
        tau: Polyak factor of the target critics.
        initial_temperature: SAC entropy temperature at the start (tuned automatically toward an
            entropy of `-action_dim`).
        conservative_weight: weight of the conservative penalty (5.0).
        n_action_samples: sampled actions per source for the logsumexp (10).
        alpha_learning_rate: Adam rate of log alpha, the Lagrange multiplier of the penalty (1e-4, as
            d3rlpy); 0 holds alpha at `initial_alpha`, a fixed weight.
        initial_alpha: alpha at the start; the penalty's weight is `alpha * conservative_weight`.
        alpha_threshold: the mean gap `logsumexp - Q(s, a_data)` alpha aims at (10), the logsumexp a
            plain sum over the `3 * n_action_samples` importance-weighted samples, as d3rlpy and CORL
            measure it.
        backup: the next action of the critic's target: `"mean"` the policy's mean action (d3rlpy's
            default), `"sample"` a sampled one (the paper's code, CORL), `"soft"` a sampled one with
            SAC's entropy bonus `- temperature * log pi(a'|s')` (d3rlpy's `soft_q_backup=True`).
        n_critics: critics in the ensemble (2).
        hidden_dims: widths of actor and critic MLPs.
        network_init: `"torch"` (PyTorch's and so d3rlpy's default, uniform on +-1/sqrt(fan_in),
            biases too) or `"lecun"` (flax's default). On halfcheetah-medium-v5, "lecun" let all
            3 seeds' greedy policies stall (scores 4-38) around step 2000, "torch" none (README).
    """

    TYPE = "cql"
    actor_learning_rate: float = 1e-4
    critic_learning_rate: float = 3e-4
    temp_learning_rate: float = 1e-4
    tau: float = 0.005
    initial_temperature: float = 1.0
    conservative_weight: float = 5.0
    n_action_samples: int = 10
    alpha_learning_rate: float = 1e-4
    initial_alpha: float = 1.0
    alpha_threshold: float = 10.0
    backup: str = "mean"
    network_init: str = "torch"
    n_critics: int = 2
    hidden_dims: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.initial_alpha <= 0 or self.alpha_learning_rate < 0:
            raise ConfigError("initial_alpha", "must be positive, with alpha_learning_rate non-negative; got "
                              f"{self.initial_alpha} and {self.alpha_learning_rate}", "change the value named")
        check_init(self.network_init, "network_init")
        if self.backup not in BACKUPS:
            raise ConfigError("backup", f"must be one of {', '.join(BACKUPS)}, got {self.backup!r}",
                              f"use one of {', '.join(BACKUPS)}")


class CQLState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    log_temp: TrainState
    log_alpha: TrainState
    target_critic_params: Params
    step: jax.Array


def init(config: CQLConfig, spec: DatasetSpec, key: PRNGKey) -> CQLState:
    actor_key, critic_key = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.observation_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = TanhGaussianActor(config.hidden_dims, spec.action_dim, weight_init=config.network_init)
    critic_net = QEnsemble(config.hidden_dims, config.n_critics, weight_init=config.network_init)
    critic_params = critic_net.init(critic_key, obs, act)["params"]
    return CQLState(
        actor=TrainState.create(apply_fn=actor_net.apply, params=actor_net.init(actor_key, obs)["params"],
                                tx=optax.adam(config.actor_learning_rate)),
        critic=TrainState.create(apply_fn=critic_net.apply, params=critic_params,
                                 tx=optax.adam(config.critic_learning_rate)),
        log_temp=temperature_state(config.initial_temperature, config.temp_learning_rate),
        log_alpha=TrainState.create(apply_fn=None, params={"log_alpha": jnp.log(jnp.float32(config.initial_alpha))},
                                    tx=optax.adam(config.alpha_learning_rate)),
        target_critic_params=jax.tree.map(jnp.copy, critic_params),
        step=jnp.int32(0))


def conservative_logsumexp(q_params: Params, state: CQLState, batch: Batch, key: PRNGKey, config: CQLConfig):
    """Importance-sampled `log sum_a exp Q(s, a)` per critic, `[n_critics, batch]`.

    Sources: uniform actions (density `0.5^d` on [-1, 1]^d), policy actions at s and at s'
    (each divided by its own density), `n_action_samples` of each.
    """
    uniform_key, policy_key, next_key = jax.random.split(key, 3)
    n, (batch_size, action_dim) = config.n_action_samples, batch.actions.shape
    observations = jnp.broadcast_to(batch.observations, (n, *batch.observations.shape))
    uniform = jax.random.uniform(uniform_key, (n, batch_size, action_dim), minval=-1.0, maxval=1.0)
    policy, policy_log_probs = sample_actions(state, state.actor.params, batch.observations, policy_key, n)
    next_policy, next_log_probs = sample_actions(state, state.actor.params, batch.next_observations, next_key, n)
    q = lambda actions: state.critic.apply_fn({"params": q_params}, observations, actions)  # noqa: E731
    stacked = jnp.concatenate([
        q(uniform) - action_dim * jnp.log(0.5),
        q(jax.lax.stop_gradient(policy)) - jax.lax.stop_gradient(policy_log_probs),
        q(jax.lax.stop_gradient(next_policy)) - jax.lax.stop_gradient(next_log_probs)], axis=1)
    return jax.scipy.special.logsumexp(stacked, axis=1) - jnp.log(3 * n)


def next_value(state: CQLState, next_observations: jax.Array, key: PRNGKey, config: CQLConfig) -> jax.Array:
    """The target critics' min at s' for the configured `backup` action, `[batch]`."""
    if config.backup == "mean":
        next_actions = jnp.tanh(state.actor.apply_fn({"params": state.actor.params}, next_observations)[0])
    else:
        next_actions, next_log_probs = sample_actions(state, state.actor.params, next_observations, key)
    next_q = state.critic.apply_fn({"params": state.target_critic_params}, next_observations, next_actions)
    value = jnp.min(next_q, axis=0)
    return value - temperature(state) * next_log_probs if config.backup == "soft" else value


def critic_terms(params: Params, state: CQLState, batch: Batch, key: PRNGKey, config: CQLConfig):
    """The critics' Bellman loss and conservative penalty (each summed over critics), and `q_mean`."""
    target_key, penalty_key = jax.random.split(key)
    next_q = next_value(state, batch.next_observations, target_key, config)
    targets = batch.rewards + config.gamma * (1.0 - batch.terminations) * next_q
    q = state.critic.apply_fn({"params": params}, batch.observations, batch.actions)
    bellman = jnp.sum(jnp.mean((q - jax.lax.stop_gradient(targets)) ** 2, axis=1))
    penalty = jnp.sum(jnp.mean(conservative_logsumexp(params, state, batch, penalty_key, config) - q, axis=1))
    return (bellman, penalty), jnp.mean(q)


def critic_loss(params: Params, state: CQLState, batch: Batch, key: PRNGKey, config: CQLConfig):
    """`bellman + alpha * conservative_weight * penalty`, with the state's alpha."""
    (bellman, penalty), q_mean = critic_terms(params, state, batch, key, config)
    loss = bellman + alpha(state) * config.conservative_weight * penalty
    return loss, {"critic_loss": loss, "bellman_loss": bellman, "conservative_loss": penalty, "q_mean": q_mean}


def _multiplier(params: Params) -> jax.Array:
    return jnp.clip(jnp.exp(params["log_alpha"]), 0.0, 1e6)  # clipped as d3rlpy does


def alpha(state: CQLState) -> jax.Array:
    """The Lagrange multiplier of the penalty."""
    return _multiplier(state.log_alpha.params)


def alpha_loss(params: Params, penalty: jax.Array, n_critics: int, config: CQLConfig):
    """d3rlpy's `-alpha * weight * (mean gap - threshold)`, the gap's logsumexp a plain sum (`penalty`, the
    critics' summed gaps of averaged logsumexps, plus `log(3 n)`): alpha grows while the gap exceeds the
    threshold."""
    gap = penalty / n_critics + jnp.log(3.0 * config.n_action_samples)
    return -_multiplier(params) * config.conservative_weight * (gap - config.alpha_threshold)


def update(state: CQLState, batch: Batch, key: PRNGKey, *, config: CQLConfig) -> tuple[CQLState, Metrics]:
    critic_key, actor_key = jax.random.split(key)
    (bellman, penalty), pullback, q_mean = jax.vjp(
        lambda params: critic_terms(params, state, batch, critic_key, config), state.critic.params, has_aux=True)
    if config.alpha_learning_rate > 0:  # else alpha stays at initial_alpha: no step to take
        # as d3rlpy: alpha steps first, on this batch's penalty, and then weights that penalty
        grads = jax.grad(alpha_loss)(state.log_alpha.params, penalty, config.n_critics, config)
        state = state.replace(log_alpha=state.log_alpha.apply_gradients(grads=grads))
    weight = alpha(state) * config.conservative_weight
    (grads,) = pullback((jnp.ones_like(bellman), weight.astype(penalty.dtype)))
    critic = state.critic.apply_gradients(grads=grads)
    state = state.replace(critic=critic)
    state, actor_metrics = actor_and_temperature_step(state, batch.observations, actor_key,
                                                      target_entropy=-float(batch.actions.shape[-1]))
    state = state.replace(
        step=state.step + 1,
        target_critic_params=optax.incremental_update(critic.params, state.target_critic_params, config.tau))
    critic_metrics = {"critic_loss": bellman + weight * penalty, "bellman_loss": bellman,
                      "conservative_loss": penalty, "q_mean": q_mean}
    return state, {**critic_metrics, **actor_metrics, "alpha": alpha(state)}


SPEC = AlgoSpec("cql", CQLConfig, init=init, update=update, act=sac.act, q_value=sac.q_value)
