"""Clinic: a clinical-style log with a hidden, persistent patient trait that drives both the clinicians'
choice and the outcome, and no propensities logged (as in most real clinical logs).

Generative story. Each patient is `robust` or `frail` (half each, fixed for the whole course) and starts
at a severity in `1..levels-2` that barely depends on the trait (robust patients start one level
lower with probability `vitals_signal`); level 0 is recovery (+`recovery_reward`, the course ends),
level `levels-1` a critical event (`-critical_penalty`, the course ends). Each step the treatment
moves severity down one level, keeps it, or moves it up one level:

| treatment | robust improve | robust worsen | frail improve | frail worsen | cost |
|---|---|---|---|---|---|
| wait | 0.25 | 0.10 | 0.05 | 0.35 | 0 |
| standard | 0.45 | 0.05 | 0.25 | 0.20 | `standard_cost` |
| intensive | 0.40 | 0.07 | 0.20 | 0.25 | `intensive_cost` |

Standard care is the best treatment for every patient, robust or frail. The clinicians
(`behavior_policy`) give intensive therapy to patients they judge robust and standard care to the
frail ones with weight `confounding`, and otherwise follow a habit blind to the trait (wait 0.1,
standard 0.6, intensive 0.3), mixed with uniform choice with weight `epsilon`. The trait is not in
the logged state (only severity is), so the stronger the confounding, the better intensive therapy
looks in the logs (its patients are robust) and the worse standard care looks (its patients are
frail): a learner that trusts the logs picks the treatment that is truly worse for everyone, and
does worse than the clinicians.
`reveal_trait=True` adds the trait to the features (the missing feature the audit asks for).
"""

from __future__ import annotations

import numpy as np

from tether.envs.finite import FiniteMDP, mix_with_uniform, severity_tables, severity_trait_features

WAIT, STANDARD, INTENSIVE = 0, 1, 2
# (improve, worsen) per treatment, for (robust, frail) patients
EFFECTS = {WAIT: ((0.25, 0.10), (0.05, 0.35)), STANDARD: ((0.45, 0.05), (0.25, 0.20)),
           INTENSIVE: ((0.40, 0.07), (0.20, 0.25))}


def clinic_course(levels: int = 6, horizon: int = 15, vitals_signal: float = 0.1, recovery_reward: float = 10.0,
                  critical_penalty: float = 10.0, standard_cost: float = 0.2, intensive_cost: float = 0.5,
                  illness_cost: float = 0.1, reveal_trait: bool = False) -> FiniteMDP:
    """The clinic course as a `FiniteMDP` (states: severity x trait, trait hidden unless `reveal_trait`)."""
    n = levels * 2
    index = np.arange(n).reshape(levels, 2)  # state = (severity, frail)
    effects = np.array([EFFECTS[action] for action in (WAIT, STANDARD, INTENSIVE)])
    transitions, rewards, terminal = severity_tables(levels, effects, np.array([0.0, standard_cost, intensive_cost]),
                                                     illness_cost, recovery_reward, critical_penalty)
    starts = levels - 2
    initial = np.zeros(n)
    for level in range(1, levels - 1):
        initial[index[level, 1]] = 0.5 / starts
        initial[index[level, 0]] = 0.5 / starts
    shift = 0.5 * vitals_signal / starts  # robust patients: a little mass moves one level down
    for level in range(2, levels - 1):
        initial[index[level, 0]] -= shift
        initial[index[level - 1, 0]] += shift
    features, names, labels = severity_trait_features(levels, "frail", ("robust", "frail"), reveal_trait)
    info = {"levels": levels, "vitals_signal": vitals_signal, "reveal_trait": reveal_trait}
    return FiniteMDP("clinic-course", transitions, rewards, initial, terminal, features, np.ones((n, 3), bool),
                     horizon, ("wait", "standard", "intensive"), names, labels, 0.0, info)


def behavior_policy(mdp: FiniteMDP, confounding: float = 0.8, epsilon: float = 0.1) -> np.ndarray:
    """Clinicians' policy over full states: intensive for the robust, standard for the frail (weight `confounding`)."""
    frail = np.array(["frail" in label for label in mdp.state_labels])
    informed = np.zeros((mdp.n_states, 3))
    informed[~frail, INTENSIVE] = 1.0
    informed[frail, STANDARD] = 1.0
    habit = np.tile([0.1, 0.6, 0.3], (mdp.n_states, 1))
    return mix_with_uniform(confounding * informed + (1 - confounding) * habit, mdp.action_masks, epsilon)
