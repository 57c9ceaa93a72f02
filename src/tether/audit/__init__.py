"""The dataset audit: can these logs support offline RL, only behaviour cloning, or nothing?

    report = audit(dataset)            # AuditReport: verdict, reasons, next steps, diagnostics
    report = audit_parquet("big.parquet")  # the same, streamed in one pass with bounded memory
"""

from __future__ import annotations

import time

from tether.audit import diagnostics as diag
from tether.audit.stream import audit_parquet
from tether.audit.verdict import THRESHOLDS, AuditReport, Reason, decide
from tether.data import LoggedDataset


def audit(dataset: LoggedDataset, reference: LoggedDataset | None = None, seed: int = 0) -> AuditReport:
    """Run every diagnostic on `dataset` (SACo relative to `reference` when given) and decide.

    Example:
        Reviewers who always follow the same habit leave no record of what other decisions would
        have done, so the audit allows behaviour cloning only, and says why and what to change:

        >>> from tether.envs import fraud_review_queue
        >>> from tether.envs.fraud import reviewer_habit
        >>> mdp = fraud_review_queue()
        >>> report = audit(mdp.make_logs(reviewer_habit(mdp), n_episodes=200, seed=0))
        >>> report.verdict
        'bc-only'
        >>> print(report.reasons[0].text)
        the behaviour is nearly deterministic (normalised action entropy 0.00):
        other actions' outcomes are not in the log
        >>> print(report.reasons[0].next_step)
        start with behaviour cloning; to learn better decisions, randomise a small share of them
        and log the propensities
    """
    start = time.perf_counter()
    results = {
        "size": diag.size_and_returns(dataset),
        **diag.learned_diagnostics(dataset, reference, seed),
        "action_space": {"kind": dataset.action_space.kind,
                         "how": dataset.metadata.get("action_space_inferred", "stored with the data")},
    }
    report = decide(results, dataset.action_space.is_discrete)
    report.diagnostics["seconds"] = time.perf_counter() - start
    return report


__all__ = ["THRESHOLDS", "AuditReport", "Reason", "audit", "audit_parquet", "decide"]
