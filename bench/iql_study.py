"""Why IQL falls below BC on hopper-medium: IQL's settings one at a time, against BC, on the same data.

    python -m bench.iql_study [--dataset hopper-medium-v5] [--steps 100000] [--seeds 0,1,2]
        [--variants default,cosine,...] [--episodes 10] [--resume]

Each variant changes one thing from tether's default IQL (expectile 0.7, beta 3, rewards scaled by
1000 / return range, a Gaussian actor with a state-independent std, constant learning rates): the
paper's cosine decay of the actor's learning rate, no reward scaling, a lower or higher expectile, a
lower beta, CORL's hopper recipe (Polyak 0.001 for the target critic). Every `--eval-every` steps each
seed's greedy policy is rolled out (`--episodes`, resets seeded 10000+), so the table shows whether a
variant learns slowly, peaks and falls, or never leaves BC's level. Scores use the zoo's normalisation
(0 random, 100 the zoo's expert), as the built-in datasets do.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench._results import RESULTS, cpu_model, write_results
from tether.algos import BCConfig, EnvironmentEvaluator, IQLConfig
from tether.algos.config import LearnerConfig
from tether.datasets import get_dataset, normalized_score


def variants(steps: int) -> dict[str, LearnerConfig]:
    return {
        "bc": BCConfig(),
        "default": IQLConfig(),
        "cosine": IQLConfig(actor_cosine_decay_steps=steps),
        "unscaled_rewards": IQLConfig(reward_scaler=None),
        "expectile_0.5": IQLConfig(expectile=0.5),
        "expectile_0.9": IQLConfig(expectile=0.9),
        "beta_1": IQLConfig(weight_temp=1.0),
        "tau_0.001": IQLConfig(tau=0.001),
    }


def curve(name: str, config: LearnerConfig, dataset_name: str, steps: int, seeds: list[int], episodes: int,
          eval_every: int) -> dict:
    """Train `config`'s seeds in one program and score each seed every `eval_every` steps."""
    dataset, env = get_dataset(dataset_name)
    evaluator = EnvironmentEvaluator(env, n_trials=episodes, seed=10_000)
    learner = config.create(device="cpu")
    points, started = [], time.perf_counter()
    for step in range(eval_every, steps + 1, eval_every):
        learner.fit(dataset, n_steps=eval_every, n_steps_per_epoch=eval_every, seeds=seeds, show_progress=False)
        returns = np.array([evaluator(view) for view in learner.seed_learners()])
        points.append({"step": step, "scores": [round(float(s), 2) for s in normalized_score(dataset_name, returns)]})
        print(name, points[-1], flush=True)
    return {"variant": name, "dataset": dataset_name, "steps": steps, "seeds": seeds, "episodes": episodes,
            "curve": points, "wall_s": round(time.perf_counter() - started, 1)}


def row(entry: dict) -> dict:
    scores = [np.mean(point["scores"]) for point in entry["curve"]]
    final = np.asarray(entry["curve"][-1]["scores"])
    return {"variant": entry["variant"], "dataset": entry["dataset"], "steps": entry["steps"],
            "seeds": len(entry["seeds"]), "score_mean": round(float(final.mean()), 1),
            "score_std": round(float(final.std()), 1), "best_mean": round(float(max(scores)), 1),
            "best_step": entry["curve"][int(np.argmax(scores))]["step"],
            "curve": " / ".join(f"{s:.0f}" for s in scores)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="hopper-medium-v5")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=20_000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--variants", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--name", default="iql_study")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    table = variants(args.steps)
    names = args.variants.split(",") if args.variants else list(table)
    log: Path = RESULTS / f"{args.name}.log.jsonl"
    done = {}
    if args.resume and log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            done[entry["variant"], entry["dataset"], entry["steps"], tuple(entry["seeds"])] = entry
    entries = []
    for name in names:
        key = (name, args.dataset, args.steps, tuple(seeds))
        entry = done.get(key) or curve(name, table[name], args.dataset, args.steps, seeds, args.episodes,
                                       args.eval_every)
        if key not in done:
            with log.open("a") as out:
                out.write(json.dumps(entry) + "\n")
        entries.append(entry)
    write_results(args.name, {"dataset": args.dataset, "steps": args.steps, "seeds": seeds,
                              "episodes": args.episodes, "cpu_model": cpu_model()}, [row(e) for e in entries],
                  f"IQL's settings one at a time on {args.dataset} (zoo-normalised score, {len(seeds)} seeds, "
                  f"{args.steps:,} steps; curve: mean every {args.eval_every:,} steps)")


if __name__ == "__main__":
    main()
