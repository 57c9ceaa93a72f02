"""Classic control tasks (CartPole-v1, Acrobot-v1) with a small zoo of epsilon-greedy behaviour policies.

The zoo's experts are transparent controllers rather than trained networks, so they ship as code:

- CartPole-v1: push right when `angle + 0.3 angular_velocity + 0.01 position + 0.1 velocity > 0`
  (returns 500, the maximum, on every seeded test episode);
- Acrobot-v1: apply +1 torque when `joint1_velocity + joint2_velocity > 0`, else -1 (energy pumping;
  mean return about -122 over 20 seeded episodes, where random play gets -500).

A behaviour policy takes the expert's action with probability `1 - epsilon` and a uniform action
otherwise; its propensities are exact, so logs can carry them. Ground truth for any policy comes
from Monte-Carlo rollouts in the simulator (`monte_carlo_value`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from tether.data import ActionSpace, LoggedDataset


def _cartpole_expert(obs: np.ndarray) -> np.ndarray:
    return (obs[:, 2] + 0.3 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)


def _acrobot_expert(obs: np.ndarray) -> np.ndarray:
    return np.where(obs[:, 4] + obs[:, 5] > 0, 2, 0).astype(np.int64)


@dataclass(frozen=True)
class ClassicTask:
    """A Gymnasium classic control task with a scripted expert, logged epsilon-greedy around it."""
    env_id: str
    n_actions: int
    expert: Callable[[np.ndarray], np.ndarray]

    def behavior_probs(self, observations: np.ndarray, epsilon: float) -> np.ndarray:
        """`[N, A]` epsilon-greedy probabilities around the expert."""
        probs = np.full((len(observations), self.n_actions), epsilon / self.n_actions)
        probs[np.arange(len(observations)), self.expert(observations)] += 1.0 - epsilon
        return probs


CLASSIC_TASKS = {"cartpole": ClassicTask("CartPole-v1", 2, _cartpole_expert),
                 "acrobot": ClassicTask("Acrobot-v1", 3, _acrobot_expert)}


def rollout(env_id: str, policy, n_episodes: int, seed: int = 0, gamma: float = 1.0):
    """Run `policy` (a learner, or `obs [N, d] -> probs [N, A] or actions [N]`) for `n_episodes`
    seeded episodes; returns `(episode arrays, discounted returns)`."""
    env = gym.make(env_id)
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise ValueError(f"env_id: {env_id} has {env.action_space}; rollout needs discrete actions")
    n_actions = int(env.action_space.n)
    space = ActionSpace.discrete(n_actions)
    act = policy.predict if hasattr(policy, "predict") else policy
    rng = np.random.default_rng(seed)
    episodes, returns = [], []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed * 100_003 + episode)
        rows: dict[str, Any] = {"obs": [], "action": [], "probs": [], "reward": [], "next": []}
        done, terminated, total, discount = False, False, 0.0, 1.0
        while not done:
            probs = space.probabilities(act(obs[None].astype(np.float32)))[0]
            action = int(rng.choice(n_actions, p=probs / probs.sum()))
            nxt, reward, terminated, truncated, _ = env.step(action)
            for key, value in zip(rows, (obs, action, probs, reward, nxt), strict=True):
                rows[key].append(value)
            total += discount * float(reward)
            discount *= gamma
            obs, done = nxt, terminated or truncated
        rows["terminated"] = terminated
        episodes.append(rows)
        returns.append(total)
    return episodes, np.asarray(returns)


def monte_carlo_value(env_id: str, policy, n_episodes: int = 100, seed: int = 0,
                      gamma: float = 1.0) -> tuple[float, float]:
    """Ground truth by simulation: `(mean discounted return, its standard error)`."""
    _, returns = rollout(env_id, policy, n_episodes, seed, gamma)
    return float(returns.mean()), float(returns.std(ddof=1) / np.sqrt(len(returns))) if len(returns) > 1 else 0.0


def make_classic_logs(task: str = "cartpole", epsilon: float = 0.3, n_episodes: int = 50, seed: int = 0,
                      log_propensities: bool = True) -> LoggedDataset:
    """Logs of the epsilon-greedy zoo policy on a classic control task, as a `LoggedDataset`."""
    spec = CLASSIC_TASKS[task]
    episodes, returns = rollout(spec.env_id, lambda o: spec.behavior_probs(o, epsilon), n_episodes, seed)
    ids = np.concatenate([np.full(len(e["action"]), i) for i, e in enumerate(episodes)])
    cat = {k: np.concatenate([np.asarray(e[k]) for e in episodes]) for k in ("obs", "action", "probs", "reward",
                                                                               "next")}
    ends = np.cumsum([len(e["action"]) for e in episodes]) - 1
    terminations = np.zeros(len(ids), bool)
    terminations[ends] = [e["terminated"] for e in episodes]
    truncations = np.zeros(len(ids), bool)
    truncations[ends] = [not e["terminated"] for e in episodes]
    probs = cat["probs"]
    return LoggedDataset.from_episode_ids(
        ids, observations=cat["obs"].astype(np.float32), actions=cat["action"].astype(np.int64),
        rewards=cat["reward"].astype(np.float32), terminations=terminations, truncations=truncations,
        action_space=ActionSpace.discrete(spec.n_actions), next_observations=cat["next"].astype(np.float32),
        behavior_log_probs=np.log(probs[np.arange(len(ids)), cat["action"]]) if log_propensities else None,
        action_probs=probs.astype(np.float32) if log_propensities else None,
        metadata={"source": f"tether.envs:{task}", "env_id": spec.env_id, "behavior": f"expert, epsilon={epsilon}",
                  "propensities_logged": log_propensities, "behavior_mean_return": float(returns.mean())})
