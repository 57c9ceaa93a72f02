"""Behaviour models: propensities estimated from the logs when they were not logged.

Discrete actions: a softmax MLP classifier `pi_b(a|s)` (masked actions get probability 0).
Continuous actions: a Gaussian MLP with a state-dependent mean and a learned diagonal log-std, giving
log-densities `log pi_b(a|s)`. Both train with Adam on 80% of episodes; the held-out negative
log-likelihood (against a state-blind baseline: action frequencies, or one Gaussian) is reported,
because an estimate built on a poor behaviour model inherits its error.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tether.data import LoggedDataset
from tether.nets.mlp import MLP


@dataclass
class BehaviorModel:
    """A fitted behaviour policy; `log_prob(obs, actions, masks)` and, if discrete, `action_probs`."""

    discrete: bool
    params: dict
    mean: np.ndarray
    std: np.ndarray
    heldout_nll: float
    baseline_nll: float
    net: MLP
    n_outputs: int
    heldout_rows: np.ndarray | None = None

    def _out(self, observations: np.ndarray) -> jax.Array:
        return jnp.asarray(self.net.apply(self.params, jnp.asarray((observations - self.mean) / self.std, jnp.float32)))

    def action_probs(self, observations: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Discrete: `[N, A]` modelled behaviour probabilities (masked actions get zero)."""
        logits = np.asarray(self._out(observations), np.float64)
        if masks is not None:
            logits = np.where(masks, logits, -np.inf)
        logits -= logits.max(1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(1, keepdims=True)

    def mean_action(self, observations: np.ndarray) -> np.ndarray:
        """Continuous: the model's mean action per state (its best single guess of the logged action)."""
        return np.asarray(self._out(observations), np.float64)[:, : self.n_outputs // 2]

    def log_prob(self, observations: np.ndarray, actions: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """`[N]` modelled log pi_b of the given actions (a log-density for continuous actions)."""
        if self.discrete:
            probs = self.action_probs(observations, masks)[np.arange(len(actions)), np.asarray(actions, int)]
            return np.log(np.maximum(probs, 1e-300))
        out = np.asarray(self._out(observations), np.float64)
        d = self.n_outputs // 2
        mu, log_std = out[:, :d], np.clip(out[:, d:], -5, 2)
        z = (np.asarray(actions) - mu) / np.exp(log_std)
        return (-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi)).sum(1)


def fit_behavior_model(dataset: LoggedDataset, n_steps: int = 3000, hidden_dims: tuple[int, ...] = (64, 64),
                       seed: int = 0) -> BehaviorModel:
    """Fit `pi_b(a|s)` to the logged actions (see the module docstring)."""
    rng = np.random.default_rng(seed)
    episodes = rng.permutation(dataset.n_episodes)
    held = np.isin(dataset.episode_ids, episodes[: max(1, dataset.n_episodes // 5)])
    train = ~held if (~held).any() else held
    mean = dataset.observations.mean(0, dtype=np.float64).astype(np.float32)  # float64 sums: no overflow
    std = (dataset.observations.std(0, dtype=np.float64) + 1e-3).astype(np.float32)
    x = jnp.asarray((dataset.observations - mean) / std, jnp.float32)
    discrete = dataset.action_space.is_discrete
    n_out = dataset.action_space.n_actions if discrete else 2 * dataset.action_space.action_dim
    actions = jnp.asarray(dataset.actions, jnp.int32 if discrete else jnp.float32)
    masks = jnp.asarray(dataset.action_masks if dataset.action_masks is not None and discrete
                        else np.ones((dataset.n_steps, n_out if discrete else 1), bool))
    net = MLP(hidden_dims, n_out)
    params = net.init(jax.random.PRNGKey(seed), x[:1])
    tx = optax.adam(1e-3)

    def nll(p, index):
        out = net.apply(p, x[index])
        if discrete:
            logits = jnp.where(masks[index], out, -1e9)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), actions[index][:, None], 1))
        d = n_out // 2
        mu, log_std = out[:, :d], jnp.clip(out[:, d:], -5, 2)
        z = (actions[index] - mu) / jnp.exp(log_std)
        return jnp.mean(jnp.sum(0.5 * z**2 + log_std + 0.5 * jnp.log(2 * jnp.pi), 1))

    train_index = jnp.asarray(np.flatnonzero(train))

    def step(carry, key):
        p, opt = carry
        index = train_index[jax.random.randint(key, (256,), 0, len(train_index))]
        grads = jax.grad(nll)(p, index)
        updates, opt = tx.update(grads, opt, p)
        return (optax.apply_updates(p, updates), opt), None

    keys = jax.random.split(jax.random.PRNGKey(seed), n_steps)
    (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))((params, tx.init(params)), keys)
    held_index = np.flatnonzero(held)
    heldout = float(nll(params, jnp.asarray(held_index)))
    if discrete:
        freq = np.bincount(dataset.actions[train], minlength=n_out) + 1.0
        baseline = float(-np.mean(np.log((freq / freq.sum())[dataset.actions[held]])))
    else:
        a = dataset.actions
        mu, sd = a[train].mean(0), a[train].std(0) + 1e-6
        baseline = float(np.mean(np.sum(0.5 * ((a[held] - mu) / sd) ** 2 + np.log(sd) + 0.5 * np.log(2 * np.pi), 1)))
    model = BehaviorModel(discrete, params, mean, std, heldout, baseline, net, n_out)
    model.heldout_rows = held_index
    return model
