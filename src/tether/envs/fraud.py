"""Fraud-review queue: approve, send to manual review, or decline each incoming case.

Generative story. A shift handles `horizon` cases. Each case arrives in a risk bucket `r` (its fraud
probability `fraud_rates[r]`, shown to the decision maker as a risk score) drawn independently with
`arrival_rates`. The review queue holds `load` cases (0..`capacity`). Decisions and rewards
(expected over the hidden fraud label, plus `reward_noise`):

- approve: +1 if legitimate, `-fraud_loss` if fraud;
- decline: `-decline_cost` if legitimate (a lost customer), 0 if fraud;
- manual review: the truth comes out (+1 if legitimate, 0 if fraud) at a cost of
  `review_cost + congestion * load`; the case joins the queue (load + 1). Review is masked out when
  the queue is full.

After each case one queued review finishes with probability `drain`. So reviewing is right for
borderline cases while the queue is short, and wrong once it is congested; reviewers, who "nearly
always choose manual review on borderline cases", ignore the queue. The behaviour policy
(`behavior_policy`) is that habit, mixed with uniform choice among allowed actions with weight
`epsilon` (0: a narrow, deterministic log).
"""

from __future__ import annotations

import numpy as np

from tether.envs.finite import FiniteMDP, mix_with_uniform

APPROVE, REVIEW, DECLINE = 0, 1, 2


def fraud_review_queue(fraud_rates: tuple[float, ...] = (0.02, 0.08, 0.25, 0.55, 0.85),
                       arrival_rates: tuple[float, ...] = (0.4, 0.25, 0.15, 0.12, 0.08), capacity: int = 3,
                       horizon: int = 20, fraud_loss: float = 8.0, decline_cost: float = 1.0,
                       review_cost: float = 0.3, congestion: float = 0.4, drain: float = 0.5,
                       reward_noise: float = 0.5) -> FiniteMDP:
    """The fraud-review queue as a `FiniteMDP` (states: risk bucket x queue load)."""
    p = np.asarray(fraud_rates, np.float64)
    arrivals = np.asarray(arrival_rates, np.float64) / np.sum(arrival_rates)
    k, loads = len(p), capacity + 1
    n = k * loads
    index = np.arange(n).reshape(k, loads)  # state = (risk bucket, load)
    transitions = np.zeros((n, 3, n))
    rewards = np.zeros((n, 3, n))
    masks = np.ones((n, 3), bool)
    for r in range(k):
        for load in range(loads):
            s = index[r, load]
            masks[s, REVIEW] = load < capacity
            expected = {APPROVE: (1 - p[r]) - fraud_loss * p[r], DECLINE: -decline_cost * (1 - p[r]),
                        REVIEW: (1 - p[r]) - review_cost - congestion * load}
            for action, reward in expected.items():
                queued = min(capacity, load + (action == REVIEW))
                for after, prob in ((queued, 1 - drain), (max(queued - 1, 0), drain)):
                    transitions[s, action, index[:, after]] += prob * arrivals
                rewards[s, action] = reward
    initial = np.zeros(n)
    initial[index[:, 0]] = arrivals
    features = np.stack([np.repeat(p, loads), np.tile(np.arange(loads) / capacity, k)], 1)
    labels = tuple(f"risk={p[r]:.2f} load={load}" for r in range(k) for load in range(loads))
    info = {"fraud_rates": list(fraud_rates), "capacity": capacity, "fraud_loss": fraud_loss, "drain": drain,
            "review_cost": review_cost, "congestion": congestion}
    return FiniteMDP("fraud-review-queue", transitions, rewards, initial, np.zeros(n, bool), features, masks,
                     horizon, ("approve", "review", "decline"), ("risk_score", "queue_load"), labels,
                     reward_noise, info)


def reviewer_habit(mdp: FiniteMDP, low: float = 0.05, high: float = 0.7) -> np.ndarray:
    """Approve below risk `low`, decline above `high`, review in between; with a full queue,
    approve what is below the middle of the borderline band and decline the rest."""
    risk = mdp.features[:, 0]
    table = np.zeros((mdp.n_states, 3))
    table[risk < low, APPROVE] = 1.0
    table[risk > high, DECLINE] = 1.0
    borderline = (risk >= low) & (risk <= high)
    table[borderline, REVIEW] = 1.0
    full = ~mdp.action_masks[:, REVIEW] & borderline
    table[full, REVIEW] = 0.0
    table[full & (risk < (low + high) / 2), APPROVE] = 1.0
    table[full & (risk >= (low + high) / 2), DECLINE] = 1.0
    return table


def behavior_policy(mdp: FiniteMDP, epsilon: float = 0.2) -> np.ndarray:
    """The reviewers' habit, with probability `epsilon` replaced by a uniform allowed action."""
    return mix_with_uniform(reviewer_habit(mdp), mdp.action_masks, epsilon)
