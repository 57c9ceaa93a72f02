"""The audit's verdict: `offline-rl`, `bc-only` or `do-not-train`, each reason naming its diagnostic,
value and threshold, with the next step a practitioner should take.

Rules, strongest first (thresholds in `THRESHOLDS`, calibrated on the decision simulators and the
D4RL-style datasets; see tests/audit and the README's calibration table):

do-not-train
  - too little data: fewer than `min_steps` steps or `min_episodes` episodes;
  - nothing to learn from: every logged reward is the same value, so no policy can be told apart
    from another by its outcomes;
  - hidden information: with logged propensities, a behaviour model that sees the logged state
    explains the logged actions worse than the logged propensities by more than
    `hidden_information_gap` nats per step: the decision maker used something the log lacks, so
    learned policies and their evaluations rest on a confounded log;
  - hidden confounding without propensities: the episode's earlier decisions predict the next
    decision by more than `hidden_decision_gain` nats/step beyond the observation, and better than
    the observation itself does (`hidden_decision_relative`), while episode identity explains more
    than `hidden_outcome_share` (and two standard errors) of the outcomes' variance beyond
    observation and action: something persistent that the log lacks drives both the decisions and
    the outcomes (`tether.audit.confounding`);
  - outcomes beyond the window: more than `window_truncated_share` of episodes are cut by the log
    and their median length is at most `window_length` steps, so whatever happens after the cut
    (delayed rewards) is invisible.
bc-only
  - a hidden driver of decisions alone: the decision test above fires but outcomes show no episode
    effect (a habit or policy mix that remembers, or a trait the decisions reveal so fully that the
    outcomes cannot show it): the log supports imitating the decision makers, not comparing actions;
  - narrow support: discrete behaviour with normalised action entropy below `min_entropy` or more
    than `max_rare_share` of allowed actions rarely tried per region; continuous behaviour whose
    actions spread less than `min_action_spread` of the action range within state regions;
  - expert-level logs: trajectory quality TQ at least `expert_tq`: cloning reproduces them and
    the logs cannot show an improvement beyond them.
offline-rl otherwise. Missing propensities, drift, low reproducibility and an episode effect on
outcomes that the decisions do not follow (hidden heterogeneity) are reported as notes with their
next step; they do not change the verdict by themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

THRESHOLDS = {
    "min_steps": 1000,
    "min_episodes": 20,
    "hidden_information_gap": 0.10,
    "hidden_decision_gain": 0.02,
    "hidden_decision_relative": 1.0,
    "hidden_outcome_share": 0.01,
    "window_truncated_share": 0.5,
    "window_length": 5,
    "min_entropy": 0.15,
    "max_rare_share": 0.4,
    "min_action_spread": 0.02,
    "expert_tq": 0.9,
    "drift_return_z": 4.0,
    "drift_action_shift": 0.1,
}


@dataclass
class Reason:
    """One finding: the verdict it argues for, the diagnostic and its value against the threshold, and what to do."""
    verdict: str  # the verdict this reason argues for, or "note"
    diagnostic: str
    value: float | None
    threshold: str
    text: str
    next_step: str


@dataclass
class AuditReport:
    """The audit's answer: `verdict` (`offline-rl`, `bc-only` or `do-not-train`), the reasons and the numbers."""
    verdict: str
    reasons: list[Reason]
    diagnostics: dict
    next_steps: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """Everything in JSON-ready form, thresholds included (written to `audit.json`)."""
        return {"verdict": self.verdict, "reasons": [asdict(r) for r in self.reasons],
                "next_steps": self.next_steps, "diagnostics": self.diagnostics, "thresholds": THRESHOLDS}


