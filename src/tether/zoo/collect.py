"""Roll a behaviour policy out in several environments at once and log a `LoggedDataset`.

Episode `k` is reset with seed `seed * 1_000_003 + k` and draws its action noise from its own
generator `default_rng([seed, k])`, so the data do not depend on how many environments run side
by side. Policy inference is batched across the environments, so the policy is not the bottleneck.
Like D4RL, whole episodes are collected in order and the arrays are cut at exactly `n_steps`:
the last episode may be cut mid-way, and is then flagged truncated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tether.data import ActionSpace, LoggedDataset
from tether.envs import get_task, make_env
from tether.zoo.policy import ZooPolicy


@dataclass
class _Episode:
    index: int
    rng: np.random.Generator
    observations: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    log_probs: list = field(default_factory=list)
    next_observations: list = field(default_factory=list)
    terminated: bool = False


def rollout(task_name: str, policy: ZooPolicy | None, n_steps: int, seed: int = 0, n_envs: int = 8,
            progress: Callable[[int], None] | None = None) -> LoggedDataset:
    """Collect `n_steps` steps of `policy` (None: uniform random actions) on a MuJoCo task.

    Actions are sampled from the stochastic policy (as D4RL did) and their log-probabilities
    recorded; uniform actions on `[-1, 1]^d` have log-density `-d log 2`.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    task = get_task(task_name)
    envs = [make_env(task.name) for _ in range(n_envs)]
    slots: list[_Episode | None] = [None] * n_envs
    observations = [np.empty(0, np.float32)] * n_envs  # each env's current observation, set as its episode starts
    done: dict[int, _Episode] = {}
    next_index, started_steps = 0, 0
    uniform_log_prob = -task.action_dim * np.log(2.0)
    while True:
        for i in range(n_envs):  # start episodes while the started ones may not cover n_steps yet
            if slots[i] is None and started_steps < n_steps:
                slots[i] = _Episode(next_index, np.random.default_rng([seed, next_index]))
                observations[i], _ = envs[i].reset(seed=seed * 1_000_003 + next_index)
                next_index += 1
        live = {i: slot for i, slot in enumerate(slots) if slot is not None}
        active = list(live)
        if not active:
            break
        batch = np.stack([observations[i] for i in active]).astype(np.float32)
        if policy is not None:
            # one 1-row product per env: BLAS rounds a stacked product differently by its row count,
            # and a dataset must not depend on how many envs generated it
            mean, log_std = (x[:, 0] for x in policy.distribution(batch[:, None, :]))
            noise = np.stack([live[i].rng.standard_normal(task.action_dim) for i in active]).astype(np.float32)
            pre_tanh = mean + np.exp(log_std) * noise
            actions = np.tanh(pre_tanh).astype(np.float32)
            log_probs = ZooPolicy.log_prob_pre_tanh(pre_tanh, mean, log_std)
        else:
            actions = np.stack([live[i].rng.uniform(-1.0, 1.0, task.action_dim) for i in active]).astype(np.float32)
            log_probs = np.full(len(active), uniform_log_prob)
        for row, i in enumerate(active):
            episode = live[i]
            next_obs, reward, terminated, truncated, _ = envs[i].step(actions[row])
            episode.observations.append(batch[row])
            episode.actions.append(actions[row])
            episode.rewards.append(reward)
            episode.log_probs.append(log_probs[row])
            episode.next_observations.append(next_obs)
            started_steps += 1
            observations[i] = next_obs
            if terminated or truncated:
                episode.terminated = bool(terminated)
                done[episode.index] = episode
                slots[i] = None
        if progress is not None:
            progress(len(active))
    return _assemble(task, [done[k] for k in sorted(done)], n_steps)


def _assemble(task, episodes: list[_Episode], n_steps: int) -> LoggedDataset:
    lengths = np.array([len(e.rewards) for e in episodes])
    keep = int(np.searchsorted(np.cumsum(lengths), n_steps) + 1)
    episodes, lengths = episodes[:keep], lengths[:keep]
    terminations = np.zeros(int(lengths.sum()), bool)
    truncations = np.zeros_like(terminations)
    ends = np.cumsum(lengths) - 1
    for episode, end in zip(episodes, ends, strict=True):
        (terminations if episode.terminated else truncations)[end] = True
    cat = lambda name, dtype: np.concatenate([np.asarray(getattr(e, name), dtype) for e in episodes])[:n_steps]  # noqa: E731
    terminations, truncations = terminations[:n_steps], truncations[:n_steps]
    if not (terminations[-1] or truncations[-1]):
        truncations[-1] = True  # cut mid-episode by the dataset size: the log ends, the episode did not
    return LoggedDataset(
        observations=cat("observations", np.float32), actions=cat("actions", np.float32),
        rewards=cat("rewards", np.float32), terminations=terminations, truncations=truncations,
        episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]),  # all below n_steps by `keep`
        action_space=ActionSpace.continuous(-np.ones(task.action_dim), np.ones(task.action_dim)),
        next_observations=cat("next_observations", np.float32), behavior_log_probs=cat("log_probs", np.float64),
        metadata={"env_id": task.env_id})
