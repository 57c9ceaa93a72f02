"""Every continuous offline learner on the built-in locomotion datasets, seeds vmapped, with IQM and 95%
stratified-bootstrap intervals (rliable) and CORL's published numbers beside them.

    python -m bench.scores_long --steps 100000 [--datasets hopper-medium-v5,...] [--algos bc,rebrac,...]
        [--seeds 0,1,2,3,4] [--episodes 10] [--device cpu|gpu] [--resume] [--name scores_long]

For each dataset and learner: its default hyperparameters, `--seeds` trained as one vmapped program, each
seed's greedy policy rolled out for `--episodes` episodes (resets seeded 10000+). Scores are normalised
two ways: `score_*` by D4RL's reference returns (0 random, 100 D4RL's expert: the scale of published
tables) and `zoo_score_mean` by the zoo's own random and expert returns (the scale the built-in datasets
were made on; their experts are below D4RL's, so "medium" here is not D4RL's medium and the two columns
differ). `corl` is CORL's last-checkpoint mean over 4 seeds at 1M steps (3M for SAC-N and EDAC) on the
D4RL v2 dataset of the same name, for orientation only. Each finished (dataset, learner) is appended to
`--log` at once; `--resume` reuses what the log holds for the same steps and seeds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench._results import RESULTS, cpu_model, iqm_interval, write_results
from tether.algos import EnvironmentEvaluator, get_algo
from tether.datasets import get_dataset, get_task, normalized_score

# CORL README (corl-team fork, Feb 2024), last checkpoint, 4 seeds: ../shared/reference/offline-rl-anchors.md 3.3
CORL_LAST = {
    ("halfcheetah", "medium"): {"bc": 42.40, "td3_plus_bc": 48.10, "cql": 47.04, "iql": 48.31, "rebrac": 64.04,
                                "sac_n": 68.20, "edac": 67.70},
    ("halfcheetah", "medium-replay"): {"bc": 35.66, "td3_plus_bc": 44.84, "cql": 45.04, "iql": 44.46,
                                       "rebrac": 51.18, "sac_n": 60.70, "edac": 62.06},
    ("halfcheetah", "medium-expert"): {"bc": 55.95, "td3_plus_bc": 90.78, "cql": 95.63, "iql": 94.74,
                                       "rebrac": 103.80, "sac_n": 98.96, "edac": 104.76},
    ("hopper", "medium"): {"bc": 53.51, "td3_plus_bc": 60.37, "cql": 59.08, "iql": 67.53, "rebrac": 102.29,
                           "sac_n": 40.82, "edac": 101.70},
    ("hopper", "medium-replay"): {"bc": 29.81, "td3_plus_bc": 64.42, "cql": 95.11, "iql": 97.43, "rebrac": 94.98,
                                  "sac_n": 100.33, "edac": 99.66},
    ("hopper", "medium-expert"): {"bc": 52.30, "td3_plus_bc": 101.17, "cql": 99.26, "iql": 107.42,
                                  "rebrac": 109.45, "sac_n": 101.31, "edac": 105.19},
    ("walker2d", "medium"): {"bc": 63.23, "td3_plus_bc": 82.71, "cql": 80.75, "iql": 80.91, "rebrac": 85.82,
                             "sac_n": 87.47, "edac": 93.36},
    ("walker2d", "medium-replay"): {"bc": 21.80, "td3_plus_bc": 85.62, "cql": 73.09, "iql": 82.15,
                                    "rebrac": 84.25, "sac_n": 78.99, "edac": 87.10},
    ("walker2d", "medium-expert"): {"bc": 98.96, "td3_plus_bc": 110.03, "cql": 109.56, "iql": 111.72,
                                    "rebrac": 111.86, "sac_n": 114.93, "edac": 114.75},
}
ALGOS = "bc,td3_plus_bc,iql,cql,bcq,rebrac,sac_n,edac,mopo,morel"
DATASETS = ",".join(f"{task}-{level}-v5" for task in ("hopper", "halfcheetah", "walker2d")
                    for level in ("medium", "medium-replay", "medium-expert"))


def d4rl_score(name: str, returns: np.ndarray) -> np.ndarray:
    """`returns` on D4RL's scale for the task of `name` (0 = D4RL's random, 100 = D4RL's expert)."""
    task = get_task(name)
    return 100.0 * (returns - task.d4rl_ref_min_score) / (task.d4rl_ref_max_score - task.d4rl_ref_min_score)


