"""How good is tether's offline evaluation? Estimates against exact truth on the decision simulators.

    python bench/ope_quality.py [--scenarios fraud,treatment,recommender] [--seeds 3] [--episodes 500]

For each scenario a family of 8 candidate policies of varied quality (the behaviour policy; mixtures
of the full-state greedy-optimal policy, projected onto what the log shows, with the uniform allowed
policy at weights 1, 0.75, 0.5, 0.25, 0; the most logged action per state; a uniform-random one)
is evaluated from logs of `--episodes` episodes, for `--seeds` independent logs. Every estimator
(FQE, IS, PDIS, WIS, WPDIS, DR, WDR; gamma 0.95, the estimand is the discounted return of an
episode) is scored per log with Spearman rank correlation, regret@1 (DOPE's definition) and
absolute error normalised by the true values' range, then averaged over logs; coverage is the share
of all (candidate, log) 95% intervals containing the exact value.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench._ope import OPETally
from bench._results import write_results
from tether.envs import get_scenario
from tether.ope import FQEConfig, evaluate_policy, table_policy

ESTIMATORS = ("FQE", "IS", "PDIS", "WIS", "WPDIS", "DR", "WDR")
GAMMA = 0.95


def candidates(scenario) -> dict[str, np.ndarray]:
    mdp = scenario.mdp
    uniform = mdp.action_masks / mdp.action_masks.sum(1, keepdims=True)
    greedy = mdp.greedy_table(GAMMA)
    family = {"behaviour": scenario.behavior}
    for weight in (1.0, 0.75, 0.5, 0.25):
        family[f"greedy {weight:.2f}"] = weight * greedy + (1 - weight) * uniform
    family["uniform"] = uniform
    family["modal"] = np.eye(mdp.n_actions)[np.where(mdp.action_masks, scenario.behavior, -1).argmax(1)]
    family["anti-greedy"] = np.where(mdp.action_masks, 1 - greedy, 0) / np.maximum(
        np.where(mdp.action_masks, 1 - greedy, 0).sum(1, keepdims=True), 1e-12)
    return {name: mdp.feature_policy(table) for name, table in family.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", default="fraud,treatment,recommender")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--fqe-steps", type=int, default=3000)
    args = parser.parse_args()
    fqe_config = FQEConfig(gamma=GAMMA, hidden_dims=(64, 64), n_heads=5)
    rows, results = [], {}
    for name in args.scenarios.split(","):
        scenario = get_scenario(name)
        family = candidates(scenario)
        truths = np.array([scenario.mdp.value(t, GAMMA) for t in family.values()])
        tally = OPETally(ESTIMATORS)
        start = time.perf_counter()
        for seed in range(args.seeds):
            data = scenario.logs(args.episodes, seed=100 + seed)
            estimates = {e: [] for e in ESTIMATORS}
            for cname, table in family.items():
                out = evaluate_policy(table_policy(table, scenario.mdp, cname), data, gamma=GAMMA,
                                      fqe_steps=args.fqe_steps, fqe_config=fqe_config, n_boot=200, seed=seed)
                for e in ESTIMATORS:
                    estimates[e].append(out[e])
            tally.add_log(estimates, truths)
        scores, scenario_rows = tally.summary(scenario=name)
        results.update({f"{name}/{e}": {**r, "truths": truths.tolist()} for e, r in scores.items()})
        rows += scenario_rows
        print(f"{name}: {time.perf_counter() - start:.0f}s", flush=True)
    write_results("ope_quality", {"seeds": args.seeds, "episodes": args.episodes, "gamma": GAMMA,
                                  "candidates": list(family), "results": results}, rows,
                  f"OPE against exact truth: 8 candidates, {args.episodes}-episode logs, {args.seeds} logs per "
                  f"scenario, gamma {GAMMA}")


if __name__ == "__main__":
    main()
