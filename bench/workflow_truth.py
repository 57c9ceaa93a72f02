"""`tether run` on the MuJoCo tasks against rollout truth: does the gate reach decisions the truth supports?

    python -m bench.workflow_truth [--tasks hopper halfcheetah walker2d] [--profiles quick seed] [--runs DIR]

For each task and profile, the default workflow runs on `<task>-medium-v5` (the built-in dataset) with
its default candidates. Every policy (the BC baseline and the candidates) gets one row: its FQE
estimate and interval, whether FQE converged and was trusted, its true value (the mean discounted
return of `--truth-episodes` fresh episodes of the greedy policy, with its standard error: more than
the run's own 10, so that the truth can tell policies a few points apart), the gate's decision and
whether the truth agrees: a "go" agrees when the policy is truly better than the behaviour's logged
value (the true gain more than two standard errors above zero, the rollouts' and the logged mean's
combined) and disagrees when it is truly worse, a "no-go" the other way round; where the true gain is
within two standard errors of zero the truth cannot judge (empty), and "investigate" is no decision.
Runs live in `--runs` (kept between invocations) and resume where they stopped; rows go to
`bench/results/workflow_truth.json` with, per run, Spearman's rank correlation between FQE and truth
and the share of FQE intervals that hold the truth (within two of its standard errors).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench._results import write_results


def rollout_truth(out: Path, name: str, task: str, episodes: int, gamma: float) -> tuple[float, float]:
    """Mean and standard error of the discounted return of `episodes` fresh episodes of a saved learner."""
    from tether.algos import EnvironmentEvaluator, load_learner
    from tether.envs import make_env

    env = make_env(task)
    _, discounted = EnvironmentEvaluator(env, n_trials=episodes, seed=20_000).returns(
        load_learner(out / "learners" / name / "model.tether"), gamma)
    return float(discounted.mean()), float(discounted.std(ddof=1) / np.sqrt(episodes))


def rows_of(results, out: Path, task: str, profile: str, episodes: int) -> list[dict]:
    """One flat row per policy of a finished run, its truth from `episodes` fresh rollouts."""
    behavior = results.behavior_value.mean
    behavior_low, behavior_high = results.behavior_value.interval
    behavior_se = (behavior_high - behavior_low) / (2 * 1.96)
    rows = []
    for name in [results.baseline, *results.candidates]:
        evaluation = results.evaluation[name]
        fqe = evaluation.estimates["FQE"]
        truth_value, truth_se = rollout_truth(out, name, task, episodes, results.config.gamma)
        error = 2.0 * truth_se
        z = (truth_value - behavior) / np.hypot(truth_se, behavior_se)  # the true gain in standard errors
        better, worse = z > 2.0, z < -2.0
        decision = results.decisions[name].decision
        # True/False where the truth is clear (|z| > 2); None where it is not, or where the gate did not decide
        agrees = {"go": better if (better or worse) else None, "no-go": worse if (better or worse) else None,
                  "investigate": None}[decision]
        rows.append({"task": task, "profile": profile, "policy": name, "fqe": round(fqe.value, 2),
                     "fqe_low": round(fqe.interval[0], 2), "fqe_high": round(fqe.interval[1], 2),
                     "fqe_converged": bool(fqe.diagnostics.get("converged")), "fqe_trusted": fqe.trusted,
                     "truth": round(truth_value, 2), "truth_se": round(truth_se, 2),
                     "behaviour": round(results.behavior_value.mean, 2),
                     "truly": "better" if better else "worse" if worse else "level", "gain_z": round(z, 1),
                     "decision": decision, "truth_agrees": agrees,
                     "covered": bool(fqe.interval[0] - error <= truth_value <= fqe.interval[1] + error)})
    return rows


def spearman(a: list[float], b: list[float]) -> float:
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1]) if len(a) > 2 else float("nan")


def main() -> None:
    from tether.workflow import RunConfig, run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=["halfcheetah", "hopper", "walker2d"])
    parser.add_argument("--profiles", nargs="*", default=["quick", "seed"])
    parser.add_argument("--runs", type=Path, default=Path("/tmp/tether-workflow-truth"))
    parser.add_argument("--truth-episodes", type=int, default=100)
    args = parser.parse_args()
    rows, summaries = [], []
    for profile in args.profiles:
        for task in args.tasks:
            out = args.runs / f"{task}-{profile}"
            resume = (out / "config.json").exists()
            results = run(RunConfig(data=f"{task}-medium-v5", profile=profile), out, resume=resume,
                          log=lambda m: print(m, flush=True))
            run_rows = rows_of(results, out, task, profile, args.truth_episodes)
            rows += run_rows
            decided = [r for r in run_rows if r["truth_agrees"] is not None]
            summaries.append({"task": task, "profile": profile,
                              "spearman": round(spearman([r["fqe"] for r in run_rows],
                                                         [r["truth"] for r in run_rows]), 2),
                              "coverage": round(np.mean([r["covered"] for r in run_rows]), 2),
                              "decided": len(decided), "agree": sum(bool(r["truth_agrees"]) for r in decided)})
            print(summaries[-1], flush=True)
    write_results("workflow_truth", {"summaries": summaries}, rows,
                  f"tether run on the MuJoCo medium datasets against rollout truth ({args.truth_episodes} episodes "
                  "per policy, discounted like the estimates; 2-core CPU)")


if __name__ == "__main__":
    main()
