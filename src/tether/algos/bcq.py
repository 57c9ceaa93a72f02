"""Batch-Constrained Q-learning: act only with small perturbations of actions the data would take.

A conditional VAE models the logged actions given the state; a perturbation network shifts its
samples by at most `action_flexibility`; the policy picks, among `n_action_samples` perturbed VAE
samples, the one with the highest Q. Critics bootstrap from `lam * min + (1 - lam) * max` over the
two critics, maximised over `n_target_samples` such samples of the next state. Fujimoto, Meger &
Precup 2019, "Off-Policy Deep Reinforcement Learning without Exploration".

Differences: from d3rlpy's defaults, observations are standardised, and the critic target takes the
best of `n_target_samples` (10) VAE samples per next state as the paper does (d3rlpy uses
`n_action_samples`, 100, for the target as well as for acting); the rest follows d3rlpy (learning
rates 1e-3, batch 100, lam 0.75, flexibility 0.05, 100 samples to act, KL weight 0.5).
The VAE follows the paper where d3rlpy 2.8.1 departs from it: the decoder ends in tanh (d3rlpy's
decoder is linear: its `with_squash` flag is inverted). So does the target perturbation network,
which starts as a copy of the actor (d3rlpy's BCQ initialises it independently).
`vae_decoder_tanh=False, network_init="torch"` with a 256x256 VAE and `n_target_samples=100` is
d3rlpy's recipe (`tether.d3rlpy.algos.BCQConfig` sets it); from the same weights, one update then
moves them as d3rlpy's does (`bench/update_crosscheck.py`).
Acting: greedy (`predict`) draws each state's latents from a key derived from the state's bits
(`state_keys`), so the action is a function of the state; d3rlpy's `predict` draws new latents on
every call, which tether's `sample_action` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from tether._types import Metrics, Params, PRNGKey
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.errors import ConfigError
from tether.nets import MLP, ConditionalVAE, QEnsemble
from tether.nets.mlp import check_init


@dataclass(frozen=True, kw_only=True)
class BCQConfig(LearnerConfig):
    """BCQ.

    Args:
        actor_learning_rate, critic_learning_rate, imitator_learning_rate: Adam rates (1e-3).
        tau: Polyak factor of the targets.
        lam: weight of the min over critics in the target (0.75).
        action_flexibility: largest perturbation of a VAE action (0.05 on [-1, 1] actions).
        n_action_samples: VAE samples scored when acting (100).
        n_target_samples: VAE samples per next state in the critic target (10, the paper's; d3rlpy
            uses `n_action_samples` for both, so its default recipe is `n_target_samples=100`).
        beta: weight of the VAE's KL term (0.5).
        n_critics: critics in the ensemble (2).
        hidden_dims: widths of actor and critic MLPs.
        vae_hidden_dims: widths of the VAE's encoder and decoder ((750, 750) as in the paper; d3rlpy
            256x256).
        vae_decoder_tanh: squash the decoder's output with tanh, as the paper does (d3rlpy: linear).
        network_init: `"lecun"` (flax's default) or `"torch"` (PyTorch's, as d3rlpy's networks).
    """

    TYPE = "bcq"
    batch_size: int = 100
    actor_learning_rate: float = 1e-3
    critic_learning_rate: float = 1e-3
    imitator_learning_rate: float = 1e-3
    tau: float = 0.005
    lam: float = 0.75
    action_flexibility: float = 0.05
    n_action_samples: int = 100
    n_target_samples: int = 10
    beta: float = 0.5
    n_critics: int = 2
    hidden_dims: tuple[int, ...] = (256, 256)
    vae_hidden_dims: tuple[int, ...] = (750, 750)
    vae_decoder_tanh: bool = True
    network_init: str = "lecun"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_init(self.network_init, "network_init")
        for name in ("n_action_samples", "n_target_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}", "use 1 or more")


class Perturbation(nn.Module):
    """xi(s, a) in [-flexibility, flexibility]; returns `clip(a + xi, -1, 1)`."""

    hidden_dims: tuple[int, ...]
    action_dim: int
    flexibility: float
    weight_init: str = "lecun"

    @nn.compact
    def __call__(self, observations: jax.Array, actions: jax.Array) -> jax.Array:
        mlp = MLP(self.hidden_dims, self.action_dim, weight_init=self.weight_init)
        xi = jnp.tanh(mlp(jnp.concatenate([observations, actions], -1)))
        return jnp.clip(actions + self.flexibility * xi, -1.0, 1.0)


class BCQState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    imitator: TrainState
    target_actor_params: Params
    target_critic_params: Params
    step: jax.Array


def init(config: BCQConfig, spec: DatasetSpec, key: PRNGKey) -> BCQState:
    actor_key, critic_key, vae_key, sample_key = jax.random.split(key, 4)
    obs, act = jnp.zeros((1, spec.observation_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = Perturbation(config.hidden_dims, spec.action_dim, config.action_flexibility, config.network_init)
    critic_net = QEnsemble(config.hidden_dims, config.n_critics, weight_init=config.network_init)
    vae_net = ConditionalVAE(config.vae_hidden_dims, spec.action_dim, 2 * spec.action_dim,
                             squash=config.vae_decoder_tanh, weight_init=config.network_init)
    actor_params = actor_net.init(actor_key, obs, act)["params"]
    critic_params = critic_net.init(critic_key, obs, act)["params"]
    return BCQState(
        actor=TrainState.create(apply_fn=actor_net.apply, params=actor_params,
                                tx=optax.adam(config.actor_learning_rate)),
        critic=TrainState.create(apply_fn=critic_net.apply, params=critic_params,
                                 tx=optax.adam(config.critic_learning_rate)),
        imitator=TrainState.create(apply_fn=vae_net.apply, params=vae_net.init(vae_key, obs, act, sample_key)["params"],
                                   tx=optax.adam(config.imitator_learning_rate)),
        target_actor_params=jax.tree.map(jnp.copy, actor_params),
        target_critic_params=jax.tree.map(jnp.copy, critic_params),
        step=jnp.int32(0))


def vae_sample(state: BCQState, observations: jax.Array, key: PRNGKey) -> jax.Array:
    return state.imitator.apply_fn({"params": state.imitator.params}, observations, key, method=ConditionalVAE.sample)


def imitator_loss(params: Params, state: BCQState, batch: Batch, key: PRNGKey, config: BCQConfig):
    recon, mean, log_std = state.imitator.apply_fn({"params": params}, batch.observations, batch.actions, key)
    # both terms averaged over every element, as the paper's code and d3rlpy do: summing them instead
    # would weigh the KL (2 * action_dim latents) twice as much as `beta` says against the reconstruction
    reconstruction = jnp.mean((recon - batch.actions) ** 2)
    kl = jnp.mean(-0.5 * (1.0 + 2.0 * log_std - mean**2 - jnp.exp(2.0 * log_std)))
    loss = reconstruction + config.beta * kl
    return loss, {"imitator_loss": loss}


def critic_loss(params: Params, state: BCQState, batch: Batch, key: PRNGKey, config: BCQConfig):
    next_obs = jnp.repeat(batch.next_observations, config.n_target_samples, axis=0)  # [batch * n, obs_dim]
    proposals = vae_sample(state, next_obs, key)
    next_actions = state.actor.apply_fn({"params": state.target_actor_params}, next_obs, proposals)
    next_q = state.critic.apply_fn({"params": state.target_critic_params}, next_obs, next_actions)
    soft_clipped = config.lam * jnp.min(next_q, 0) + (1.0 - config.lam) * jnp.max(next_q, 0)
    next_value = jnp.max(soft_clipped.reshape(-1, config.n_target_samples), axis=1)
    targets = batch.rewards + config.gamma * (1.0 - batch.terminations) * next_value
    q = state.critic.apply_fn({"params": params}, batch.observations, batch.actions)
    loss = jnp.sum(jnp.mean((q - jax.lax.stop_gradient(targets)) ** 2, axis=1))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}


def actor_loss(params: Params, state: BCQState, batch: Batch, key: PRNGKey):
    actions = state.actor.apply_fn({"params": params}, batch.observations, vae_sample(state, batch.observations, key))
    q = state.critic.apply_fn({"params": state.critic.params}, batch.observations, actions)[0]
    loss = -jnp.mean(q)
    return loss, {"actor_loss": loss}


def update(state: BCQState, batch: Batch, key: PRNGKey, *, config: BCQConfig) -> tuple[BCQState, Metrics]:
    vae_key, critic_key, actor_key = jax.random.split(key, 3)
    grads, imitator_metrics = jax.grad(imitator_loss, has_aux=True)(
        state.imitator.params, state, batch, vae_key, config)
    state = state.replace(imitator=state.imitator.apply_gradients(grads=grads))
    grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(state.critic.params, state, batch, critic_key, config)
    state = state.replace(critic=state.critic.apply_gradients(grads=grads))
    grads, actor_metrics = jax.grad(actor_loss, has_aux=True)(state.actor.params, state, batch, actor_key)
    actor = state.actor.apply_gradients(grads=grads)
    state = state.replace(
        actor=actor, step=state.step + 1,
        target_actor_params=optax.incremental_update(actor.params, state.target_actor_params, config.tau),
        target_critic_params=optax.incremental_update(state.critic.params, state.target_critic_params, config.tau))
    return state, {**imitator_metrics, **critic_metrics, **actor_metrics}


def state_keys(key: PRNGKey, observations: jax.Array) -> jax.Array:
    """One key per row of `observations`, a function of `key` and the row's float32 bits alone.

    Greedy BCQ draws its VAE latents from these, so `predict` is a function of the state (the same
    state gives the same action, whatever else is in the batch) while the latents still change from
    state to state, as the paper's and d3rlpy's fresh draws on every call do.
    """
    bits = jax.lax.bitcast_convert_type(observations.astype(jnp.float32), jnp.uint32)
    odd = (2 * jnp.arange(bits.shape[-1], dtype=jnp.uint32) + 1) * jnp.uint32(2654435761)  # Knuth's multiplier
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.sum(bits * odd, axis=-1, dtype=jnp.uint32))


def act(state: BCQState, observations: jax.Array, key: PRNGKey, *, config: BCQConfig, deterministic: bool):
    """Best of `n_action_samples` perturbed VAE samples by Q1.

    Greedy (`deterministic`) draws each state's latents from `state_keys`; sampling draws new ones
    from `key` on every call. Both pick by the same rule.
    """
    n, batch_size = config.n_action_samples, observations.shape[0]
    keys = state_keys(key, observations) if deterministic else jax.random.split(key, batch_size)
    repeated = jnp.repeat(observations[:, None], n, axis=1)  # [batch, n, obs_dim]
    proposals = jax.vmap(lambda obs, row_key: vae_sample(state, obs, row_key))(repeated, keys)
    repeated, proposals = repeated.reshape(batch_size * n, -1), proposals.reshape(batch_size * n, -1)
    actions = state.actor.apply_fn({"params": state.actor.params}, repeated, proposals)
    q = state.critic.apply_fn({"params": state.critic.params}, repeated, actions)[0].reshape(batch_size, n)
    best = jnp.argmax(q, axis=1)
    return actions.reshape(batch_size, n, -1)[jnp.arange(batch_size), best]


def q_value(state: BCQState, observations: jax.Array, actions: jax.Array, *, config: BCQConfig):
    return jnp.mean(state.critic.apply_fn({"params": state.critic.params}, observations, actions), axis=0)


SPEC = AlgoSpec("bcq", BCQConfig, init=init, update=update, act=act, q_value=q_value,
                exportable=False)  # its greedy latents come from a state-keyed generator
