"""Recommender session: which item to show next, when clicks are a proxy for long-term retention.

Generative story. A user of one of two tastes (observed) has an engagement level `0..levels-1`
(observed, or latent with `observe_engagement=False`). Each step one of four items is shown: two
catchy items (click probability 0.5 for everyone) and two quality items, one per taste (click 0.3
for the matching taste, 0.1 otherwise). A click pays 1 at once. Catchy items lower engagement by one
level with probability 0.25; a quality item raises it with probability 0.35 when it matches the
taste and lowers it with probability 0.15 when it does not. After each step the user leaves with
probability `leave_rate` (`leave_rate_bored` at engagement 0); leaving ends the session and pays
the delayed retention reward `retention_reward * engagement / (levels - 1)`: whether the user comes
back. The delayed reward is the point: over a whole session quality items win, but a log cut after
a few steps (`logging_window` in `FiniteMDP.make_logs`) that records clicks only (`click_rewards`:
whether a user comes back is known days later) and not the engagement says catchy items win.

The behaviour policy is a ranker: softmax of the predicted click rate over `temperature` (small:
a narrow ranker that nearly always shows the catchy items).
"""

from __future__ import annotations

import numpy as np

from tether.envs.finite import FiniteMDP

CATCHY = (0, 1)
QUALITY = {0: 2, 1: 3}  # taste -> its quality item


def click_rates(taste: int) -> np.ndarray:
    """`[4]` click probability of each item for a user of `taste` (0 or 1)."""
    rates = np.full(4, 0.5)
    rates[QUALITY[taste]] = 0.3
    rates[QUALITY[1 - taste]] = 0.1
    return rates


def recommender_session(levels: int = 4, horizon: int = 30, leave_rate: float = 0.08, leave_rate_bored: float = 0.1,
                        retention_reward: float = 8.0, observe_engagement: bool = True) -> FiniteMDP:
    """The recommender session as a `FiniteMDP` (states: taste x engagement, plus 'left'); with
    `observe_engagement=False` the features hold only the taste and whether the user left."""
    n = 2 * levels + 1
    left = n - 1
    index = np.arange(2 * levels).reshape(2, levels)
    transitions = np.zeros((n, 4, n))
    rewards = np.zeros((n, 4, n))
    transitions[left, :, left] = 1.0
    for taste in (0, 1):
        clicks = click_rates(taste)
        for level in range(levels):
            s = index[taste, level]
            stay = 1 - (leave_rate_bored if level == 0 else leave_rate)
            for item in range(4):
                if item in CATCHY:
                    moves = ((-1, 0.25), (0, 0.75))
                elif item == QUALITY[taste]:
                    moves = ((1, 0.35), (0, 0.65))
                else:
                    moves = ((-1, 0.15), (0, 0.85))
                for step, prob in moves:
                    nxt = index[taste, int(np.clip(level + step, 0, levels - 1))]
                    transitions[s, item, nxt] += stay * prob
                transitions[s, item, left] += 1 - stay
                rewards[s, item] = clicks[item]
                # leaving pays the retention reward of the engagement reached this step (on average)
                expected_level = sum(prob * np.clip(level + step, 0, levels - 1) for step, prob in moves)
                rewards[s, item, left] += retention_reward * expected_level / (levels - 1)
    initial = np.zeros(n)
    initial[index[:, 1]] = 0.5
    terminal = np.zeros(n, bool)
    terminal[left] = True
    features = np.zeros((n, 3))
    features[:-1, 0] = np.repeat([0.0, 1.0], levels)
    features[:-1, 1] = np.tile(np.arange(levels) / (levels - 1), 2) if observe_engagement else 0.0
    features[-1, 2] = 1.0
    labels = tuple(f"taste={t} engagement={lv}" for t in (0, 1) for lv in range(levels)) + ("left",)
    info = {"levels": levels, "leave_rate": leave_rate, "retention_reward": retention_reward}
    return FiniteMDP("recommender-session", transitions, rewards, initial, terminal, features, np.ones((n, 4), bool),
                     horizon, ("catchy-a", "catchy-b", "quality-taste-0", "quality-taste-1"),
                     ("taste", "engagement", "left"), labels, 0.0, info)


def behavior_policy(mdp: FiniteMDP, temperature: float = 0.2) -> np.ndarray:
    """The click-rate ranker: softmax(predicted click rate / temperature) over the four items."""
    tastes = mdp.features[:, 0].astype(int)
    scores = np.stack([click_rates(t) for t in tastes]) / temperature
    table = np.exp(scores - scores.max(1, keepdims=True))
    return table / table.sum(1, keepdims=True)


def click_rewards(mdp: FiniteMDP) -> np.ndarray:
    """`[S, A, S]` rewards without the retention part: what a click log records."""
    tastes = mdp.features[:, 0].astype(int)
    clicks = np.stack([click_rates(t) for t in tastes])
    clicks[mdp.terminal] = 0.0
    return np.broadcast_to(clicks[:, :, None], mdp.rewards.shape).copy()
