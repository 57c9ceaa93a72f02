"""Normalised scores of tether's learners next to d3rlpy's, at an equal step budget, in one run.

    python bench/algos_scores.py --steps 100000 [--datasets halfcheetah-medium-v5,hopper-medium-v5]

For each dataset and algorithm: 3 seeds each side, default hyperparameters (networks and batch
sizes matched), the greedy policy rolled out for `--episodes` episodes (resets seeded 10000+),
normalised with the zoo's reference scores. Reports mean and standard deviation over seeds and
states the budget. CPU-heavy: budget about (5 algorithms x 3 seeds x 2 sides) trainings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_results  # noqa: E402

from tether.algos import EnvironmentEvaluator, get_algo  # noqa: E402
from tether.data import save_dataset  # noqa: E402
from tether.datasets import get_dataset, normalized_score  # noqa: E402

PEER_PYTHON = Path(__file__).parent / ".venv-d3rlpy" / "bin" / "python"
PEER_SCRIPT = Path(__file__).parent / "peers" / "d3rlpy_score.py"
SEEDS = (0, 1, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--datasets", default="halfcheetah-medium-v5,hopper-medium-v5")
    parser.add_argument("--algos", default="bc,td3_plus_bc,iql,cql,bcq")
    args = parser.parse_args()
    rows, results = [], {}
    for name in args.datasets.split(","):
        dataset, env = get_dataset(name)
        with tempfile.TemporaryDirectory() as tmp:
            path = save_dataset(dataset, Path(tmp) / "data.npz")
            for algo in args.algos.split(","):
                learner = get_algo(algo).config_cls().create(device="cpu")
                learner.fit(dataset, n_steps=args.steps, n_steps_per_epoch=args.steps, seeds=list(SEEDS),
                            show_progress=False)
                evaluator = EnvironmentEvaluator(env, n_trials=args.episodes, seed=10_000)
                ours = [float(normalized_score(name, evaluator(view))) for view in learner.seed_learners()]
                peer = []
                if PEER_PYTHON.exists():
                    for seed in SEEDS:
                        command = [str(PEER_PYTHON), str(PEER_SCRIPT), algo, str(path), env.spec.id,
                                   str(args.steps), str(seed), str(args.episodes)]
                        out = subprocess.run(command, capture_output=True, text=True, check=True)
                        peer.append(float(normalized_score(name, json.loads(out.stdout.splitlines()[-1])["return"])))
                results[f"{name}/{algo}"] = {"tether": ours, "d3rlpy": peer}
                rows.append({"dataset": name, "algorithm": algo,
                             "tether": f"{np.mean(ours):.1f} ± {np.std(ours):.1f}",
                             "d3rlpy": f"{np.mean(peer):.1f} ± {np.std(peer):.1f}" if peer else "-"})
                print(rows[-1], flush=True)
    write_results("algos_scores", {"steps": args.steps, "seeds": list(SEEDS), "episodes": args.episodes,
                                   "results": results}, rows,
                  f"Normalised score (0 random, 100 zoo expert), {args.steps:,} steps, {len(SEEDS)} seeds")


if __name__ == "__main__":
    main()
