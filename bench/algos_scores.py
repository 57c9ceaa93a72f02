"""Normalised scores of tether's learners next to d3rlpy's, at an equal step budget, in one run.

    python bench/algos_scores.py --steps 100000 [--datasets halfcheetah-medium-v5,hopper-medium-v5]
        [--algos bc,td3_plus_bc,iql,cql,bcq] [--device cpu|gpu] [--peer-workers N] [--log FILE]
        [--seeds 0,1,2] [--resume] [--name NAME] [--bcq-samples N]

For each dataset and algorithm: `--seeds` (3 by default) each side, default hyperparameters (networks and batch
sizes matched), the greedy policy rolled out for `--episodes` episodes (resets seeded 10000+),
normalised with the zoo's reference scores. Reports mean and standard deviation over seeds and
states the budget. tether trains its seeds in one vmapped program; d3rlpy's runs go to a pool of
`--peer-workers` processes at the same time (on a GPU they share it). Each finished result is
appended to `--log` as a JSON line as soon as it exists, so a cut-off run keeps what it measured, and
`--resume` takes every result already in the log (same steps) instead of training it again.
`--bcq-samples N` sets BCQ's VAE samples on both sides, for acting and for the critic's target (d3rlpy's
`n_action_samples` is both; default 100 each): 10 makes a BCQ seed about ten times cheaper, for more seeds
on a CPU. The log keeps results from different sample counts apart.
`TETHER_PEER_PYTHON` names the interpreter with d3rlpy (default bench/.venv-d3rlpy).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench._results import PEER_PYTHON, RESULTS, write_results
from tether.algos import EnvironmentEvaluator, get_algo
from tether.data import save_dataset
from tether.datasets import get_dataset, normalized_score

PEER_SCRIPT = Path(__file__).parent / "peers" / "d3rlpy_score.py"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--datasets", default="halfcheetah-medium-v5,hopper-medium-v5")
    parser.add_argument("--algos", default="bc,td3_plus_bc,iql,cql,bcq")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--peer-workers", type=int, default=1)
    parser.add_argument("--log", type=Path, default=RESULTS / "algos_scores.log.jsonl")
    parser.add_argument("--name", default="algos_scores")
    parser.add_argument("--resume", action="store_true", help="reuse the results already in --log")
    parser.add_argument("--seeds", default="0,1,2", help="seeds each side trains (default 3)")
    parser.add_argument("--bcq-samples", type=int, default=0,
                        help="BCQ's VAE samples for acting and target, both sides (default: 100, both defaults)")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    done_tether, done_peer = {}, {}
    if args.resume and args.log.exists():
        for line in args.log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("steps", args.steps) != args.steps or entry.get("bcq_samples", 0) != args.bcq_samples:
                continue
            if entry["side"] == "tether":
                if entry["seeds"] == seeds:
                    done_tether[entry["dataset"], entry["algo"]] = entry["scores"]
            else:
                done_peer[entry["dataset"], entry["algo"], entry["seed"]] = entry["score"]
    lock = threading.Lock()
    args.log.parent.mkdir(parents=True, exist_ok=True)

    def record(entry: dict) -> None:
        entry["steps"] = args.steps
        if args.bcq_samples:
            entry["bcq_samples"] = args.bcq_samples
        with lock, args.log.open("a") as log:
            log.write(json.dumps(entry) + "\n")
        print(entry, flush=True)

    def run_peer(name: str, algo: str, path: Path, env_id: str, seed: int) -> float:
        if (name, algo, seed) in done_peer:
            return done_peer[name, algo, seed]
        command = [str(PEER_PYTHON), str(PEER_SCRIPT), algo, str(path), env_id, str(args.steps), str(seed),
                   str(args.episodes), "cuda:0" if args.device == "gpu" else "cpu:0"]
        if algo == "bcq" and args.bcq_samples:
            command.append(str(args.bcq_samples))
        env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.peer_workers > 1 else None
        out = subprocess.run(command, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"d3rlpy {algo} seed {seed} on {name} failed:\n{out.stderr[-2000:]}")
        score = float(normalized_score(name, json.loads(out.stdout.splitlines()[-1])["return"]))
        record({"dataset": name, "algo": algo, "side": "d3rlpy", "seed": seed, "score": score})
        return score

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max(args.peer_workers, 1)) as pool:
        peers = {}
        loaded = {}
        for name in args.datasets.split(","):
            dataset, env = loaded[name] = get_dataset(name)
            if PEER_PYTHON.exists():
                outstanding = any((name, algo, s) not in done_peer for algo in args.algos.split(",") for s in seeds)
                path = save_dataset(dataset, Path(tmp) / f"{name}.npz") if outstanding else None  # peers read it
                for algo in args.algos.split(","):
                    peers[name, algo] = [pool.submit(run_peer, name, algo, path, env.spec.id, s) for s in seeds]
        for name, (dataset, env) in loaded.items():
            for algo in args.algos.split(","):
                if (name, algo) in done_tether:
                    results[f"{name}/{algo}"] = {"tether": done_tether[name, algo]}
                    continue
                overrides = ({"n_action_samples": args.bcq_samples, "n_target_samples": args.bcq_samples}
                             if algo == "bcq" and args.bcq_samples else {})
                learner = get_algo(algo).config_cls(**overrides).create(device=args.device)
                learner.fit(dataset, n_steps=args.steps, n_steps_per_epoch=args.steps, seeds=seeds,
                            show_progress=False)
                evaluator = EnvironmentEvaluator(env, n_trials=args.episodes, seed=10_000)
                ours = [float(normalized_score(name, evaluator(view))) for view in learner.seed_learners()]
                record({"dataset": name, "algo": algo, "side": "tether", "seeds": seeds, "scores": ours})
                results[f"{name}/{algo}"] = {"tether": ours}
        for (name, algo), futures in peers.items():
            results[f"{name}/{algo}"]["d3rlpy"] = [future.result() for future in futures]
    rows = []
    for key, sides in results.items():
        name, algo = key.split("/")
        ours, peer = sides["tether"], sides.get("d3rlpy", [])
        rows.append({"dataset": name, "algorithm": algo, "tether": f"{np.mean(ours):.1f} ± {np.std(ours):.1f}",
                     "d3rlpy": f"{np.mean(peer):.1f} ± {np.std(peer):.1f}" if peer else "-"})
    samples = f", BCQ with {args.bcq_samples} VAE samples a side" if args.bcq_samples else ""
    write_results(args.name, {"steps": args.steps, "seeds": seeds, "episodes": args.episodes,
                              "device": args.device, "bcq_samples": args.bcq_samples or None, "results": results},
                  rows, f"Normalised score (0 random, 100 zoo expert), {args.steps:,} steps, {len(seeds)} seeds, "
                  f"trained on {args.device}{samples}")


if __name__ == "__main__":
    main()
