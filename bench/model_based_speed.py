"""Speed of the model-based learners' three parts on one machine: fitting the dynamics ensemble, imagined
rollouts, and policy updates (which include each update's own rollouts), with CQL's update rate on the
same data for scale.

    python -m bench.model_based_speed [--data hopper-medium-v5] [--size 100000] [--device cpu|gpu]

The ensemble is the default (7 members of 4 x 200, batch 256 per member); its rate is the difference of
two fits of different lengths (so compilation cancels). Rollouts are MOPO's burst, 50,000 logged states
for 5 steps, timed after a warm-up. Update rates are the median epoch after the first. The roofline share
is that of `bench.algos_speed`: matmul FLOP per update (from the optimised HLO) x updates/s over this
machine's large-matmul rate.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench._results import write_results
from bench._roofline import matmul_profile
from bench.algos_speed import matmul_peak_flops
from tether.algos import CQLConfig, MOPOConfig, MOReLConfig, model_based, mopo
from tether.algos.engine import update_hlo
from tether.datasets import get_dataset
from tether.dynamics import DynamicsConfig, fit_dynamics

ROLLOUT_STARTS, ROLLOUT_HORIZON = 50_000, 5


def model_rate(data, device: str) -> float:
    """Ensemble updates/s: two fits of different lengths, compilation cancelling in the difference."""
    seconds = []
    for steps in (500, 2500):
        config = DynamicsConfig(max_steps=steps, steps_per_check=500, patience=100)
        start = time.perf_counter()
        with jax.default_device(jax.devices(device)[0]):
            fit_dynamics(data, config)
        seconds.append(time.perf_counter() - start)
    return 2000 / (seconds[1] - seconds[0])


def rollout_rate(learner) -> float:
    """Imagined transitions/s of one burst of MOPO's size in the learner's model."""
    state = jax.tree.map(lambda x: x[0], learner.state)
    pessimism = partial(mopo.penalised, config=learner.config)
    run = jax.jit(lambda s, starts, key: model_based.rollout(
        s.replace(buffer=s.buffer), starts, key, ROLLOUT_HORIZON, pessimism)[1])
    obs_dim = state.dynamics.observation_mean.shape[0]
    starts = jnp.asarray(np.random.default_rng(0).normal(size=(ROLLOUT_STARTS, obs_dim)), jnp.float32)
    jax.block_until_ready(run(state, starts, jax.random.PRNGKey(0)))
    start = time.perf_counter()
    for i in range(3):
        jax.block_until_ready(run(state, starts, jax.random.PRNGKey(i + 1)))
    return 3 * ROLLOUT_STARTS * ROLLOUT_HORIZON / (time.perf_counter() - start)


def update_rate(learner, dataset, run_dir: Path, steps: int) -> float:
    epoch = max(steps // 3, 1)
    history = learner.fit(dataset, n_steps=4 * epoch, n_steps_per_epoch=epoch, show_progress=False, run_dir=run_dir)
    return float(np.median([record["steps_per_s"] for _, record in history[1:]]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="hopper-medium-v5")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    args = parser.parse_args()
    dataset, _ = get_dataset(args.data, size=args.size, create_env=False)
    peak = matmul_peak_flops((512, 768, 1024) if args.device == "cpu" else (4096, 8192))
    rows, results = [], {"matmul_peak_gflops": peak / 1e9}
    with tempfile.TemporaryDirectory() as tmp:
        learners = {"mopo": MOPOConfig(model_max_steps=1000), "morel": MOReLConfig(model_max_steps=1000),
                    "cql": CQLConfig()}
        shared_model = Path(tmp) / "mopo" / model_based.DYNAMICS_FILE
        rates = {}
        for name, config in learners.items():
            learner = config.create(device=args.device)
            if name == "morel":  # the same data, config and seed: reuse MOPO's fitted ensemble
                (Path(tmp) / name).mkdir()
                shutil.copy(shared_model, Path(tmp) / name / model_based.DYNAMICS_FILE)
            rates[name] = update_rate(learner, dataset, Path(tmp) / name, args.steps)
            flops = matmul_profile(update_hlo(config.create(device=args.device), dataset)).flops_per_step
            results[name] = {"updates_per_s": rates[name], "gflop_per_update": flops / 1e9,
                             "roofline_share": rates[name] * flops / peak}
            if name == "mopo":
                results["rollout_transitions_per_s"] = rollout_rate(learner)
            print(name, results[name], flush=True)
        data = model_based.dynamics_data(dataset, learner.scaling)
        results["model_updates_per_s"] = model_rate(data, args.device)
    kind = jax.devices(args.device)[0].device_kind
    rows = [{"part": "dynamics ensemble (7 x 4x200, batch 256 each)", "rate": f"{results['model_updates_per_s']:,.0f} "
             "updates/s", "relative to CQL's update": "-", "share of matmul peak": "-"},
            {"part": f"imagined rollouts ({ROLLOUT_STARTS:,} starts x {ROLLOUT_HORIZON} steps)",
             "rate": f"{results['rollout_transitions_per_s']:,.0f} transitions/s", "relative to CQL's update": "-",
             "share of matmul peak": "-"}]
    for name in ("mopo", "morel", "cql"):
        r = results[name]
        rows.append({"part": f"{name} update" + (" (50 starts x 5 steps of rollout included)" if name != "cql" else ""),
                     "rate": f"{r['updates_per_s']:,.0f} updates/s",
                     "relative to CQL's update": f"{r['updates_per_s'] / results['cql']['updates_per_s']:.2f}x",
                     "share of matmul peak": f"{r['roofline_share']:.0%}"})
    write_results(f"model_based_speed_{args.device}", {"data": args.data, "size": args.size, "device": kind,
                                                        "results": results}, rows,
                  f"Model-based learners' speed on {args.device} ({kind}), {args.data} ({args.size:,} steps)")


if __name__ == "__main__":
    main()
