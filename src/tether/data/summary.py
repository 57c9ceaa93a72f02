"""A dataset card: the numbers a practitioner reads before anything else."""

from __future__ import annotations

from typing import Any

import numpy as np

from tether.data.dataset import LoggedDataset


def _percentiles(values: np.ndarray) -> dict[str, float]:
    q = np.percentile(values, [0, 25, 50, 75, 100])
    return {"min": float(q[0]), "p25": float(q[1]), "median": float(q[2]), "p75": float(q[3]), "max": float(q[4]),
            "mean": float(values.mean()), "std": float(values.std())}


def summarize(dataset: LoggedDataset) -> dict[str, Any]:
    """Sizes, horizons, returns, rewards, action space and what the log lets you do (JSON-serialisable)."""
    lengths = dataset.episode_lengths
    returns = dataset.episode_returns()
    terminated = dataset.episode_terminated()
    card: dict[str, Any] = {
        "name": dataset.metadata.get("name"),
        "source": dataset.metadata.get("source"),
        "env_id": dataset.metadata.get("env_id"),
        "steps": dataset.n_steps,
        "episodes": dataset.n_episodes,
        "observation_dim": dataset.observation_dim,
        "action_space": dataset.action_space.to_json(),
        "action_space_inferred": dataset.metadata.get("action_space_inferred"),
        "episode_length": _percentiles(lengths.astype(np.float64)),
        "terminated_share": float(terminated.mean()),
        "truncated_share": float(1.0 - terminated.mean()),
        "trailing_partial_episode": bool(dataset.metadata.get("trailing_partial_episode", False)),
        "episode_return": _percentiles(returns),
        "reward": {"mean": float(dataset.rewards.mean(dtype=np.float64)),
                   "std": float(dataset.rewards.std(dtype=np.float64)),
                   "zero_share": float(np.mean(dataset.rewards == 0.0))},
        "propensities_logged": dataset.logged_log_propensities() is not None,
        "action_probs_logged": dataset.action_probs is not None,
        "next_observations_logged": dataset.next_observations is not None,
        "fingerprint": dataset.fingerprint()[:16],
    }
    low, high = dataset.metadata.get("ref_min_score"), dataset.metadata.get("ref_max_score")
    if low is not None and high is not None:
        card["normalized_return"] = _percentiles(100.0 * (returns - low) / (high - low))
        card["reference_scores"] = {"ref_min_score": low, "ref_max_score": high}
    if dataset.action_space.is_discrete:
        counts = np.bincount(dataset.actions, minlength=dataset.action_space.n_actions)
        card["action_counts"] = counts.tolist()
    return card
