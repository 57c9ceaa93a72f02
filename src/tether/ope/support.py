"""Support checks: where would a candidate policy act outside what the logs show?

States are grouped into regions by k-means on standardised observations (`state_regions`). Then:

- discrete actions: for each logged state, the candidate's probability on actions the behaviour
  policy takes with probability below `rare` there (logged `action_probs`, else a fitted behaviour
  model); reported as the mean off-support mass per region;
- continuous actions: for each logged state, the distance from the candidate's action to the mean
  logged action of its `k` nearest logged states, in units of those actions' spread (a z-score);
  a state is off-support when that exceeds `z_max`.

A region fails when more than `max_off_support` of its states (discrete: of the candidate's mass)
is off support (checked on up to `max_states` logged states); the whole check fails when any region
holding at least 5% of the data fails.

`model_support_check` asks the same question of a dynamics ensemble fitted to the logs
(`tether.ope.model_based`): a logged state is off the model's support when, at the candidate's action,
the elites disagree more than on any logged step (MOReL's unknown state-action pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tether.data import LoggedDataset
from tether.ope.policy import as_policy


def state_regions(observations: np.ndarray, n_regions: int = 8, seed: int = 0, iters: int = 25):
    """`(labels [N], centers [k, d], mean, std)`: k-means (k-means++ start) on standardised observations."""
    mean = observations.mean(0, dtype=np.float64).astype(np.float32)  # float64 sums: no overflow on huge values
    std = (observations.std(0, dtype=np.float64) + 1e-6).astype(np.float32)
    x = (observations - mean) / std
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), min(len(x), 20_000), replace=False)]
    k = min(n_regions, len(np.unique(sample, axis=0)))
    seeds = [sample[rng.integers(len(sample))]]  # k-means++ seeding
    for _ in range(1, k):
        d = np.min(((sample[:, None] - np.asarray(seeds)[None]) ** 2).sum(-1), 1)
        seeds.append(sample[rng.choice(len(sample), p=d / d.sum())] if d.sum() > 0 else sample[0])
    centers = np.asarray(seeds)
    for _ in range(iters):
        labels = np.argmin(((sample[:, None] - centers[None]) ** 2).sum(-1), 1)
        centers = np.stack([sample[labels == j].mean(0) if np.any(labels == j) else centers[j] for j in range(k)])
    labels = np.concatenate([np.argmin(((chunk[:, None] - centers[None]) ** 2).sum(-1), 1)
                             for chunk in np.array_split(x, max(1, len(x) // 50_000))])
    return labels, centers, mean, std


@dataclass
class SupportReport:
    """The outcome of `support_check`: passed or not, the share off support overall and per state region."""
    passed: bool
    off_support: float  # overall share (discrete: probability mass) off support
    regions: list[dict]  # per region: size share, off-support share, centre (original units), passed
    method: str

    def worst_regions(self, n: int = 3) -> list[dict]:
        """The `n` regions with the largest off-support share."""
        return sorted(self.regions, key=lambda r: -r["off_support"])[:n]


def support_check(policy, dataset: LoggedDataset, n_regions: int = 8, rare: float = 0.05, z_max: float = 2.0,
                  k: int = 20, max_off_support: float = 0.2, max_states: int = 5_000, seed: int = 0) -> SupportReport:
    """Check the candidate against the logged support, per state region (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(dataset.n_steps, min(dataset.n_steps, max_states), replace=False))
    obs = dataset.observations[rows]
    labels, centers, mean, std = state_regions(obs, n_regions, seed)
    discrete = dataset.action_space.is_discrete
    target = as_policy(policy, n_actions=dataset.action_space.n if discrete else None)
    masks = None if dataset.action_masks is None else dataset.action_masks[rows]
    if discrete:
        if dataset.action_probs is not None:
            behaviour = dataset.action_probs[rows]
            method = "logged action_probs"
        else:
            from tether.ope.behavior import fit_behavior_model

            behaviour = fit_behavior_model(dataset, seed=seed).action_probs(obs, masks)
            method = "fitted behaviour model"
        off = (target.action_probs(obs, masks) * (behaviour < rare)).sum(1)
    else:
        x = (obs - mean) / std
        actions = dataset.actions[rows]
        candidate = np.asarray(target.actions(obs), np.float64)
        off = np.zeros(len(obs))
        squared = (x**2).sum(1)
        for start in range(0, len(obs), 2048):
            block = x[start:start + 2048]
            d = squared[start:start + 2048, None] + squared[None] - 2.0 * block @ x.T
            nn = np.argpartition(d, min(k, len(x) - 1), axis=1)[:, :k]
            neigh = actions[nn]  # [b, k, d]
            spread = np.sqrt(((neigh - neigh.mean(1, keepdims=True)) ** 2).sum(-1).mean(1)) + 1e-3
            z = np.linalg.norm(candidate[start:start + 2048] - neigh.mean(1), axis=1) / spread
            off[start:start + 2048] = (z > z_max).astype(float)
        method = f"distance to the mean action of the {k} nearest logged states, in their spread (z > {z_max})"
    return _by_region(labels, centers, mean, std, off, method, max_off_support)


def _by_region(labels: np.ndarray, centers: np.ndarray, mean: np.ndarray, std: np.ndarray, off: np.ndarray,
               method: str, max_off_support: float) -> SupportReport:
    regions = []
    for j in range(len(centers)):
        members = labels == j
        share, region_off = float(members.mean()), float(off[members].mean()) if members.any() else 0.0
        regions.append({"region": j, "share": share, "off_support": region_off,
                        "center": (centers[j] * std + mean).tolist(), "passed": region_off <= max_off_support})
    passed = all(r["passed"] or r["share"] < 0.05 for r in regions)
    return SupportReport(passed, float(off.mean()), regions, method)


def model_support_check(policy, dataset: LoggedDataset, model, n_regions: int = 8, max_off_support: float = 0.2,
                        max_states: int = 5_000, seed: int = 0) -> SupportReport:
    """Per state region, the share of logged states where the candidate's action takes the dynamics
    ensemble `model` (a `tether.ope.model_based.EvaluationModel`) beyond the elites' largest disagreement
    on the logged steps."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(dataset.n_steps, min(dataset.n_steps, max_states), replace=False))
    obs = dataset.observations[rows].astype(np.float32)
    labels, centers, mean, std = state_regions(obs, n_regions, seed)
    target = as_policy(policy, n_actions=model.discrete_actions)
    masks = None if dataset.action_masks is None else dataset.action_masks[rows]
    off = (model.disagreement(obs, model.encode(target.actions(obs, masks))) > model.logged_disagreement)
    method = ("dynamics ensemble: the elites disagree at the candidate's action more than on any logged step "
              f"(above {model.logged_disagreement:.3g})")
    return _by_region(labels, centers, mean, std, off.astype(float), method, max_off_support)
