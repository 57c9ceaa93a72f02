"""Metrics for judging OPE itself against ground truth (benchmarks only).

- `spearman(estimates, truths)`: rank correlation of estimated and true values over candidates.
- `regret_at_k(estimates, truths, k)`: DOPE's definition (Fu et al. 2021), `(max_pi J(pi) -
  max_{pi in top-k by estimate} J(pi)) / |max_pi J(pi)|`; 0 means the best policy is among the k picked.
  (SCOPE-RL's code uses a different, sum-of-gaps definition; this is not that one.)
- `normalized_absolute_error(estimates, truths)`: mean |estimate - truth| after min-max normalising
  both with the true values' range (DOPE's absolute error).
- `coverage(intervals, truths)`: share of intervals that contain the truth.
"""

from __future__ import annotations

import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):  # average ranks of ties
        ranks[x == value] = ranks[x == value].mean()
    return ranks


def spearman(estimates, truths) -> float:
    """Spearman rank correlation of estimates with true values (tied ranks averaged; NaN if one is constant)."""
    a, b = _ranks(np.asarray(estimates, float)), _ranks(np.asarray(truths, float))
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def regret_at_k(estimates, truths, k: int = 1) -> float:
    """Relative regret of the best true value among the top `k` by estimate: `(best - that) / |best|`."""
    estimates, truths = np.asarray(estimates, float), np.asarray(truths, float)
    top = np.argsort(-estimates, kind="stable")[:k]
    best = truths.max()
    return float((best - truths[top].max()) / max(abs(best), 1e-12))


def normalized_absolute_error(estimates, truths) -> float:
    """Mean absolute error divided by the spread (max - min) of the true values."""
    estimates, truths = np.asarray(estimates, float), np.asarray(truths, float)
    span = max(truths.max() - truths.min(), 1e-12)
    return float(np.mean(np.abs(estimates - truths)) / span)


def coverage(intervals, truths) -> float:
    """Share of the `[n, 2]` `(low, high)` intervals that contain their true value."""
    intervals, truths = np.asarray(intervals, float), np.asarray(truths, float)
    return float(np.mean((intervals[:, 0] <= truths) & (truths <= intervals[:, 1])))
