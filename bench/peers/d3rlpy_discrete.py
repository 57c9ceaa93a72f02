"""d3rlpy side of bench/discrete.py; runs inside bench/.venv-d3rlpy.

    python bench/peers/d3rlpy_discrete.py ALGO DATA.npz STATES.npy STEPS SEED

Trains d3rlpy's discrete learner with tether's defaults (256x256 networks, batch 256, learning
rate 3e-4, hard target copy every 1000 steps, BC and BCQ beta 0.01) and prints one JSON line: gradient
steps per second and the greedy action in each simulator state (STATES.npy holds their features),
from which tether computes the exact true value.
"""

import json
import sys
import time

import d3rlpy
import numpy as np


def main() -> None:
    algo_name, path, states_path, steps, seed = sys.argv[1:6]
    steps, seed = int(steps), int(seed)
    d3rlpy.seed(seed)
    with np.load(path, allow_pickle=False) as data:
        n_actions = int(data["n_actions"])
        dataset = d3rlpy.dataset.MDPDataset(data["observations"], data["actions"].astype(np.int64),
                                            data["rewards"], data["terminations"], timeouts=data["truncations"],
                                            action_space=d3rlpy.ActionSpace.DISCRETE, action_size=n_actions)
    enc = d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=[256, 256])
    common = {"encoder_factory": enc, "batch_size": 256, "learning_rate": 3e-4}
    algos = d3rlpy.algos
    configs = {
        "discrete_bc": lambda: algos.DiscreteBCConfig(**common, beta=0.01),
        "discrete_cql": lambda: algos.DiscreteCQLConfig(**common, alpha=1.0, target_update_interval=1000),
        "discrete_bcq": lambda: algos.DiscreteBCQConfig(**common, beta=0.01, target_update_interval=1000),
    }
    algo = configs[algo_name]().create(device="cpu:0")
    start = time.perf_counter()
    algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, show_progress=False, save_interval=10**9,
             logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    elapsed = time.perf_counter() - start
    states = np.load(states_path).astype(np.float32)
    print(json.dumps({"algo": algo_name, "seed": seed, "steps_per_s": steps / elapsed,
                      "actions": algo.predict(states).tolist()}))


if __name__ == "__main__":
    main()
