"""Finite decision processes with exact ground truth: the core of tether's logged-decision simulators.

A `FiniteMDP` holds every state's transition probabilities, rewards, action mask and the features a
logged row (and any learned policy) sees. Some states may differ only in what the features hide
(a confounder): a policy acting on features must then act alike in them, while a behaviour policy
given as a table over states may not. Because everything is a table, the value of any policy is
exact, by backward induction over the horizon:

    V_H = 0,   V_t(s) = sum_a pi(a|s) sum_s' P(s'|s,a) [R(s,a,s') + gamma V_{t+1}(s')]   (V_t = 0 at terminals)

and `value(policy) = sum_s mu(s) V_0(s)`: the expected return of an episode cut at `horizon` steps,
discounted with `gamma` (1.0: the plain undiscounted episode return). Logs come from
`make_logs(behavior, n_episodes, ...)`, with propensities logged or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from tether.data import ActionSpace, LoggedDataset


class Predictor(Protocol):
    """Anything with a learner's `predict(observations, action_masks=...)`."""
    def predict(self, observations: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray: ...


PolicyLike = np.ndarray | Callable[[np.ndarray, np.ndarray], np.ndarray] | Predictor
"""A table `[S, A]` of probabilities over states, a function `(features [N, d], masks [N, A]) ->`
probabilities `[N, A]` or actions `[N]`, or a learner with `predict(observations, action_masks=...)`."""


def _sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of `probs` `[N, K]`."""
    cumulative = np.cumsum(probs, axis=1)
    draws = rng.random((len(probs), 1)) * cumulative[:, -1:]
    return np.minimum((draws >= cumulative).sum(axis=1), probs.shape[1] - 1)


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite-horizon decision process given by tables.

    Attributes:
        name: simulator name (goes into logs' metadata).
        transitions: `[S, A, S]` probabilities `P(s' | s, a)`.
        rewards: `[S, A, S]` reward of the step `(s, a, s')`.
        initial: `[S]` start distribution.
        terminal: `[S]` bool; terminal states end an episode (a termination) and are never acted in.
        features: `[S, d]` what a log row and a policy see of each state.
        action_masks: `[S, A]` bool, the actions allowed in each state.
        horizon: steps after which an episode is cut (a truncation).
        action_names, feature_names: for reports.
        state_labels: `[S]` readable description of each state (hidden parts included).
        reward_noise: standard deviation of zero-mean Gaussian noise added to each sampled reward
            (it leaves every exact value unchanged).
        info: the generative story's parameters, copied into logs' metadata.

    Example:
        Exact values by dynamic programming, and a log whose metadata carries the logging policy's
        true value:

        >>> from tether.envs import fraud_review_queue
        >>> from tether.envs.fraud import behavior_policy, reviewer_habit
        >>> mdp = fraud_review_queue()
        >>> mdp.n_states, mdp.n_actions, mdp.action_names
        (20, 3, ('approve', 'review', 'decline'))
        >>> [round(mdp.value(table), 2) for table in (behavior_policy(mdp), reviewer_habit(mdp), mdp.greedy_table())]
        [4.22, 7.37, 9.39]
        >>> round(mdp.optimal_value(), 2)  # acting on the time step too: a little above the stationary greedy rule
        9.41
        >>> logs = mdp.make_logs(behavior_policy(mdp), n_episodes=100, seed=0)
        >>> round(logs.metadata["true_behavior_value"], 2)
        4.22
    """

    name: str
    transitions: np.ndarray
    rewards: np.ndarray
    initial: np.ndarray
    terminal: np.ndarray
    features: np.ndarray
    action_masks: np.ndarray
    horizon: int
    action_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    state_labels: tuple[str, ...] = ()
    reward_noise: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s, a = self.action_masks.shape
        if self.transitions.shape != (s, a, s) or self.rewards.shape != (s, a, s):
            raise ValueError(f"transitions and rewards must be [S, A, S] = [{s}, {a}, {s}]")
        if not np.allclose(self.transitions.sum(-1), 1.0, atol=1e-6):
            raise ValueError("each transitions[s, a] must sum to 1")
        if not np.isclose(self.initial.sum(), 1.0) or np.any(self.initial[self.terminal] > 0):
            raise ValueError("initial must be a distribution over non-terminal states")
        if not self.action_masks.any(axis=1).all():
            raise ValueError("every state must allow at least one action")

    # ------------------------------------------------------------------ sizes
    @property
    def n_states(self) -> int:
        """Number of states `S`."""
        return int(self.action_masks.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions `A`."""
        return int(self.action_masks.shape[1])

    @property
    def expected_rewards(self) -> np.ndarray:
        """`[S, A]` expected reward `sum_s' P(s'|s,a) R(s,a,s')`."""
        return np.einsum("ijk,ijk->ij", self.transitions, self.rewards)

    # ------------------------------------------------------------------ policies
    def policy_table(self, policy: PolicyLike) -> np.ndarray:
        """`[S, A]` action probabilities of `policy` in every state (checked against the masks)."""
        if isinstance(policy, np.ndarray):
            table = np.asarray(policy, np.float64)
        else:
            features = self.features.astype(np.float32)
            masks = self.action_masks
            predict = getattr(policy, "predict", None)
            if predict is not None:
                out = np.asarray(predict(features, action_masks=masks))
            elif callable(policy):
                out = np.asarray(policy(features, masks))
            else:
                raise TypeError(f"policy: a {type(policy).__name__} is not a table, a function or a learner")
            table = ActionSpace.discrete(self.n_actions).probabilities(out)
        if table.shape != (self.n_states, self.n_actions):
            raise ValueError(f"policy table has shape {table.shape}, expected {(self.n_states, self.n_actions)}")
        live = ~self.terminal
        if not np.allclose(table[live].sum(1), 1.0, atol=1e-5):
            raise ValueError("policy rows must be probability distributions")
        if np.any(table[live][~self.action_masks[live]] > 1e-8):
            raise ValueError("policy puts probability on actions the state's mask forbids")
        return table

    def feature_policy(self, table: np.ndarray) -> np.ndarray:
        """Project a state table onto what features allow: states with equal features get the
        `initial`-and-visit-weighted average of their rows (how a learner that sees only features
        would copy the policy)."""
        keys = [f.tobytes() for f in self.features.astype(np.float32)]
        weights = self.state_visits(table) + 1e-12
        out = table.copy()
        for key in set(keys):
            group = [i for i, k in enumerate(keys) if k == key]
            out[group] = np.average(table[group], axis=0, weights=weights[group])
        return out

    # ------------------------------------------------------------------ exact values
    def q_values(self, policy: PolicyLike, gamma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """`(V [H+1, S], Q [H, S, A])`: exact values at every step to go under `policy`."""
        table = self.policy_table(policy)
        v = np.zeros((self.horizon + 1, self.n_states))
        q = np.zeros((self.horizon, self.n_states, self.n_actions))
        live = ~self.terminal
        for t in range(self.horizon - 1, -1, -1):
            q[t] = self._backup(v[t + 1], gamma)
            q[t][self.terminal] = 0.0
            v[t] = np.where(live, (table * q[t]).sum(1), 0.0)
        return v, q

    def value(self, policy: PolicyLike, gamma: float = 1.0) -> float:
        """Exact expected return of `policy` over an episode (cut at `horizon`), discounted by `gamma`."""
        v, _ = self.q_values(policy, gamma)
        return float(self.initial @ v[0])

    def _backup(self, v: np.ndarray, gamma: float) -> np.ndarray:
        """`[S, A]` one-step values `sum_s' P(s'|s,a) [R(s,a,s') + gamma v(s')]`."""
        return np.einsum("ijk,ijk->ij", self.transitions, self.rewards + gamma * v[None, None, :])

    def _optimal(self, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """`(V_0 [S], Q_0 [S, A])` of the best full-state, time-dependent policy over the horizon."""
        v = np.zeros(self.n_states)
        q = np.zeros((self.n_states, self.n_actions))
        for _ in range(self.horizon):
            q = self._backup(v, gamma)
            v = np.where(self.terminal, 0.0, np.where(self.action_masks, q, -np.inf).max(1))
        return v, q

    def optimal_value(self, gamma: float = 1.0) -> float:
        """Best value any policy could reach seeing the full state and the time step (an upper bound
        for policies that see only features)."""
        return float(self.initial @ self._optimal(gamma)[0])

    def greedy_table(self, gamma: float = 1.0) -> np.ndarray:
        """`[S, A]` stationary policy greedy in the optimal first-step Q (masked; ties to the lowest action).

        It sees full states, so with hidden features it is a reference, not a feature policy."""
        q = self._optimal(gamma)[1]
        return np.eye(self.n_actions)[np.where(self.action_masks, q, -np.inf).argmax(1)]

    def certainty_equivalent_table(self, logs: LoggedDataset) -> np.ndarray:
        """`[S, A]` the policy a learner that trusts `logs` (made by `make_logs`) would pick: greedy, over the
        horizon, in the MDP the logs estimate on the logged features (transition frequencies, mean rewards).

        Where a hidden feature drives both the logged decisions and the outcomes, this is the policy the logs
        recommend, and its true value (`value`) says whether they mislead."""
        if logs.next_observations is None:
            raise ValueError("logs without next_observations: pass logs made by make_logs")
        keys, feature_of_state = np.unique(self.features.astype(np.float32), axis=0, return_inverse=True)
        k, a = len(keys), self.n_actions
        index = {tuple(row): i for i, row in enumerate(keys)}
        obs = np.array([index[tuple(row)] for row in logs.observations.astype(np.float32)])
        nxt = np.array([index[tuple(row)] for row in logs.next_observations.astype(np.float32)])
        counts = np.zeros((k, a, k))
        np.add.at(counts, (obs, logs.actions, nxt), 1.0)
        reward_sum = np.zeros((k, a))
        np.add.at(reward_sum, (obs, logs.actions), logs.rewards)
        done = np.zeros((k, a, k))
        np.add.at(done, (obs, logs.actions, nxt), logs.terminations.astype(float))
        n = counts.sum(2)
        transitions = counts / np.maximum(n, 1)[..., None]
        continues = 1.0 - done / np.maximum(counts, 1)
        value = np.zeros(k)
        q = np.full((k, a), -np.inf)
        for _ in range(self.horizon):
            q = np.where(n > 0, reward_sum / np.maximum(n, 1) + np.einsum("sak,sak,k->sa", transitions, continues,
                                                                          value), -np.inf)
            value = np.where(n.any(1), q.max(1), 0.0)  # features never acted in (terminal ones) are worth 0
        return np.eye(a)[q.argmax(1)][feature_of_state]

    def state_visits(self, policy: PolicyLike) -> np.ndarray:
        """`[S]` expected number of visits to each non-terminal state per episode."""
        table = np.asarray(policy, np.float64) if isinstance(policy, np.ndarray) else self.policy_table(policy)
        step = np.einsum("ia,iaj->ij", table, self.transitions)
        step[self.terminal] = 0.0
        d, visits = self.initial.astype(np.float64), np.zeros(self.n_states)
        for _ in range(self.horizon):
            visits += d
            d = d @ step
        return visits

    # ------------------------------------------------------------------ logs
    def make_logs(self, behavior: np.ndarray, n_episodes: int, seed: int = 0, log_propensities: bool = True,
                  logging_window: int | None = None, include_true_state: bool = False,
                  description: str = "", logged_rewards: np.ndarray | None = None) -> LoggedDataset:
        """Roll out `behavior` (a `[S, A]` table, which may use hidden state) for `n_episodes`.

        Args:
            log_propensities: record `behavior_log_probs` and `action_probs` (off: as many real logs).
            logging_window: keep only the first steps of each episode (later steps, and rewards that
                arrive after, are not logged; the cut is a truncation).
            include_true_state: add the simulator's state index as `extras["true_state"]` (for tests).
            logged_rewards: `[S, A, S]` rewards to record instead of the true ones (a proxy metric,
                such as clicks when the outcome that matters arrives after the log ends). True
                values always use `rewards`.
        """
        table = self.policy_table(behavior)
        recorded = self.rewards if logged_rewards is None else logged_rewards
        rng = np.random.default_rng(seed)
        limit = min(self.horizon, logging_window or self.horizon)
        states = _sample_rows(np.broadcast_to(self.initial, (n_episodes, self.n_states)), rng)
        alive = np.ones(n_episodes, bool)
        columns: dict[str, list[np.ndarray]] = {k: [] for k in ("episode", "state", "action", "next", "reward", "term",
                                                               "trunc")}
        for t in range(limit):
            episodes = np.flatnonzero(alive)
            s = states[episodes]
            actions = _sample_rows(table[s], rng)
            nxt = _sample_rows(self.transitions[s, actions], rng)
            term = self.terminal[nxt]
            trunc = ~term & (t == limit - 1)
            rewards = recorded[s, actions, nxt] + self.reward_noise * rng.standard_normal(len(s))
            for key, value in zip(columns, (episodes, s, actions, nxt, rewards, term, trunc), strict=True):
                columns[key].append(value)
            states[episodes] = nxt
            alive[episodes[term]] = False
        cols = {k: np.concatenate(v) for k, v in columns.items()}
        order = np.lexsort((np.arange(len(cols["episode"])), cols["episode"]))  # group rows by episode, in time
        cols = {k: v[order] for k, v in cols.items()}
        s, a = cols["state"], cols["action"]
        propensity = table[s, a]
        extras = {"true_state": s.astype(np.int64)} if include_true_state else {}
        metadata = {"source": f"tether.envs:{self.name}", "simulator": self.name, "behavior": description,
                    "horizon": self.horizon, "logging_window": limit, "propensities_logged": log_propensities,
                    "rewards_logged": "true" if logged_rewards is None else "proxy",
                    "action_names": list(self.action_names), "feature_names": list(self.feature_names),
                    "true_behavior_value": self.value(table), **{f"sim_{k}": v for k, v in self.info.items()}}
        return LoggedDataset.from_episode_ids(
            cols["episode"], observations=self.features[s].astype(np.float32), actions=a.astype(np.int64),
            rewards=cols["reward"].astype(np.float32), terminations=cols["term"], truncations=cols["trunc"],
            action_space=ActionSpace.discrete(self.n_actions), next_observations=self.features[cols["next"]],
            behavior_log_probs=np.log(propensity) if log_propensities else None,
            action_probs=table[s].astype(np.float32) if log_propensities else None,
            action_masks=self.action_masks[s], extras=extras, metadata=metadata)

    def env(self, seed: int | None = None) -> DecisionEnv:
        """A Gymnasium environment that steps this process."""
        return DecisionEnv(self, seed)


class DecisionEnv(gym.Env):
    """Gymnasium view of a `FiniteMDP`: observations are the state's features; `info["action_mask"]`
    holds the allowed actions and `info["state"]` the full (possibly hidden) state index."""

    metadata = {"render_modes": []}

    def __init__(self, mdp: FiniteMDP, seed: int | None = None):
        self.mdp = mdp
        d = mdp.features.shape[1]
        low, high = mdp.features.min(0), mdp.features.max(0)
        self.observation_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), (d,), np.float32)
        self.action_space = gym.spaces.Discrete(mdp.n_actions)
        if seed is not None:
            super().reset(seed=seed)
        self._state, self._t = 0, 0

    def _obs(self) -> tuple[np.ndarray, dict]:
        return (self.mdp.features[self._state].astype(np.float32),
                {"action_mask": self.mdp.action_masks[self._state].copy(), "state": int(self._state)})

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode from `initial`; the info dict carries `action_mask`."""
        super().reset(seed=seed)
        self._state = int(_sample_rows(self.mdp.initial[None], self.np_random)[0])
        self._t = 0
        return self._obs()

    def step(self, action: int):
        """One step: `(features, reward, terminated, truncated, info)`; truncated at `horizon` steps."""
        if not self.mdp.action_masks[self._state, action]:
            raise ValueError(f"action {action} ({self.mdp.action_names[action]}) is masked out in this state")
        nxt = int(_sample_rows(self.mdp.transitions[self._state, action][None], self.np_random)[0])
        noise = self.mdp.reward_noise * self.np_random.standard_normal()
        reward = float(self.mdp.rewards[self._state, action, nxt] + noise)
        self._state, self._t = nxt, self._t + 1
        terminated = bool(self.mdp.terminal[nxt])
        obs, info = self._obs()
        return obs, reward, terminated, (not terminated) and self._t >= self.mdp.horizon, info


def severity_tables(levels: int, effects: np.ndarray, costs: np.ndarray, illness_cost: float,
                    recovery_reward: float, critical_penalty: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(transitions, rewards, terminal)` of a course over severity levels x a binary hidden type.

    State `2 * level + hidden`; level 0 (recovery, +`recovery_reward`) and `levels - 1` (critical,
    -`critical_penalty`) end the course. `effects[action, hidden]` = `(improve, worsen)`: the chances
    that the action moves severity down or up one level; each step costs `costs[action] + illness_cost`.
    """
    n, n_actions = levels * 2, len(costs)
    index = np.arange(n).reshape(levels, 2)
    transitions = np.zeros((n, n_actions, n))
    rewards = np.zeros((n, n_actions, n))
    terminal = np.zeros(n, bool)
    terminal[index[0]] = terminal[index[levels - 1]] = True
    for level in range(levels):
        for hidden in (0, 1):
            s = index[level, hidden]
            if terminal[s]:
                transitions[s, :, s] = 1.0
                continue
            for action in range(n_actions):
                improve, worsen = effects[action, hidden]
                for step, prob in ((-1, improve), (0, 1 - improve - worsen), (1, worsen)):
                    transitions[s, action, index[level + step, hidden]] += prob
                rewards[s, action] = -costs[action] - illness_cost
                rewards[s, action, index[0, hidden]] += recovery_reward
                rewards[s, action, index[levels - 1, hidden]] -= critical_penalty
    return transitions, rewards, terminal


def severity_trait_features(levels: int, trait: str, trait_labels: tuple[str, str],
                            reveal: bool) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """`(features, feature names, state labels)` of a severity course whose states pair each level with a
    binary trait (state `2 * level + trait`): severity scaled to [0, 1], and the trait only when `reveal`."""
    severity = np.repeat(np.arange(levels) / (levels - 1), 2)
    flag = np.tile([0.0, 1.0], levels)
    features = np.stack([severity, flag], 1) if reveal else severity[:, None]
    names = ("severity", trait) if reveal else ("severity",)
    labels = tuple(f"severity={level} {trait_labels[t]}" for level in range(levels) for t in (0, 1))
    return features, names, labels


def mix_with_uniform(rule: np.ndarray, masks: np.ndarray, epsilon: float) -> np.ndarray:
    """`(1 - epsilon) * rule + epsilon * uniform over allowed actions` (epsilon: breadth of a behaviour policy)."""
    uniform = masks / masks.sum(1, keepdims=True)
    table = (1.0 - epsilon) * rule + epsilon * uniform
    return np.where(masks, table, 0.0) / np.where(masks, table, 0.0).sum(1, keepdims=True)
