"""Offline evaluation on a MuJoCo task against rollout truth: zoo snapshots as candidates.

    python bench/ope_mujoco.py [--task hopper] [--logs 2] [--episodes 200] [--fqe-steps 10000]

The logs are disjoint sets of `--episodes` episodes drawn from the regenerated `<task>-medium-v5`
dataset (the zoo's medium policy, stochastic, propensities logged). The candidates are the task's
shipped zoo snapshots, each as its stochastic tanh-Gaussian policy (so every candidate has a density
and the IS family applies), from barely trained to expert. Truth is the Monte-Carlo mean of the
discounted return (gamma 0.99) over `--rollouts` fresh episodes of each candidate in the simulator.
MB is the model-based estimator (rollouts in a dynamics ensemble fitted to each log).
FQE trains `--fqe-steps`, then on until its convergence check passes (up to `--fqe-max-steps`).
Every estimator is scored per log with Spearman rank correlation, regret@1 (DOPE) and absolute error
normalised by the true values' range; coverage is the share of (candidate, log) 95% intervals that
hold the truth (the Monte-Carlo truth's own standard error is reported next to it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench._ope import OPETally, estimates_for
from bench._results import write_results
from tether.datasets import get_dataset
from tether.dynamics import DynamicsConfig
from tether.ope import FQEConfig
from tether.ope.model_based import fit_evaluation_model
from tether.ope.policy import zoo_policy
from tether.zoo.collect import rollout
from tether.zoo.policy import ZooPolicy
from tether.zoo.registry import task_zoo

ESTIMATORS = ("FQE", "IS", "PDIS", "WIS", "WPDIS", "DR", "WDR", "MB")
GAMMA = 0.99


def rollout_truth(task: str, policy: ZooPolicy, episodes: int, seed: int) -> tuple[float, float]:
    """Mean and standard error of the discounted return of whole episodes (the last, cut one is dropped)."""
    data = rollout(task, policy, n_steps=episodes * 1000, seed=seed)
    complete = np.flatnonzero(data.terminations[data.episode_ends - 1]
                              | (data.episode_lengths >= 1000))[:episodes]
    returns = data.episode_returns(GAMMA)[complete]
    return float(returns.mean()), float(returns.std() / np.sqrt(len(returns)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--logs", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--rollouts", type=int, default=30)
    parser.add_argument("--fqe-steps", type=int, default=10_000)
    parser.add_argument("--fqe-max-steps", type=int, default=40_000,
                        help="FQE trains on past --fqe-steps until its convergence check passes, up to this")
    parser.add_argument("--estimators", default=",".join(ESTIMATORS))
    parser.add_argument("--model-steps", type=int, default=50_000, help="the MB estimator's ensemble updates at most")
    parser.add_argument("--name", default=None, help="results name (default ope_mujoco_<task>)")
    args = parser.parse_args()
    estimators = tuple(args.estimators.split(","))
    zoo = task_zoo(args.task)
    steps = [s["step"] for s in zoo.entry["snapshots"]]
    policies = {f"step {s // 1000}k": zoo.policy(f"step_{s}") for s in steps}
    start = time.perf_counter()
    truth = {name: rollout_truth(args.task, p, args.rollouts, seed=7) for name, p in policies.items()}
    truths = np.array([t[0] for t in truth.values()])
    print({name: round(t[0], 1) for name, t in truth.items()}, f"{time.perf_counter() - start:.0f}s", flush=True)
    full, _ = get_dataset(f"{args.task}-medium-v5", create_env=False)
    order = np.random.default_rng(0).permutation(full.n_episodes)
    fqe_config = FQEConfig(gamma=GAMMA)
    tally = OPETally(estimators)
    behaviour_returns = []
    for log in range(args.logs):
        data = full.select_episodes(np.sort(order[log * args.episodes:(log + 1) * args.episodes]))
        behaviour_returns.append(float(data.episode_returns(GAMMA).mean()))
        estimates = {e: [] for e in estimators}
        model = (fit_evaluation_model(data, DynamicsConfig(max_steps=args.model_steps), seed=log)
                 if "MB" in estimators else None)
        for i, (name, policy) in enumerate(policies.items()):
            out = estimates_for(zoo_policy(policy, name, seed=i), data, estimators, model, gamma=GAMMA,
                                fqe_steps=args.fqe_steps, fqe_max_steps=args.fqe_max_steps, fqe_config=fqe_config,
                                n_boot=200, seed=log)
            for e in estimators:
                estimates[e].append(out[e])
            print(log, name, {e: round(out[e].value, 1) for e in estimators}, f"truth {truth[name][0]:.1f}",
                  f"{time.perf_counter() - start:.0f}s", flush=True)
        tally.add_log(estimates, truths)
    results, rows = tally.summary()
    write_results(args.name or f"ope_mujoco_{args.task}", {
        "task": args.task, "gamma": GAMMA, "logs": args.logs, "episodes_per_log": args.episodes,
        "fqe_steps": args.fqe_steps, "fqe_max_steps": args.fqe_max_steps, "rollouts": args.rollouts, "truth": truth,
        "behaviour_value_per_log": behaviour_returns, "results": results,
        "seconds": time.perf_counter() - start}, rows,
        f"OPE on {args.task}-medium-v5 against rollout truth: {len(policies)} zoo snapshots as candidates, "
        f"{args.logs} logs of {args.episodes} episodes, FQE {args.fqe_steps:,} steps, gamma {GAMMA}")


if __name__ == "__main__":
    main()
