"""How good is tether's offline evaluation? Estimates against exact truth on the decision simulators.

    python bench/ope_quality.py [--scenarios fraud,treatment,recommender] [--seeds 3] [--episodes 500]

For each scenario a family of 8 candidate policies of varied quality (the behaviour policy; mixtures
of the full-state greedy-optimal policy, projected onto what the log shows, with the uniform allowed
policy at weights 1, 0.75, 0.5, 0.25, 0; the most logged action per state; a uniform-random one)
is evaluated from logs of `--episodes` episodes, for `--seeds` independent logs. Every estimator (FQE,
IS, PDIS, WIS, WPDIS, DR, WDR, and MB, rollouts in a dynamics ensemble fitted to the log; gamma 0.95,
the estimand is the discounted return of an episode) is scored per log with Spearman rank correlation,
regret@1 (DOPE's definition) and absolute error normalised by the true values' range, then averaged over
logs; coverage is the share of all (candidate, log) 95% intervals containing the exact value.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench._ope import OPETally, estimates_for
from bench._results import write_results
from tether.dynamics import DynamicsConfig
from tether.envs import get_scenario
from tether.ope import FQEConfig, table_policy
from tether.ope.model_based import fit_evaluation_model

ESTIMATORS = ("FQE", "IS", "PDIS", "WIS", "WPDIS", "DR", "WDR", "MB")
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
    parser.add_argument("--estimators", default=",".join(ESTIMATORS))
    parser.add_argument("--model-steps", type=int, default=10_000, help="the MB estimator's ensemble updates at most")
    parser.add_argument("--name", default="ope_quality")
    args = parser.parse_args()
    estimators = tuple(args.estimators.split(","))
    fqe_config = FQEConfig(gamma=GAMMA, hidden_dims=(64, 64), n_heads=5)
    rows, results = [], {}
    for name in args.scenarios.split(","):
        scenario = get_scenario(name)
        family = candidates(scenario)
        truths = np.array([scenario.mdp.value(t, GAMMA) for t in family.values()])
        tally = OPETally(estimators)
        start = time.perf_counter()
        for seed in range(args.seeds):
            data = scenario.logs(args.episodes, seed=100 + seed)
            estimates = {e: [] for e in estimators}
            model = (fit_evaluation_model(data, DynamicsConfig(max_steps=args.model_steps), seed=seed)
                     if "MB" in estimators else None)
            for cname, table in family.items():
                out = estimates_for(table_policy(table, scenario.mdp, cname), data, estimators, model, gamma=GAMMA,
                                    fqe_steps=args.fqe_steps, fqe_config=fqe_config, n_boot=200, seed=seed)
                for e in estimators:
                    estimates[e].append(out[e])
            tally.add_log(estimates, truths)
        scores, scenario_rows = tally.summary(scenario=name)
        results.update({f"{name}/{e}": {**r, "truths": truths.tolist()} for e, r in scores.items()})
        rows += scenario_rows
        print(f"{name}: {time.perf_counter() - start:.0f}s", flush=True)
    write_results(args.name, {"seeds": args.seeds, "episodes": args.episodes, "gamma": GAMMA,
                                  "candidates": list(family), "results": results}, rows,
                  f"OPE against exact truth: 8 candidates, {args.episodes}-episode logs, {args.seeds} logs per "
                  f"scenario, gamma {GAMMA}")


if __name__ == "__main__":
    main()
