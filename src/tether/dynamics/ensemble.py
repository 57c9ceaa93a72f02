"""An ensemble of Gaussian MLPs that predicts the logged dynamics, the model MOPO, MOReL and model-based
evaluation share.

Each member maps a normalised `(s, a)` to a Gaussian over the normalised `(s' - s, r)`. A separate
classifier reads the next observation and says whether the episode ended there (termination is a
property of the state reached, as the known rules are). The log-std is soft-clamped between bounds
each member learns (initialised at -10 and 0.5, kept close by a small penalty), as MOPO's code and
OfflineRL-Kit do. All members are one
vmapped network: one forward pass evaluates the whole ensemble.

Functions here are pure over `DynamicsModel`, a pytree that also carries the normalisation statistics,
the elite members and which termination rule applies (`tether.dynamics.termination`), so it can sit
inside a learner's state, be vmapped over seeds and be saved like any weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from tether._types import Params, PRNGKey
from tether.dynamics.termination import terminated
from tether.nets.mlp import MLP

MIN_LOG_STD_INIT = -10.0
MAX_LOG_STD_INIT = 0.5


class GaussianMember(nn.Module):
    """One member: `x [batch, in] -> (mean [batch, out], log_std [batch, out])`."""

    hidden_dims: Sequence[int]
    output_dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = MLP(self.hidden_dims, 2 * self.output_dim, activation="swish", name="trunk")(x)
        d = self.output_dim
        mean, raw_log_std = out[..., :d], out[..., d:]
        max_log_std = self.param("max_log_std", nn.initializers.constant(MAX_LOG_STD_INIT), (d,))
        min_log_std = self.param("min_log_std", nn.initializers.constant(MIN_LOG_STD_INIT), (d,))
        log_std = max_log_std - nn.softplus(max_log_std - raw_log_std)
        return mean, min_log_std + nn.softplus(log_std - min_log_std)


class GaussianEnsemble(nn.Module):
    """`n_members` members in one vmapped call; inputs `[n_members, batch, in]`, outputs with that leading axis."""

    n_members: int
    hidden_dims: Sequence[int]
    output_dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        members = nn.vmap(GaussianMember, variable_axes={"params": 0}, split_rngs={"params": True},
                          in_axes=0, out_axes=0, axis_size=self.n_members)
        return members(self.hidden_dims, self.output_dim, name="members")(x)


class DynamicsModel(struct.PyTreeNode):
    """A trained (or freshly initialised) ensemble and what it needs to predict in the caller's units.

    The caller's units are those the model was fitted in (a learner's standardised observations and
    scaled rewards, or the logged ones); `observation_mean`/`observation_std` map its observations back
    to the logged units the known termination rules read, `reward_scale` its rewards.
    """

    params: Params  # every leaf has the member axis first
    termination_params: Params  # the termination classifier's, on normalised next observations
    elites: jax.Array  # [n_elites] int32, the members with the lowest held-out error
    input_mean: jax.Array  # [obs_dim + action_dim]
    input_std: jax.Array
    target_mean: jax.Array  # [obs_dim + 1]: the change in observation, then the reward
    target_std: jax.Array
    observation_mean: jax.Array  # [obs_dim]: logged observation = observation * std + mean
    observation_std: jax.Array
    reward_scale: jax.Array  # scalar: caller's reward = logged reward * reward_scale
    termination: jax.Array  # int32 index of the rule in `tether.dynamics.termination.RULES`
    hidden_dims: tuple[int, ...] = struct.field(pytree_node=False, default=(200, 200, 200, 200))

    @property
    def network(self) -> GaussianEnsemble:
        """The flax module these parameters belong to."""
        return GaussianEnsemble(jax.tree.leaves(self.params)[0].shape[0], self.hidden_dims,
                                self.target_mean.shape[-1])

    @property
    def termination_network(self) -> MLP:
        """The termination classifier: normalised next observations `[batch, obs_dim]` to logits `[batch, 1]`."""
        return termination_network(self.hidden_dims)


def termination_network(hidden_dims: Sequence[int]) -> MLP:
    return MLP(tuple(hidden_dims)[:2], 1, activation="swish")


def init_dynamics(key: PRNGKey, observation_dim: int, action_dim: int, n_members: int, n_elites: int,
                  hidden_dims: Sequence[int]) -> DynamicsModel:
    """An untrained model of the given shapes (identity normalisation, the first `n_elites` members elite)."""
    hidden = tuple(hidden_dims)
    net = GaussianEnsemble(n_members, hidden, observation_dim + 1)
    model_key, termination_key = jax.random.split(key)
    params = net.init(model_key, jnp.zeros((n_members, 1, observation_dim + action_dim)))["params"]
    termination_params = termination_network(hidden).init(termination_key, jnp.zeros((1, observation_dim)))["params"]
    zeros = lambda n: jnp.zeros(n, jnp.float32)  # noqa: E731
    ones = lambda n: jnp.ones(n, jnp.float32)  # noqa: E731
    return DynamicsModel(params=params, termination_params=termination_params,
                         elites=jnp.arange(n_elites, dtype=jnp.int32),
                         input_mean=zeros(observation_dim + action_dim), input_std=ones(observation_dim + action_dim),
                         target_mean=zeros(observation_dim + 1), target_std=ones(observation_dim + 1),
                         observation_mean=zeros(observation_dim), observation_std=ones(observation_dim),
                         reward_scale=jnp.float32(1.0), termination=jnp.int32(0), hidden_dims=hidden)


class Prediction(NamedTuple):
    """The members' predictions in the caller's units: the change in observation and the reward."""

    mean: jax.Array  # [members, batch, obs_dim + 1]
    std: jax.Array  # [members, batch, obs_dim + 1]
    normalized_mean: jax.Array  # [members, batch, obs_dim + 1], in units of the targets' std


def normalized_outputs(params: Params, model: DynamicsModel, inputs: jax.Array):
    """The raw network outputs (normalised units) for normalised `inputs` `[members, batch, in]`."""
    return model.network.apply({"params": params}, inputs)


def predict(model: DynamicsModel, observations: jax.Array, actions: jax.Array, elites_only: bool = True) -> Prediction:
    """Every (elite) member's prediction at `observations [batch, obs_dim]`, `actions [batch, action_dim]`."""
    x = (jnp.concatenate([observations, actions], axis=-1) - model.input_mean) / model.input_std
    params = jax.tree.map(lambda p: jnp.take(p, model.elites, axis=0), model.params) if elites_only else model.params
    n_members = jax.tree.leaves(params)[0].shape[0]
    net = GaussianEnsemble(n_members, model.hidden_dims, model.target_mean.shape[-1])
    mean, log_std = cast(tuple[jax.Array, jax.Array], net.apply({"params": params},
                                                                 jnp.broadcast_to(x, (n_members, *x.shape))))
    return Prediction(mean * model.target_std + model.target_mean, jnp.exp(log_std) * model.target_std, mean)


