"""d3rlpy side of bench/workflow_speed.py; runs inside bench/.venv-d3rlpy.

    python bench/peers/d3rlpy_workflow.py DATA.npz BC_STEPS CQL_STEPS FQE_STEPS

The practitioner's workflow done by hand with d3rlpy 2.8.1: BC, then CQL, then FQE of each (the
only offline evaluation d3rlpy has), with tether's network sizes and batch sizes. Prints one JSON line
of seconds per stage and FQE's initial-state values.
"""

import json
import sys
import time

import d3rlpy
import numpy as np


def main() -> None:
    path, bc_steps, cql_steps, fqe_steps = sys.argv[1], *map(int, sys.argv[2:5])
    d3rlpy.seed(0)
    seconds = {}
    start = time.perf_counter()
    with np.load(path, allow_pickle=False) as data:
        dataset = d3rlpy.dataset.MDPDataset(data["observations"], data["actions"], data["rewards"],
                                            data["terminations"], timeouts=data["truncations"])
    seconds["load"] = time.perf_counter() - start
    enc = d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=[256, 256])
    scaler = d3rlpy.preprocessing.StandardObservationScaler()
    quiet = {"show_progress": False, "save_interval": 10**9, "logger_adapter": d3rlpy.logging.NoopAdapterFactory()}
    learners = {
        "bc": (d3rlpy.algos.BCConfig(encoder_factory=enc, batch_size=256, observation_scaler=scaler), bc_steps),
        "cql": (d3rlpy.algos.CQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, batch_size=256,
                                       observation_scaler=scaler), cql_steps),
    }
    values = {}
    for name, (config, steps) in learners.items():
        start = time.perf_counter()
        algo = config.create(device="cpu:0")
        algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, **quiet)
        seconds[name] = time.perf_counter() - start
        start = time.perf_counter()
        fqe = d3rlpy.ope.FQE(algo=algo, config=d3rlpy.ope.FQEConfig(encoder_factory=enc, batch_size=256,
                                                                    observation_scaler=scaler), device="cpu:0")
        fqe.fit(dataset, n_steps=fqe_steps, n_steps_per_epoch=fqe_steps, **quiet)
        values[name] = float(d3rlpy.metrics.InitialStateValueEstimationEvaluator()(fqe, dataset))
        seconds[f"fqe {name}"] = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "fqe_values": values}))


if __name__ == "__main__":
    main()
