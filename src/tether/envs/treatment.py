"""Treatment course: watchful waiting, standard drug or aggressive therapy, step after step.

Generative story. A patient starts at a severity level in `1..levels-2`; level 0 is recovery (+`recovery_reward`,
the course ends) and level `levels-1` is a critical event (`-critical_penalty`, the course ends). Each
step the chosen treatment moves severity down one level, keeps it, or moves it up one level:

| treatment | improve | worsen | cost |
|---|---|---|---|
| wait | 0.10 | 0.30 | 0 |
| standard | 0.30 | 0.15 | `standard_cost` |
| aggressive, responder | 0.60 | 0.10 | `aggressive_cost` |
| aggressive, non-responder | 0.10 | 0.45 | `aggressive_cost` |

Half the patients (`responder_rate`) respond to aggressive therapy. Whether a patient responds is
the hidden confounder: clinicians read it from a severity signal that the logged state does not
hold (`reveal_confounder=True` adds it to the features). The behaviour policy (`behavior_policy`)
gives aggressive therapy to responders and standard care to the others with weight `confounding`,
and otherwise follows a habit blind to it (standard 0.5, aggressive 0.3, wait 0.2), mixed with
uniform choice with weight `epsilon`. With strong confounding the logs show aggressive therapy
working wonders, which is true only for the patients who got it; for everyone, standard care is best
among policies that see the logged state.
"""

from __future__ import annotations

import numpy as np

from tether.envs.finite import FiniteMDP, mix_with_uniform, severity_tables, severity_trait_features

WAIT, STANDARD, AGGRESSIVE = 0, 1, 2
EFFECTS = {WAIT: (0.10, 0.30), STANDARD: (0.30, 0.15)}
AGGRESSIVE_EFFECT = {True: (0.60, 0.10), False: (0.10, 0.45)}


def treatment_course(levels: int = 5, horizon: int = 12, responder_rate: float = 0.5, recovery_reward: float = 10.0,
                     critical_penalty: float = 10.0, standard_cost: float = 0.2, aggressive_cost: float = 0.5,
                     illness_cost: float = 0.1, reveal_confounder: bool = False,
                     reward_noise: float = 0.0) -> FiniteMDP:
    """The treatment course as a `FiniteMDP` (states: severity x responder type)."""
    n = levels * 2
    index = np.arange(n).reshape(levels, 2)  # state = (severity, responder)
    effects = np.array([[EFFECTS[WAIT]] * 2, [EFFECTS[STANDARD]] * 2,
                        [AGGRESSIVE_EFFECT[False], AGGRESSIVE_EFFECT[True]]])
    transitions, rewards, terminal = severity_tables(levels, effects, np.array([0.0, standard_cost, aggressive_cost]),
                                                     illness_cost, recovery_reward, critical_penalty)
    initial = np.zeros(n)
    for level in range(1, levels - 1):
        initial[index[level, 1]] = responder_rate / (levels - 2)
        initial[index[level, 0]] = (1 - responder_rate) / (levels - 2)
    features, names, labels = severity_trait_features(levels, "responder", ("non-responder", "responder"),
                                                      reveal_confounder)
    info = {"levels": levels, "responder_rate": responder_rate, "reveal_confounder": reveal_confounder}
    return FiniteMDP("treatment-course", transitions, rewards, initial, terminal, features, np.ones((n, 3), bool),
                     horizon, ("wait", "standard", "aggressive"), names, labels, reward_noise, info)


def behavior_policy(mdp: FiniteMDP, confounding: float = 0.8, epsilon: float = 0.1) -> np.ndarray:
    """Clinicians' policy over full states: informed by the hidden responder type with weight `confounding`."""
    responder = np.array(["non-responder" not in label for label in mdp.state_labels])
    informed = np.zeros((mdp.n_states, 3))
    informed[responder, AGGRESSIVE] = 1.0
    informed[~responder, STANDARD] = 1.0
    habit = np.tile([0.2, 0.5, 0.3], (mdp.n_states, 1))
    return mix_with_uniform(confounding * informed + (1 - confounding) * habit, mdp.action_masks, epsilon)
