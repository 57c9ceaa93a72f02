"""Scoring offline estimates against truth, shared by the OPE benchmarks."""

from __future__ import annotations

import numpy as np

from tether.ope import coverage, normalized_absolute_error, regret_at_k, spearman


class OPETally:
    """Per estimator, per log: Spearman, regret@1 (DOPE), normalised absolute error, and all intervals."""

    def __init__(self, estimators: tuple[str, ...]) -> None:
        self.estimators = estimators
        fields = ("spearman", "regret@1", "nae", "intervals", "truths", "values", "trusted")
        self.per_log = {e: {name: [] for name in fields} for e in estimators}

    def add_log(self, estimates: dict[str, list], truths: np.ndarray) -> None:
        """`estimates[e]` holds one `Estimate` per candidate, in the order of `truths`."""
        for e in self.estimators:
            values = np.array([est.value for est in estimates[e]])
            tally = self.per_log[e]
            tally["spearman"].append(spearman(values, truths))
            tally["regret@1"].append(regret_at_k(values, truths, 1))
            tally["nae"].append(normalized_absolute_error(values, truths))
            tally["intervals"] += [list(est.interval) for est in estimates[e]]
            tally["truths"] += list(map(float, truths))
            tally["values"].append(values.tolist())
            tally["trusted"].append([est.trusted for est in estimates[e]])

    def summary(self, **row_keys) -> tuple[dict, list[dict]]:
        """`(results per estimator, table rows)`: metrics averaged over logs; coverage over all intervals."""
        results, rows = {}, []
        for e in self.estimators:
            tally = self.per_log[e]
            cov = coverage(tally["intervals"], tally["truths"])
            kept = ("spearman", "regret@1", "nae", "values", "trusted")
            results[e] = {**{k: tally[k] for k in kept}, "coverage": cov}
            rows.append({**row_keys, "estimator": e, "Spearman": f"{np.nanmean(tally['spearman']):.2f}",
                         "regret@1": f"{np.mean(tally['regret@1']):.3f}",
                         "normalised abs. error": f"{np.mean(tally['nae']):.3f}",
                         "95% interval coverage": f"{cov:.0%}"})
            print(rows[-1], flush=True)
        return results, rows


def estimates_for(policy, data, estimators: tuple[str, ...], model=None, gamma: float = 0.99, seed: int = 0,
                  **evaluate_kwargs) -> dict:
    """`{estimator: Estimate}`: `evaluate_policy` for the model-free estimators, `model_based_estimate` for
    "MB" in the fitted `model` (`tether.ope.model_based.fit_evaluation_model`, one per log)."""
    from tether.ope import evaluate_policy
    from tether.ope.model_based import model_based_estimate

    others = tuple(e for e in estimators if e != "MB")
    out = evaluate_policy(policy, data, gamma=gamma, estimators=others, seed=seed, **evaluate_kwargs) if others else {}
    if "MB" in estimators:
        out["MB"] = model_based_estimate(policy, data, gamma=gamma, model=model, seed=seed)
    return out