def corl_last(name: str, algo: str) -> float | None:
    task, _, rest = name.partition("-")
    return CORL_LAST.get((task, rest.rsplit("-", 1)[0]), {}).get(algo)


def train_and_score(name: str, algo: str, steps: int, seeds: list[int], episodes: int, device: str) -> dict:
    """Train `algo`'s seeds on `name` in one program and roll out each seed's greedy policy: a log entry."""
    dataset, env = get_dataset(name)
    started = time.perf_counter()
    learner = get_algo(algo).config_cls().create(device=device)
    learner.fit(dataset, n_steps=steps, n_steps_per_epoch=min(steps, 10_000), seeds=seeds, show_progress=False)
    train_s = time.perf_counter() - started
    evaluator = EnvironmentEvaluator(env, n_trials=episodes, seed=10_000)
    returns = [float(evaluator(view)) for view in learner.seed_learners()]
    return {"dataset": name, "algorithm": algo, "steps": steps, "seeds": seeds, "episodes": episodes,
            "returns": returns, "train_s": round(train_s, 1), "device": device}


def row(entry: dict) -> dict:
    returns = np.asarray(entry["returns"])
    scores = d4rl_score(entry["dataset"], returns)
    iqm, low, high = iqm_interval(scores)
    corl = corl_last(entry["dataset"], entry["algorithm"])
    return {"dataset": entry["dataset"], "algorithm": entry["algorithm"], "steps": entry["steps"],
            "seeds": len(entry["seeds"]), "score_mean": round(float(scores.mean()), 1), "score_iqm": round(iqm, 1),
            "score_ci_low": round(low, 1), "score_ci_high": round(high, 1),
            "zoo_score_mean": round(float(np.mean(normalized_score(entry["dataset"], returns))), 1),
            "corl": corl if corl is not None else "-", "train_s": entry["train_s"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--algos", default=ALGOS)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--name", default="scores_long")
    parser.add_argument("--log", type=Path, default=None, help="default: bench/results/<name>.log.jsonl")
    parser.add_argument("--resume", action="store_true", help="reuse the results already in --log")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    log = args.log or RESULTS / f"{args.name}.log.jsonl"
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            done[entry["dataset"], entry["algorithm"], entry["steps"], tuple(entry["seeds"])] = entry
    log.parent.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in args.datasets.split(","):
        for algo in args.algos.split(","):
            key = (name, algo, args.steps, tuple(seeds))
            if args.resume and key in done:
                entries.append(done[key])
                continue
            entry = train_and_score(name, algo, args.steps, seeds, args.episodes, args.device)
            with log.open("a") as out:
                out.write(json.dumps(entry) + "\n")
            print(json.dumps(entry), flush=True)
            entries.append(entry)
    rows = [row(entry) for entry in entries]
    write_results(args.name, {"steps": args.steps, "seeds": seeds, "episodes": args.episodes, "device": args.device,
                              "cpu_model": cpu_model()}, rows,
                  f"D4RL-normalised score (IQM over {len(seeds)} seeds, 95% stratified-bootstrap interval), "
                  f"{args.steps:,} steps on {args.device}; corl: CORL's published last-checkpoint mean at 1M "
                  "steps (3M for SAC-N/EDAC) on D4RL's v2 data, for orientation")


if __name__ == "__main__":
    main()
