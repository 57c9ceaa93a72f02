"""Behaviour models: propensities estimated from the logs when they were not logged.

Discrete actions: a softmax MLP classifier `pi_b(a|s)` (masked actions get probability 0).
Continuous actions: a Gaussian MLP with a state-dependent mean and a learned diagonal log-std, giving
log-densities `log pi_b(a|s)`. Both train with Adam on 80% of episodes and stop early: the weights
kept are those with the lowest negative log-likelihood on the other 20%. Discrete models are then
calibrated on those held-out episodes: a temperature on the logits and a mixture with the state-blind
action frequencies, so no propensity falls to the 1e-10 an overconfident classifier gives a rare
action. The held-out negative log-likelihood is reported against a state-blind baseline (action
frequencies, or one Gaussian), because an estimate built on a poor behaviour model inherits its error:
`BehaviorModel.worse_than_state_blind` says when the model should not be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tether.data import LoggedDataset
from tether.nets.fit import fit_early_stopped
from tether.nets.mlp import MLP


@dataclass
class BehaviorModel:
    """A fitted behaviour policy; `log_prob(obs, actions, masks)` and, if discrete, `action_probs`."""

    discrete: bool
    params: Any
    mean: np.ndarray
    std: np.ndarray
    heldout_nll: float
    baseline_nll: float
    net: MLP
    n_outputs: int
    heldout_rows: np.ndarray | None = None
    temperature: float = 1.0  # discrete: logits are divided by it
    blend: float = 0.0  # discrete: share of the state-blind action frequencies mixed into the probabilities
    frequencies: np.ndarray | None = None  # discrete: the state-blind action frequencies

    @property
    def worse_than_state_blind(self) -> bool:
        """Whether the model explains held-out actions worse than ignoring the state does."""
        return self.heldout_nll > self.baseline_nll

    def _out(self, observations: np.ndarray) -> jax.Array:
        return jnp.asarray(self.net.apply(self.params, jnp.asarray((observations - self.mean) / self.std, jnp.float32)))

    def action_probs(self, observations: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Discrete: `[N, A]` modelled behaviour probabilities (masked actions get zero)."""
        logits = np.asarray(self._out(observations), np.float64) / self.temperature
        return _calibrated(logits, masks, self.blend, self.frequencies)

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


TEMPERATURES = np.exp(np.linspace(np.log(0.5), np.log(8.0), 13))
BLENDS = (0.0, 0.01, 0.03, 0.1, 0.2, 0.4)


def _calibrated(logits: np.ndarray, masks: np.ndarray | None, blend: float, frequencies: np.ndarray | None
                ) -> np.ndarray:
    """Softmax of `logits` over allowed actions, mixed with the state-blind frequencies by `blend`."""
    if masks is not None:
        logits = np.where(masks, logits, -np.inf)
    logits = logits - logits.max(1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(1, keepdims=True)
    if blend > 0 and frequencies is not None:
        prior = np.broadcast_to(frequencies, probs.shape).copy()
        if masks is not None:
            prior = np.where(masks, prior, 0.0)
        probs = (1 - blend) * probs + blend * prior / prior.sum(1, keepdims=True)
    return probs


def _calibrate(logits: np.ndarray, masks: np.ndarray | None, actions: np.ndarray, frequencies: np.ndarray
               ) -> tuple[float, float, float]:
    """`(temperature, blend, held-out NLL)` minimising the held-out negative log-likelihood on a grid."""
    best = (1.0, 0.0, float("inf"))
    rows = np.arange(len(actions))
    for temperature in TEMPERATURES:
        for blend in BLENDS:
            probs = _calibrated(logits / temperature, masks, blend, frequencies)
            loss = float(-np.mean(np.log(np.maximum(probs[rows, actions], 1e-300))))
            if loss < best[2]:
                best = (float(temperature), float(blend), loss)
    return best


def heldout_split(data: LoggedDataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`(train rows, held-out rows)`: the behaviour models' split of whole episodes (a fifth held out)."""
    episodes = np.random.default_rng(seed).permutation(data.n_episodes)
    held = np.isin(data.episode_ids, episodes[: max(1, data.n_episodes // 5)])
    return np.flatnonzero(~held if (~held).any() else held), np.flatnonzero(held)


def fit_behavior_model(dataset: LoggedDataset, n_steps: int = 3000, hidden_dims: tuple[int, ...] = (64, 64),
                       seed: int = 0, features: np.ndarray | None = None) -> BehaviorModel:
    """Fit `pi_b(a|s)` to the logged actions (see the module docstring).

    `features` (`[N, k]`, default: the observations) is what the model sees of each step; the held-out
    episodes depend only on `seed` and the number of episodes, so two models fitted with the same seed
    on different features are compared on the same held-out steps.
    """
    train_rows, held_index = heldout_split(dataset, seed)
    held = np.zeros(dataset.n_steps, bool)
    held[held_index] = True
    train = np.zeros(dataset.n_steps, bool)
    train[train_rows] = True
    inputs = dataset.observations if features is None else features
    mean = inputs.mean(0, dtype=np.float64).astype(np.float32)  # float64 sums: no overflow
    std = (inputs.std(0, dtype=np.float64) + 1e-3).astype(np.float32)
    x = jnp.asarray((inputs - mean) / std, jnp.float32)
    discrete = dataset.action_space.is_discrete
    n_out = dataset.action_space.n_actions if discrete else 2 * dataset.action_space.action_dim
    actions = jnp.asarray(dataset.actions, jnp.int32 if discrete else jnp.float32)
    masks = jnp.asarray(dataset.action_masks if dataset.action_masks is not None and discrete
                        else np.ones((dataset.n_steps, n_out if discrete else 1), bool))
    net = MLP(hidden_dims, n_out)

    def nll(out, rows):
        if discrete:
            logits = jnp.where(masks[rows], out, -1e9)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), actions[rows][:, None], 1))
        d = n_out // 2
        mu, log_std = out[:, :d], jnp.clip(out[:, d:], -5, 2)
        z = (actions[rows] - mu) / jnp.exp(log_std)
        return jnp.mean(jnp.sum(0.5 * z**2 + log_std + 0.5 * jnp.log(2 * jnp.pi), 1))

    params, best_nll = fit_early_stopped(net, x, nll, train_rows, held_index, n_steps, seed)
    temperature, blend, freq = 1.0, 0.0, None
    if discrete:
        counts = np.bincount(dataset.actions[train], minlength=n_out) + 1.0
        freq = counts / counts.sum()
        baseline = float(-np.mean(np.log(freq[dataset.actions[held]])))
        logits = np.asarray(net.apply(params, x[held_index]), np.float64)
        held_masks = None if dataset.action_masks is None else dataset.action_masks[held_index]
        temperature, blend, heldout = _calibrate(logits, held_masks, dataset.actions[held_index], freq)
    else:
        heldout = best_nll
        a = dataset.actions
        mu, sd = a[train].mean(0), a[train].std(0) + 1e-6
        baseline = float(np.mean(np.sum(0.5 * ((a[held] - mu) / sd) ** 2 + np.log(sd) + 0.5 * np.log(2 * np.pi), 1)))
    return BehaviorModel(discrete, params, mean, std, heldout, baseline, net, n_out, heldout_rows=held_index,
                         temperature=temperature, blend=blend, frequencies=freq)
