"""Importance sampling and doubly robust estimators over variable-length episodes.

Notation (Precup 2000; Jiang & Li 2016; Thomas & Brunskill 2016): for episode i and step t,
`rho_t = pi(a_t|s_t) / pi_b(a_t|s_t)` and `w_{0:t} = prod_{k<=t} rho_k` (with `w_{0:-1} = 1`).

- IS:    mean_i  w_{0:T_i-1} G_i,  with `G_i = sum_t gamma^t r_t`
- PDIS:  mean_i  sum_t gamma^t w_{0:t} r_t
- WIS:   sum_i w_{0:T_i-1} G_i / sum_i w_{0:T_i-1}
- WPDIS: sum_t gamma^t sum_i w_{0:t} r_t / sum_i w_{0:t}
- DR:    mean_i  sum_t gamma^t [w_{0:t} (r_t - Q(s_t, a_t)) + w_{0:t-1} V(s_t)],  `V(s) = E_pi Q(s, .)`
- WDR:   DR with `w_{0:t}` replaced by `w_{0:t} / sum_j w_{0:t}^j`

Episodes of different lengths are padded after their end with zero reward and their last
cumulative weight, so each normaliser at step t counts every episode. The estimand is the expected
discounted return of an episode as logged (`gamma = 1`: the plain episode return).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tether.data import LoggedDataset


@dataclass(frozen=True)
class EpisodeTable:
    """Padded `[E, T]` per-step arrays of a dataset under a candidate policy."""

    rewards: np.ndarray  # zero after each episode's end
    ratios: np.ndarray  # pi / pi_b per step, 1 after the end
    discounts: np.ndarray  # [T] gamma^t
    q_logged: np.ndarray | None = None  # Q(s_t, a_t), zero after the end
    v_policy: np.ndarray | None = None  # V(s_t) = E_pi Q(s_t, .), zero after the end

    @property
    def cumulative(self) -> np.ndarray:
        """`[E, T]` w_{0:t} (carried past each episode's end)."""
        return np.cumprod(self.ratios, axis=1)

    @property
    def previous(self) -> np.ndarray:
        """`[E, T]` w_{0:t-1}, with w_{0:-1} = 1."""
        cum = self.cumulative
        return np.concatenate([np.ones((len(cum), 1)), cum[:, :-1]], axis=1)

    def select(self, episodes: np.ndarray) -> EpisodeTable:
        """The table restricted to `episodes` (indices into its rows), for bootstrap resamples."""
        pick = lambda x: None if x is None else x[episodes]  # noqa: E731
        return EpisodeTable(self.rewards[episodes], self.ratios[episodes], self.discounts, pick(self.q_logged),
                            pick(self.v_policy))


def pad_episodes(dataset: LoggedDataset, values: np.ndarray, fill: float) -> np.ndarray:
    """Per-step `values` `[N]` as `[E, T_max]`, filled with `fill` after each episode's end."""
    lengths = dataset.episode_lengths
    out = np.full((dataset.n_episodes, int(lengths.max())), fill, np.float64)
    steps = np.arange(dataset.n_steps) - np.repeat(dataset.episode_starts, lengths)
    out[dataset.episode_ids, steps] = values
    return out


def episode_table(dataset: LoggedDataset, target_log_probs: np.ndarray, behavior_log_probs: np.ndarray,
                  gamma: float, q_logged: np.ndarray | None = None,
                  v_policy: np.ndarray | None = None) -> EpisodeTable:
    """The padded table of `dataset` under a candidate's per-step `target_log_probs` (Q and V for DR)."""
    ratios = np.exp(np.clip(target_log_probs - behavior_log_probs, -50, 50))
    rewards = pad_episodes(dataset, dataset.rewards, 0.0)
    discounts = gamma ** np.arange(rewards.shape[1])
    q = None if q_logged is None else pad_episodes(dataset, q_logged, 0.0)
    v = None if v_policy is None else pad_episodes(dataset, v_policy, 0.0)
    return EpisodeTable(rewards, pad_episodes(dataset, ratios, 1.0), discounts, q, v)


# ---------------------------------------------------------------------------- estimators
def is_terms(t: EpisodeTable) -> np.ndarray:
    """Per-episode IS estimates `w_{0:T-1} G_i` (their mean is IS)."""
    return t.cumulative[:, -1] * (t.rewards * t.discounts).sum(1)


def pdis_terms(t: EpisodeTable) -> np.ndarray:
    """Per-episode PDIS terms `sum_t gamma^t w_{0:t} r_t` (their mean is PDIS)."""
    return (t.cumulative * t.rewards * t.discounts).sum(1)


def dr_terms(t: EpisodeTable) -> np.ndarray:
    """Per-episode doubly robust terms (their mean is DR; needs `q_logged` and `v_policy`)."""
    if t.q_logged is None:
        raise ValueError("doubly robust estimators need a Q model (fit FQE first)")
    return (t.discounts * (t.cumulative * (t.rewards - t.q_logged) + t.previous * t.v_policy)).sum(1)


def ordinary_is(t: EpisodeTable) -> float:
    """IS: the mean of `is_terms`."""
    return float(is_terms(t).mean())


def per_decision_is(t: EpisodeTable) -> float:
    """PDIS: the mean of `pdis_terms`."""
    return float(pdis_terms(t).mean())


def weighted_is(t: EpisodeTable) -> float:
    """WIS: full-episode weights normalised over episodes."""
    w = t.cumulative[:, -1]
    return float((w * (t.rewards * t.discounts).sum(1)).sum() / max(w.sum(), 1e-300))


def weighted_per_decision_is(t: EpisodeTable) -> float:
    """WPDIS: each step's cumulative weights normalised over episodes."""
    w = t.cumulative
    normalised = w / np.maximum(w.sum(0, keepdims=True), 1e-300)
    return float((normalised * t.rewards * t.discounts).sum())


def doubly_robust(t: EpisodeTable) -> float:
    """DR: the mean of `dr_terms`."""
    return float(dr_terms(t).mean())


def weighted_doubly_robust(t: EpisodeTable) -> float:
    """WDR (Thomas & Brunskill 2016): DR with self-normalised weights at every step."""
    if t.q_logged is None:
        raise ValueError("doubly robust estimators need a Q model (fit FQE first)")
    w = t.cumulative / np.maximum(t.cumulative.sum(0, keepdims=True), 1e-300)
    prev = t.previous / np.maximum(t.previous.sum(0, keepdims=True), 1e-300)
    return float((t.discounts * (w * (t.rewards - t.q_logged) + prev * t.v_policy)).sum())


ESTIMATORS = {"IS": ordinary_is, "PDIS": per_decision_is, "WIS": weighted_is, "WPDIS": weighted_per_decision_is,
              "DR": doubly_robust, "WDR": weighted_doubly_robust}
UNBIASED_TERMS = {"IS": is_terms, "PDIS": pdis_terms, "DR": dr_terms}


# ---------------------------------------------------------------------------- intervals
def bootstrap_interval(t: EpisodeTable, estimator, n_boot: int = 500, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap over episodes; self-normalised estimators renormalise within each resample."""
    rng = np.random.default_rng(seed)
    n = len(t.rewards)
    values = [estimator(t.select(rng.integers(0, n, n))) for _ in range(n_boot)]
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def empirical_bernstein_lower(x: np.ndarray, c: float, delta: float, n: int | None = None) -> float:
    """Maurer & Pontil (2009) lower bound on E[min(X, c)] for X >= 0, with probability 1 - delta;
    `n` (default `len(x)`) is the sample size the bound is computed for (used to tune `c`)."""
    n = len(x) if n is None else n
    y = np.minimum(x, c)
    log_term = np.log(2.0 / delta)
    return float(y.mean() - np.sqrt(2.0 * y.var(ddof=1) * log_term / n) - 7.0 * c * log_term / (3.0 * (n - 1)))


def high_confidence_lower_bound(terms: np.ndarray, weights: np.ndarray, floor: float, delta: float = 0.05,
                                seed: int = 0) -> float:
    """HCOPE-style (Thomas et al. 2015) 1 - delta lower bound on the policy's value from per-episode
    unbiased IS terms `w_i G_i`.

    The terms are shifted to `w_i (G_i - floor) >= 0`, with `floor` a lower bound on any episode's
    return (`weights` are the `w_i`; `E[w] = 1` with true propensities), truncated at a threshold
    `c` chosen on a third of the episodes to maximise the bound, and bounded on the other two thirds
    with the empirical
    Bernstein inequality. Truncation only lowers the mean, so the bound stays valid.
    """
    x = np.asarray(terms, np.float64) - floor * np.asarray(weights, np.float64)
    if len(x) < 10:
        return float("-inf")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    split = len(x) // 3
    tune, test = x[order[:split]], x[order[split:]]
    candidates = np.unique(np.quantile(tune, np.linspace(0.5, 1.0, 21))) if len(tune) > 1 else np.array([tune.max()])
    candidates = candidates[candidates > 0]
    if len(candidates) == 0:
        return float(floor)
    # choose c on the tuning split with the test split's size (Thomas et al.'s recipe)
    best = max(candidates, key=lambda c: empirical_bernstein_lower(tune, c, delta, len(test)))
    return float(floor + max(empirical_bernstein_lower(test, best, delta), 0.0))


# ---------------------------------------------------------------------------- diagnostics
def weight_diagnostics(t: EpisodeTable) -> dict[str, float]:
    """Effective sample size of the final and per-step weights (Kish), largest weight's share, mean weight."""
    final = t.cumulative[:, -1]
    ess = final.sum() ** 2 / max((final**2).sum(), 1e-300)
    per_step = t.cumulative.sum(0) ** 2 / np.maximum((t.cumulative**2).sum(0), 1e-300)
    n = len(final)
    return {"n_episodes": float(n), "ess": float(ess), "ess_fraction": float(ess / n),
            "min_step_ess_fraction": float(per_step.min() / n),
            "max_weight_share": float(final.max() / max(final.sum(), 1e-300)),
            "mean_weight": float(final.mean()), "zero_weight_fraction": float(np.mean(final == 0))}
