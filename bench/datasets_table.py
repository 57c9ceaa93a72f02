"""The README's dataset table: per built-in dataset, size, return mean and spread, normalised score.

    python bench/datasets_table.py [--size 100000]

Datasets are generated at `--size` steps (medium-replay at its default size, the training steps to
the medium snapshot) for every task the shipped zoo covers; returns count complete episodes only
(not the one cut by the dataset size).
"""

from __future__ import annotations

import argparse
import json

from bench._results import RESULTS, write_results
from tether.datasets import LEVELS, default_size, generate, normalized_score
from tether.zoo.registry import load_manifest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--tasks", default=None, help="comma-separated; others keep their earlier figures")
    args = parser.parse_args()
    previous = RESULTS / "datasets.json"
    results = json.loads(previous.read_text())["results"] if previous.exists() else {}
    tasks = args.tasks.split(",") if args.tasks else sorted(load_manifest()["tasks"])
    for task in tasks:
        for level in LEVELS:
            name = f"{task}-{level}-v5"
            size = default_size(name) if level == "medium-replay" else args.size
            data = generate(name, size=size)
            complete = ~(data.truncations[data.episode_ends - 1] & (data.episode_lengths < 1000))
            returns = data.episode_returns()[complete]
            score = normalized_score(name, returns)
            results[name] = {"size": size, "episodes": int(complete.sum()), "return_mean": float(returns.mean()),
                             "return_std": float(returns.std()), "normalized_mean": float(score.mean())}
            print(name, results[name], flush=True)
    rows = [{"dataset": name, "steps": f"{r['size']:,}", "episodes": r["episodes"],
             "return": f"{r['return_mean']:.0f} ± {r['return_std']:.0f}", "normalized": f"{r['normalized_mean']:.1f}"}
            for name, r in sorted(results.items())]
    write_results("datasets", {"size": args.size, "results": results}, rows,
                  f"Built-in datasets (generated at {args.size:,} steps; medium-replay at its default size)")


if __name__ == "__main__":
    main()