def decide(diagnostics: dict, discrete: bool) -> AuditReport:
    """The verdict from the diagnostics `audit` computed: the most severe reason wins."""
    t = THRESHOLDS
    size, support = diagnostics["size"], diagnostics["action_support"]
    repro, props, drift = diagnostics["reproducibility"], diagnostics["propensities"], diagnostics["drift"]
    reasons: list[Reason] = []

    if size["steps"] < t["min_steps"] or size["episodes"] < t["min_episodes"]:
        reasons.append(Reason("do-not-train", "size", size["steps"],
                              f"steps >= {t['min_steps']} and episodes >= {t['min_episodes']}",
                              f"only {size['steps']} steps in {size['episodes']} episodes",
                              "collect more logs before learning anything"))
    # a constant reward still tells policies apart when episodes end by termination at different times
    # (CartPole: +1 per step survived); not when it is zero, when every return is the same, or when only
    # the logging window sets the lengths
    if size.get("reward_min") is not None and size["reward_min"] == size["reward_max"] and (
            size["reward_min"] == 0 or size["return_std"] == 0 or size["truncated_share"] == 1.0):
        reasons.append(Reason("do-not-train", "reward_range", 0.0, "rewards or terminations that vary",
                              f"every logged reward is {size['reward_min']:g}: outcomes do not tell any policy "
                              "from another (no episode's return differs by when it terminated), so there is "
                              "nothing to learn or evaluate",
                              "log the outcome the decisions are meant to improve as the reward"))
    gap = repro.get("hidden_information_gap")
    if gap is not None and gap > t["hidden_information_gap"]:
        reasons.append(Reason("do-not-train", "hidden_information_gap", gap, f"<= {t['hidden_information_gap']} nats",
                              f"the logged propensities explain the actions {gap:.2f} nats/step better than any model "
                              "of the logged state: decisions used information the log does not hold "
                              "(hidden confounding)", "add the missing state features (what the decision maker saw)"))
    reasons += _hidden_driver_reasons(diagnostics.get("hidden_drivers"), props["logged"])
    if size["truncated_share"] > t["window_truncated_share"] and size["length_median"] <= t["window_length"]:
        reasons.append(Reason("do-not-train", "truncated_share", size["truncated_share"],
                              f"<= {t['window_truncated_share']} when the median episode has <= {t['window_length']} "
                              "steps", f"{size['truncated_share']:.0%} of episodes are cut after a median of "
                              f"{size['length_median']:.0f} steps: outcomes after the logging window are not observed",
                              "log whole episodes, or join the delayed outcome (retention, repayment) to each episode"))
    if discrete:
        entropy, rare = support["mean_normalised_entropy"], support["rare_or_untried_share"]
        if entropy < t["min_entropy"]:
            reasons.append(Reason("bc-only", "mean_normalised_entropy", entropy, f">= {t['min_entropy']}",
                                  f"the behaviour is nearly deterministic (normalised action entropy {entropy:.2f}): "
                                  "other actions' outcomes are not in the log", "start with behaviour cloning; to "
                                  "learn better decisions, randomise a small share of them and log the propensities"))
        elif rare > t["max_rare_share"]:
            reasons.append(Reason("bc-only", "rare_or_untried_share", rare, f"<= {t['max_rare_share']}",
                                  f"{rare:.0%} of allowed actions are rarely or never tried in a typical state region",
                                  "start with behaviour cloning; broaden the logged actions where they are rare"))
    else:
        spread = support["mean_action_spread"]
        if spread < t["min_action_spread"]:
            reasons.append(Reason("bc-only", "mean_action_spread", spread, f">= {t['min_action_spread']}",
                                  f"logged actions barely vary within state regions ({spread:.3f} of the range)",
                                  "start with behaviour cloning; collect logs with more varied actions"))
    tq = size.get("tq")
    if tq is not None and tq >= t["expert_tq"]:
        reasons.append(Reason("bc-only", "tq", tq, f"< {t['expert_tq']}",
                              f"trajectory quality {tq:.2f}: the logs already reach the reference return",
                              "behaviour cloning reproduces them; offline RL cannot show a gain the data do not cover"))
    if not props["logged"]:
        reasons.append(Reason("note", "propensities", None, "logged", "behaviour propensities are not logged: "
                              "importance sampling can only use an estimated behaviour model",
                              "log the probability of each chosen action at decision time"))
    if drift.get("checked") and (abs(drift["return_shift_z"]) > t["drift_return_z"]
                                 or drift["action_shift"] > t["drift_action_shift"]):
        reasons.append(Reason("note", "drift", drift["return_shift_z"],
                              f"|return z| <= {t['drift_return_z']}, action shift <= {t['drift_action_shift']}",
                              "early and late halves of the log differ (return shift z = "
                              f"{drift['return_shift_z']:.1f}, action shift {drift['action_shift']:.2f})",
                              "train and evaluate on the recent part, or model the change"))
    verdict = next((v for v in ("do-not-train", "bc-only") if any(r.verdict == v for r in reasons)), "offline-rl")
    steps = [r.next_step for r in reasons if r.verdict in (verdict, "note")]
    if verdict == "offline-rl":
        steps.insert(0, "train the behaviour-cloning baseline, then conservative offline RL, and evaluate offline")
    return AuditReport(verdict, reasons, diagnostics, steps)


def _hidden_driver_reasons(drivers: dict | None, propensities_logged: bool) -> list[Reason]:
    """The reasons the history tests give (`tether.audit.confounding`), or none when they did not run."""
    if not drivers or not drivers.get("checked"):
        return []
    t = THRESHOLDS
    decisions, outcomes = drivers["decisions"], drivers["outcomes"]
    gain, relative, share = decisions["gain"], decisions["relative"], outcomes["share"]
    decision_driver = gain > t["hidden_decision_gain"] and relative > t["hidden_decision_relative"]
    outcome_driver = share > max(t["hidden_outcome_share"], 2 * outcomes["standard_error"])
    resolve = ("log the propensity of each decision at decision time, or add the missing feature (what the "
               "decision makers saw that the log does not hold), then audit again")
    decision_text = (f"earlier decisions in an episode predict the next one {gain:.3f} {decisions['unit']} better "
                     f"than the observation alone ({relative:.1f}x what the observation itself explains)")
    outcome_text = (f"episode identity explains {share:.1%} of the outcomes' variance beyond observation and action")
    if decision_driver and outcome_driver:
        return [Reason("do-not-train", "hidden_confounding", gain,
                       f"decision gain <= {t['hidden_decision_gain']} nats/step or relative <= "
                       f"{t['hidden_decision_relative']}, or outcome share <= {t['hidden_outcome_share']} "
                       "(and two standard errors)",
                       f"{decision_text}, and {outcome_text}: something persistent the log does not hold drives "
                       "both the decisions and the outcomes (hidden confounding), so the actions that look best "
                       "in the log may only have gone to the cases that would have done well anyway", resolve)]
    if decision_driver:
        return [Reason("bc-only", "hidden_decision_driver", gain,
                       f"decision gain <= {t['hidden_decision_gain']} nats/step or relative <= "
                       f"{t['hidden_decision_relative']}",
                       f"{decision_text}: the decision makers followed something persistent the log does not hold; "
                       "the outcomes show no episode effect, but cannot rule one out when the decisions reveal it",
                       "imitate the decision makers; to compare actions, " + resolve)]
    if outcome_driver and not propensities_logged:
        return [Reason("note", "hidden_outcome_driver", share,
                       f"<= {t['hidden_outcome_share']} (and two standard errors)",
                       f"{outcome_text}, though the decisions do not follow it: outcomes vary with something "
                       "the log does not hold (comparisons stay fair but noisy)",
                       "add the missing feature to learn policies that use it")]
    return []
