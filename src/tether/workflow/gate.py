"""The deployment gate: go to a guarded online test, investigate, or no-go, per policy.

"go" needs all of: the audit allows offline RL; the candidate beats the behaviour-cloning baseline
(FQE point estimates); for at least one estimator whose diagnostics pass, the lower end of the
interval of its improvement over the behaviour policy is above zero; the support check passes; and
training showed no instability. The baseline itself is judged the same way, except that it needs
no baseline to beat and a "bc-only" audit allows it: when imitation of the logged habit is already a
supported improvement, the memo says so, and a candidate that only matches it is not sent instead.
"no-go" when the audit says do-not-train, when training was unstable, or when estimators whose
diagnostics pass all put the candidate at or below the behaviour policy. Anything else is
"investigate", including the case where no estimator passed its diagnostics at all (the evidence
is missing, not negative). Each decision lists its evidence and, for each piece, what would have
to be false for the policy to be unsafe after all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ASSUMPTIONS = {
    "FQE": "FQE's function class represents the candidate's values and the logs cover the actions it takes "
           "(FQE extrapolates silently where they do not)",
    "IS": "the logged propensities are the true probabilities of the logged actions",
    "PDIS": "the logged propensities are the true probabilities of the logged actions",
    "WIS": "the logged propensities are right and the self-normalised estimate's bias is small",
    "WPDIS": "the logged propensities are right and the self-normalised estimate's bias is small",
    "DR": "either the propensities or the FQE model is right",
    "WDR": "either the propensities or the FQE model is right, and the normalisation bias is small",
    "MB": "the dynamics model learned from the logs is right where the candidate goes (its elites agree there and it "
          "predicts held-out episodes), and compounding model error over the episode is small",
}


@dataclass
class Decision:
    """The gate's answer for one candidate: go, investigate or no-go, with the reasons, the evidence, and
    what would have to be false for the candidate to be unsafe."""
    candidate: str
    decision: str  # "go", "investigate" or "no-go"
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    unsafe_if: list[str] = field(default_factory=list)
    improvements: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # estimator -> (gain, low, high)


def decide(candidate: str, audit_verdict: str, audit_gap: float | None, estimates: dict, improvements: dict,
           bc_value: float | None, support, instabilities: list[str], baseline: bool = False) -> Decision:
    """`estimates`: estimator -> Estimate; `improvements`: estimator -> (improvement, low, high);
    `bc_value`: the baseline's FQE value (None for the `baseline` itself)."""
    d = Decision(candidate, "investigate", improvements=dict(improvements))
    fqe = estimates.get("FQE")
    beats_bc = baseline or (fqe is not None and bc_value is not None and fqe.value > bc_value)
    allowed = audit_verdict == "offline-rl" or (baseline and audit_verdict == "bc-only")
    trusted_positive = [e for e, (_, low, _) in improvements.items() if low > 0 and estimates[e].trusted]
    any_positive = [e for e, (gain, _, _) in improvements.items() if gain > 0]
    trusted = [e for e in improvements if estimates[e].trusted]
    trusted_negative = bool(trusted) and all(improvements[e][0] <= 0 for e in trusted)

    if audit_verdict == "do-not-train":
        d.reasons.append("the audit found these logs cannot support a learned policy (verdict do-not-train)")
    elif audit_verdict == "bc-only" and not baseline:
        d.reasons.append("the audit allows behaviour cloning only: the logs cannot show a gain beyond the behaviour")
    d.reasons += [f"training instability: {text}" for text in instabilities]
    if not trusted:
        d.reasons.append("no estimator passed its diagnostics: the offline evidence is inconclusive")
    elif trusted_negative:
        d.reasons.append("every estimator that passed its diagnostics puts the candidate at or below the behaviour "
                         "policy")
    elif not any_positive:
        d.reasons.append("no estimator puts the candidate above the behaviour policy")
    if fqe is not None and bc_value is not None:
        d.reasons.append(f"FQE: {fqe.value:.3g} against the BC baseline's {bc_value:.3g}"
                         + ("" if beats_bc else " (does not beat BC: it adds nothing over imitating the logs)"))
    if trusted_positive:
        for e in trusted_positive:
            gain, low, high = improvements[e]
            d.evidence.append(f"{e}: improvement {gain:+.3g} over the behaviour policy, interval "
                              f"[{low:.3g}, {high:.3g}], diagnostics pass")
            d.unsafe_if.append(f"{e}'s estimate is wrong: it assumes {ASSUMPTIONS[e]}")
    else:
        d.reasons.append("no estimator with passing diagnostics has an interval of improvement above zero")
    untrusted = [e for e in any_positive if not estimates[e].trusted]
    for e in untrusted:
        d.reasons.append(f"{e} shows a gain but fails its diagnostics: " + "; ".join(estimates[e].warnings[:2]))
    if support is not None:
        if support.passed:
            d.evidence.append(f"support check passed: {support.off_support:.1%} of the candidate's choices fall "
                              "off the logged support")
            d.unsafe_if.append("the state regions hide states where the candidate leaves the data (the check is per "
                               "region, not per state)")
        else:
            worst = support.worst_regions(1)[0]
            d.reasons.append(f"support check failed: {worst['off_support']:.0%} off support in region "
                             f"{worst['region']} ({worst['share']:.0%} of the data)")
    if allowed:
        d.evidence.append(f"audit verdict {audit_verdict}" + ("" if audit_gap is None else
                                                              f" (hidden-information gap {audit_gap:.3f} nats/step)"))
        d.unsafe_if.append("the logged state misses something the decision makers used, in a way the audit's "
                           "hidden-information and confounding tests could not see (a driver that changes within "
                           "an episode and leaves no trace in the earlier decisions or the outcomes)")
    if audit_verdict == "do-not-train" or instabilities or trusted_negative:
        d.decision = "no-go"
    elif allowed and beats_bc and trusted_positive and (support is None or support.passed):
        d.decision = "go"
    return d
