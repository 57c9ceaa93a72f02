"""Hidden persistent drivers without propensities: conditional-independence tests on the episode's history.

If the logged observation is the whole state that mattered, two things hold whatever the
behaviour policy was, as long as it acted on the logged state:

1. decisions: the action at step t is independent of the episode's earlier decisions given the
   observation at t (a Markov behaviour policy);
2. outcomes: the reward and the change of observation at step t are independent of the episode's
   earlier decisions and outcomes given the observation and action at t (Markov dynamics).

A persistent trait the log does not hold (a patient's frailty, a customer's intent) breaks both:
it shapes every decision of the episode, so earlier decisions predict the next one beyond the
observation; and it shapes every outcome, so outcomes cluster by episode beyond what observation
and action explain. The tests, on held-out episodes:

- `decision_persistence`: nats per step (per action dimension for continuous actions) by which the
  earlier decisions improve the behaviour model's held-out log-likelihood;
- `episode_outcome_share`: the share of the one-step outcomes' variance (reward and observation
  change, each standardised) that episode identity explains beyond observation and action.

Decision persistence alone can also come from a behaviour that remembers (a sticky habit, a
mixture of policies, one per episode); that changes what a learner imitates, not what an action
does, so outcomes stay Markov. Both together mean that whatever drives the decisions also drives
the outcomes: a learner comparing actions in the log compares patients, not treatments.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from tether.data import LoggedDataset
from tether.nets.fit import fit_early_stopped
from tether.nets.mlp import MLP
from tether.ope.behavior import BehaviorModel, fit_behavior_model


def action_features(data: LoggedDataset) -> np.ndarray:
    """`[N, k]` the logged actions as model inputs: one-hot for discrete actions, as they are otherwise."""
    if data.action_space.is_discrete:
        return np.eye(data.action_space.n_actions, dtype=np.float32)[data.actions]
    return np.asarray(data.actions, np.float32)


def earlier_mean(values: np.ndarray, data: LoggedDataset) -> tuple[np.ndarray, np.ndarray]:
    """`(previous, mean of all earlier)` rows of `values` `[N, k]` within each episode (zeros at an episode's start)."""
    starts = data.episode_starts
    first = np.zeros(data.n_steps, bool)
    first[starts] = True
    previous = np.zeros_like(values)
    previous[1:] = values[:-1]
    previous[first] = 0.0
    totals = np.cumsum(values, axis=0, dtype=np.float64)
    start_of_row = np.repeat(starts, data.episode_lengths)
    before_start = np.where(start_of_row[:, None] > 0, totals[np.maximum(start_of_row - 1, 0)], 0.0)
    earlier_sum = totals - values - before_start  # sum over the episode's rows before this one
    count = (np.arange(data.n_steps) - start_of_row)[:, None]
    return previous, (earlier_sum / np.maximum(count, 1)).astype(np.float32)


def decision_history(data: LoggedDataset) -> np.ndarray:
    """`[N, 1 + 2k]` per step: whether it starts its episode, the previous action, the mean of earlier actions."""
    first = np.zeros((data.n_steps, 1), np.float32)
    first[data.episode_starts] = 1.0
    previous, mean = earlier_mean(action_features(data), data)
    return np.concatenate([first, previous, mean], 1)


def decision_persistence(data: LoggedDataset, seed: int = 0, n_steps: int = 2000,
                         plain: BehaviorModel | None = None) -> dict:
    """How much the episode's earlier decisions add to a held-out behaviour model that sees the observation.

    `gain`: nats per step (per action dimension) the history adds; `relative`: that gain over what the
    observation adds to a state-blind model (above 1: earlier decisions predict the next one better
    than the observation does). `plain`: the behaviour model on observations, if already fitted with `seed`.
    """
    plain = plain or fit_behavior_model(data, n_steps=n_steps, seed=seed)
    features = np.concatenate([data.observations, decision_history(data)], 1)
    informed = fit_behavior_model(data, n_steps=n_steps, seed=seed, features=features)
    per = 1 if data.action_space.is_discrete else data.action_space.action_dim
    gain = (plain.heldout_nll - informed.heldout_nll) / per
    from_observation = (plain.baseline_nll - plain.heldout_nll) / per
    return {"nll_state_blind": plain.baseline_nll, "nll_observation": plain.heldout_nll,
            "nll_with_history": informed.heldout_nll, "gain": gain,
            "relative": gain / max(from_observation, 1e-3),
            "unit": "nats/step" if per == 1 else "nats/step per action dimension"}


def outcomes(data: LoggedDataset) -> np.ndarray:
    """`[N, 1 + d]` standardised one-step outcomes: the reward and the change of observation."""
    change = np.asarray(data.next_observations, np.float64) - data.observations
    y = np.concatenate([np.asarray(data.rewards, np.float64)[:, None], change], 1)
    spread = y.std(0)
    keep = spread > 1e-8  # constant outcomes (a feature that never changes) carry nothing
    return ((y[:, keep] - y[:, keep].mean(0)) / spread[keep]).astype(np.float32)


def episode_outcome_share(data: LoggedDataset, seed: int = 0, n_steps: int = 2000,
                          hidden_dims: tuple[int, ...] = (64, 64)) -> dict:
    """Share of the standardised one-step outcomes' variance that episode identity explains beyond
    observation and action: a one-way random-effects ANOVA of cross-fitted residuals, grouped by episode.

    The episodes are cut in two halves; an outcome model given observation and action is fitted on
    one half (early-stopped on a fifth of it) and gives the residuals of the other, and the other way
    round. The between-episode variance component of the residuals (method of moments: zero in
    expectation when outcomes are Markov in the logged state and the model is right) is divided by
    the outcomes' variance (1: they are standardised) and averaged over outcome dimensions.
    `standard_error` is that share's sampling error when there is no episode effect.
    """
    y = outcomes(data)
    if y.shape[1] == 0 or data.n_episodes < 4:
        return {"share": 0.0, "standard_error": 0.0, "residual_mse": 0.0}
    inputs = np.concatenate([data.observations, action_features(data)], 1)
    x = jnp.asarray((inputs - inputs.mean(0)) / (inputs.std(0) + 1e-3), jnp.float32)
    targets = jnp.asarray(y)
    net = MLP(hidden_dims, y.shape[1])
    order = np.random.default_rng(seed).permutation(data.n_episodes)
    residuals = np.zeros(y.shape, np.float64)
    for fold in (order[: data.n_episodes // 2], order[data.n_episodes // 2:]):
        rows = np.isin(data.episode_ids, fold)
        others = np.setdiff1d(order, fold)
        stop = np.isin(data.episode_ids, others[: max(1, len(others) // 5)])
        params, _ = fit_early_stopped(net, x, lambda out, r: jnp.mean((out - targets[r]) ** 2),
                                      np.flatnonzero(~rows & ~stop), np.flatnonzero(stop), n_steps, seed)
        residuals[rows] = np.asarray(net.apply(params, x[rows]), np.float64) - y[rows]
    sizes, group = data.episode_lengths, data.episode_ids
    n, k = data.n_steps, data.n_episodes
    means = np.stack([np.bincount(group, weights=column, minlength=k) / sizes for column in residuals.T], 1)
    within = ((residuals - means[group]) ** 2).sum(0) / max(n - k, 1)
    between_mean_square = (sizes[:, None] * (means - residuals.mean(0)) ** 2).sum(0) / (k - 1)
    typical_size = max((n - (sizes**2).sum() / n) / (k - 1), 1e-9)
    between = (between_mean_square - within) / typical_size
    return {"share": float(between.mean()),
            "standard_error": float(within.mean() / typical_size * np.sqrt(2.0 / (k - 1))),
            "residual_mse": float((residuals**2).mean())}


def hidden_drivers(data: LoggedDataset, seed: int = 0, behavior: BehaviorModel | None = None) -> dict:
    """Both tests on the same split: `decisions` (`decision_persistence`) and `outcomes` (`episode_outcome_share`)."""
    if data.n_episodes < 10:
        return {"checked": False, "reason": "fewer than 10 episodes"}
    return {"checked": True, "decisions": decision_persistence(data, seed=seed, plain=behavior),
            "outcomes": episode_outcome_share(data, seed=seed)}