def termination_logits(params: Params, model: DynamicsModel, next_observations: jax.Array) -> jax.Array:
    """The learned classifier's logits that the episode ended on reaching `next_observations`: `[batch]`."""
    obs_dim = next_observations.shape[-1]
    x = (next_observations - model.input_mean[:obs_dim]) / model.input_std[:obs_dim]
    return cast(jax.Array, model.termination_network.apply({"params": params}, x))[..., 0]


class ModelStep(NamedTuple):
    """One imagined transition per row, and the ensemble's uncertainty about it."""

    next_observations: jax.Array  # [batch, obs_dim]
    rewards: jax.Array  # [batch]
    terminations: jax.Array  # [batch] bool
    aleatoric: jax.Array  # [batch] max over elites of the norm of the predicted std, in logged units (MOPO's u)
    spread: jax.Array  # [batch] max over elites of the distance of its mean from the elites' mean, logged units
    disagreement: jax.Array  # [batch] max distance between two elites' mean next observations (MOReL's disc)


def _to_logged(model: DynamicsModel) -> jax.Array:
    return jnp.concatenate([model.observation_std, jnp.reshape(1.0 / model.reward_scale, (1,))])


def aleatoric_uncertainty(model: DynamicsModel, prediction: Prediction) -> jax.Array:
    """MOPO's `max_i ||sigma_i(s, a)||_2` over the change in observation and the reward, in logged units: `[batch]`."""
    return jnp.max(jnp.linalg.norm(prediction.std * _to_logged(model), axis=-1), axis=0)


def ensemble_spread(model: DynamicsModel, prediction: Prediction) -> jax.Array:
    """`max_i ||mu_i(s, a) - mean_j mu_j(s, a)||_2` over the change in observation and the reward, in logged
    units (MOPO's code without `penalty_learned_var`, OfflineRL-Kit's "pairwise-diff"): `[batch]`."""
    means = prediction.mean * _to_logged(model)
    return jnp.max(jnp.linalg.norm(means - means.mean(axis=0), axis=-1), axis=0)


def disagreement(prediction: Prediction) -> jax.Array:
    """MOReL's `max_{i,j} ||f_i(s, a) - f_j(s, a)||_2` over the members' mean next observations, in units of
    the targets' std (so no observation dimension dominates): `[batch]`."""
    means = prediction.normalized_mean[..., :-1]
    gaps = means[:, None] - means[None, :]
    return jnp.max(jnp.linalg.norm(gaps, axis=-1), axis=(0, 1))


@jax.jit
def _disagreement_at(model: DynamicsModel, observations: jax.Array, actions: jax.Array) -> jax.Array:
    return disagreement(predict(model, observations, actions))


def disagreement_at(model: DynamicsModel, observations: np.ndarray, actions: np.ndarray,
                    chunk: int = 8192) -> np.ndarray:
    """`disagreement` at many `(s, a)` rows, `[rows]` as a NumPy array, computed in chunks of `chunk` rows."""
    return np.concatenate([np.asarray(_disagreement_at(model, jnp.asarray(observations[i:i + chunk]),
                                                       jnp.asarray(actions[i:i + chunk])))
                           for i in range(0, len(observations), chunk)])


def sample_step(model: DynamicsModel, observations: jax.Array, actions: jax.Array, key: PRNGKey) -> ModelStep:
    """Sample `(s', r)` from a random elite per row (MOPO's and MBPO's rollout), and decide termination."""
    member_key, noise_key = jax.random.split(key)
    prediction = predict(model, observations, actions)
    rows = jnp.arange(observations.shape[0])
    member = jax.random.randint(member_key, (observations.shape[0],), 0, prediction.mean.shape[0])
    mean, std = prediction.mean[member, rows], prediction.std[member, rows]
    sample = mean + std * jax.random.normal(noise_key, mean.shape)
    next_observations = observations + sample[:, :-1]
    logged_next = next_observations * model.observation_std + model.observation_mean
    logits = termination_logits(model.termination_params, model, next_observations)
    done = terminated(model.termination, logged_next, logits)
    return ModelStep(next_observations, sample[:, -1], done, aleatoric_uncertainty(model, prediction),
                     ensemble_spread(model, prediction), disagreement(prediction))
