"""Tightrope: a walk along a rope where behaviour cloning from an expert's demonstrations compounds its
errors and DAgger does not (Ross, Gordon and Bagnell, 2011).

Generative story. A walker takes `horizon` steps along a rope. Its state is the step `t` and its offset
from the rope, `-1`, `0` or `+1`; an offset of 2 is a fall (the episode ends, `-fall_penalty`). Each
step it moves `left` (-1), `stay` (0) or `right` (+1), and a gust then pushes it one more place left or
right with probability `gust / 2` each. It earns +1 for every step that ends on the rope.

The expert steps back toward the rope (`offset -> 0`), so its demonstrations sit on the rope except
the step after a gust: most off-rope states `(t, +-1)` appear in few demonstrations or none. A policy
sees the state one-hot (a table: nothing learned at one step says what to do at another), so a
cloned policy acts arbitrarily in the off-rope states the demonstrations missed, and one gust then
costs it the steps until the next gust, or a fall. DAgger labels the states the learner itself
reaches, which are exactly those.
"""

from __future__ import annotations

import numpy as np

from tether.envs.finite import FiniteMDP

LEFT, STAY, RIGHT = 0, 1, 2
OFFSETS = (-1, 0, 1)


def tightrope(horizon: int = 20, gust: float = 0.2, fall_penalty: float = 5.0) -> FiniteMDP:
    """The tightrope walk as a `FiniteMDP`: states `(t, offset)` one-hot, plus one terminal fall state."""
    n_live = horizon * len(OFFSETS)
    fall, done = n_live, n_live + 1  # a fall, and the end of the rope (both terminal)
    n = n_live + 2

    def index(t: int, offset: int) -> int:
        return done if t >= horizon else t * len(OFFSETS) + offset + 1

    transitions = np.zeros((n, 3, n))
    rewards = np.zeros((n, 3, n))
    terminal = np.zeros(n, bool)
    terminal[[fall, done]] = True
    transitions[fall, :, fall] = transitions[done, :, done] = 1.0
    for t in range(horizon):
        for offset in OFFSETS:
            s = index(t, offset)
            for action, move in ((LEFT, -1), (STAY, 0), (RIGHT, 1)):
                for push, prob in ((-1, gust / 2), (0, 1.0 - gust), (1, gust / 2)):
                    landed = offset + move + push
                    target = fall if abs(landed) >= 2 else index(t + 1, landed)
                    transitions[s, action, target] += prob
                    reward = -fall_penalty if target == fall else float(landed == 0)
                    rewards[s, action, target] = reward
    initial = np.zeros(n)
    initial[index(0, 0)] = 1.0
    features = np.eye(n, n_live, dtype=np.float32)  # one-hot over live states; the terminal ones are all zero
    labels = tuple(f"t={t} offset={offset:+d}" for t in range(horizon) for offset in OFFSETS) + ("fell", "arrived")
    names = tuple(f"at_{label.replace(' ', '_').replace('=', '')}" for label in labels[:n_live])
    info = {"horizon": horizon, "gust": gust, "fall_penalty": fall_penalty}
    return FiniteMDP("tightrope", transitions, rewards, initial, terminal, features, np.ones((n, 3), bool),
                     horizon, ("left", "stay", "right"), names, labels, 0.0, info)


def expert_table(mdp: FiniteMDP) -> np.ndarray:
    """`[S, 3]` the expert: step back toward the rope (stay on it)."""
    table = np.zeros((mdp.n_states, 3))
    for s, label in enumerate(mdp.state_labels):
        offset = int(label.split("offset=")[1]) if "offset=" in label else 0
        table[s, (LEFT, STAY, RIGHT)[1 - offset]] = 1.0
    return table
