"""tether's BCQ from flax's initialisation against PyTorch's, in the equal-work recipe of the BCQ score table.

    python bench/bcq_init.py [--datasets halfcheetah-medium-v5,hopper-medium-v5] [--variants flax,torch_init]

Each variant trains seeds 0, 1, 2 in one program for 20,000 steps with 10 VAE samples to act and in
the critic's target, and rolls out the greedy policy for 10 episodes (resets seeded 10000+), exactly
as `bench/algos_scores.py --algos bcq --bcq-samples 10 --steps 20000` does for tether's side, so the
`flax` rows equal that table's tether rows (recorded there; this script reads them from its log).
Results are appended to `bench/results/bcq_init_20000.log.jsonl` as they finish; rows already in the
log are not trained again. d3rlpy's networks start from PyTorch's initialisation, as TD3+BC's and
CQL's in tether do.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench._results import RESULTS, write_results
from tether.algos import BCQConfig, EnvironmentEvaluator
from tether.datasets import get_dataset, normalized_score

VARIANTS = {"flax": {"network_init": "lecun"}, "torch_init": {"network_init": "torch"}}
LOG = RESULTS / "bcq_init_20000.log.jsonl"
STEPS, SEEDS, SAMPLES = 20_000, [0, 1, 2], 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="halfcheetah-medium-v5,hopper-medium-v5")
    parser.add_argument("--variants", default="flax,torch_init")
    args = parser.parse_args()
    done = {}
    if LOG.exists():
        for line in LOG.read_text().splitlines():
            entry = json.loads(line)
            done[entry["dataset"], entry["variant"]] = entry["scores"]
    for name in args.datasets.split(","):
        for variant in args.variants.split(","):
            if (name, variant) in done:
                continue
            dataset, env = get_dataset(name)
            started = time.time()
            learner = BCQConfig(n_action_samples=SAMPLES, n_target_samples=SAMPLES, **VARIANTS[variant]).create()
            learner.fit(dataset, n_steps=STEPS, n_steps_per_epoch=STEPS, seeds=SEEDS, show_progress=False)
            evaluator = EnvironmentEvaluator(env, n_trials=10, seed=10_000)
            scores = [float(normalized_score(name, evaluator(view))) for view in learner.seed_learners()]
            done[name, variant] = scores
            with open(LOG, "a") as log:
                log.write(json.dumps({"dataset": name, "variant": variant, "scores": scores,
                                      "seconds": time.time() - started}) + "\n")
    rows = [{"dataset": name, "initialisation": variant, "seeds 0, 1, 2": ", ".join(f"{s:.1f}" for s in scores),
             "mean ± sd": f"{np.mean(scores):.1f} ± {np.std(scores):.1f}"} for (name, variant), scores in done.items()]
    write_results("bcq_init_20000", {"steps": STEPS, "seeds": SEEDS, "bcq_samples": SAMPLES,
                                     "results": {f"{n}/{v}": s for (n, v), s in done.items()}},
                  rows, f"tether's BCQ by initialisation, {STEPS:,} steps, {SAMPLES} VAE samples, 3 seeds, "
                        "normalised score")


if __name__ == "__main__":
    main()
