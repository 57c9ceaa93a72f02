"""Normalised scores of MOPO and MOReL next to tether's model-free learners at equal gradient steps, and the
dynamics ensemble's held-out quality per dataset.

    python -m bench.model_based --steps 20000 [--datasets hopper-medium-v5,...] [--algos mopo,morel,td3_plus_bc,iql,cql]
        [--seeds 0,1,2] [--episodes 10] [--model-steps 50000] [--size N] [--device cpu|gpu] [--name NAME]

Every learner trains `--seeds` in one vmapped program for `--steps` policy updates (the model-based ones
after fitting their ensemble, up to `--model-steps` updates, early-stopped on held-out episodes; MOPO and
MOReL on one dataset share that ensemble); the greedy policies are rolled out for `--episodes` episodes
and normalised with the zoo's reference scores. MOPO uses the per-dataset (horizon, penalty) that
OfflineRL-Kit suggests for D4RL v2; MOReL its defaults. Each finished result is appended to the log as a
JSON line and reused by `--resume`. Published figures sit beside ours: they are on D4RL's datasets
(MOPO's paper v0, OfflineRL-Kit's MOPO v2, MOReL's paper), not on these regenerated v5 ones, and at
far longer budgets (MOPO: 1-3M updates).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._results import RESULTS, write_results
from tether.algos import EnvironmentEvaluator, get_algo
from tether.algos.model_based import DYNAMICS_FILE
from tether.datasets import get_dataset, normalized_score

# OfflineRL-Kit's suggested (rollout_horizon, penalty_coef) for D4RL v2
MOPO_SETTINGS = {"halfcheetah-medium": (5, 0.5), "hopper-medium": (5, 5.0), "walker2d-medium": (5, 0.5),
                 "halfcheetah-medium-replay": (5, 0.5), "hopper-medium-replay": (5, 2.5),
                 "walker2d-medium-replay": (1, 2.5)}
# published normalised scores: (MOPO paper, D4RL v0), (OfflineRL-Kit MOPO, v2), (MOReL paper)
PUBLISHED = {"halfcheetah-medium": (42.3, 72.4, 42.1), "hopper-medium": (28.0, 62.8, 95.4),
             "walker2d-medium": (17.8, 84.1, 77.8), "halfcheetah-medium-replay": (53.1, 72.1, 40.2),
             "hopper-medium-replay": (67.5, 92.7, 93.6), "walker2d-medium-replay": (39.0, 85.9, 49.8)}


def config_for(algo: str, dataset: str, model_steps: int):
    """The algorithm's config of record on `dataset` (MOPO's per-dataset setting; defaults otherwise)."""
    cls = get_algo(algo).config_cls
    if algo == "mopo":
        horizon, penalty = MOPO_SETTINGS.get(dataset.removesuffix("-v5"), (5, 1.0))
        return cls(rollout_horizon=horizon, penalty_coef=penalty, model_max_steps=model_steps)
    if algo == "morel":
        return cls(model_max_steps=model_steps)
    return cls()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--model-steps", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--datasets", default="hopper-medium-v5,halfcheetah-medium-v5,walker2d-medium-v5")
    parser.add_argument("--algos", default="mopo,morel,td3_plus_bc,iql,cql")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--size", type=int, default=None, help="steps of each built-in dataset (default: its own)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--name", default="model_based_scores")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    log = RESULTS / f"{args.name}.log.jsonl"
    done: dict[tuple[str, str], dict] = {}
    if args.resume and log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry["steps"] == args.steps and entry["seeds"] == seeds and entry.get("size") == args.size:
                done[entry["dataset"], entry["algorithm"]] = entry
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            dataset, env = get_dataset(name, size=args.size)
            for algo in args.algos.split(","):
                if (name, algo) in done:
                    continue
                run_dir = Path(tmp) / name / algo
                model_file = Path(tmp) / name / "mopo" / DYNAMICS_FILE
                if algo == "morel" and model_file.exists():  # same data, model config and seed: one ensemble
                    run_dir.mkdir(parents=True, exist_ok=True)
                    shutil.copy(model_file, run_dir / DYNAMICS_FILE)
                learner = config_for(algo, name, args.model_steps).create(device=args.device)
                started = time.perf_counter()
                learner.fit(dataset, n_steps=args.steps, n_steps_per_epoch=args.steps, seeds=seeds,
                            show_progress=False, run_dir=run_dir)
                evaluator = EnvironmentEvaluator(env, n_trials=args.episodes, seed=10_000)
                scores = [float(normalized_score(name, evaluator(view))) for view in learner.seed_learners()]
                entry = {"dataset": name, "algorithm": algo, "steps": args.steps, "seeds": seeds, "size": args.size,
                         "scores": scores, "seconds": round(time.perf_counter() - started, 1)}
                report = run_dir / "dynamics.json"
                if report.exists():
                    entry["model"] = json.loads(report.read_text())
                done[name, algo] = entry
                with log.open("a") as out:
                    out.write(json.dumps(entry) + "\n")
                print({k: v for k, v in entry.items() if k != "model"}, flush=True)
    write(done, args)


def write(done: dict, args) -> None:
    rows, quality = [], {}
    for (name, algo), entry in done.items():
        published = PUBLISHED.get(name.removesuffix("-v5"))
        rows.append({"dataset": name, "algorithm": algo, "steps": entry["steps"], "seeds": len(entry["seeds"]),
                     "score_mean": round(float(np.mean(entry["scores"])), 1),
                     "score_std": round(float(np.std(entry["scores"])), 1), "seconds": entry["seconds"],
                     "published": ("-" if published is None or algo not in ("mopo", "morel") else
                                   f"{published[0]} (paper, v0), {published[1]} (OfflineRL-Kit, v2)" if algo == "mopo"
                                   else f"{published[2]} (paper, v0)")})
        model = entry.get("model")
        if model and name not in quality:
            elites = model["elites"]
            quality[name] = {"dataset": name, "model_updates": model["steps"], "stopped_early": model["stopped_early"],
                             "holdout_mse": round(float(np.mean([model["holdout_mse"][i] for i in elites])), 4),
                             "holdout_nll": round(float(np.mean([model["holdout_nll"][i] for i in elites])), 3),
                             "termination_accuracy": round(model["termination_accuracy"], 4),
                             "holdout_episodes": model["holdout_episodes"]}
    seeds = len(args.seeds.split(","))
    write_results(args.name, {"device": args.device, "model_steps": args.model_steps}, rows,
                  f"Model-based against model-free learners: normalised score (0 random, 100 zoo expert) after "
                  f"{args.steps:,} policy updates, {seeds} seeds, {args.device}; published figures are on D4RL's "
                  "data after 1-3M updates")
    write_results(f"{args.name}_model_quality", {"device": args.device}, list(quality.values()),
                  "The dynamics ensemble's held-out error on whole held-out episodes (elites' mean; MSE in units of "
                  "each target's variance, so 1.0 is predicting the mean; NLL per transition, summed over targets)")


if __name__ == "__main__":
    main()
