"""Dataset generation throughput against raw MuJoCo stepping, on the same machine in one run.

    python bench/generation.py [--task halfcheetah] [--steps 50000]

Raw: one `HalfCheetah-v5` env stepped with uniform random actions in a tight loop (resets
included). tether: `tether.zoo.collect.rollout` with a 2x256 tanh-Gaussian policy (the zoo's
size), sampling actions and log-probabilities, batched over 8 envs, assembling a validated
`LoggedDataset`. The ratio is tether's steps/s over raw steps/s (goal: at least 0.7).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench._results import write_results
from tether.envs import get_task, make_env
from tether.zoo.collect import rollout
from tether.zoo.policy import ZooPolicy


def raw_steps_per_second(task: str, steps: int) -> float:
    env = make_env(task)
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def sized_policy(task: str) -> ZooPolicy:
    info = get_task(task)
    rng = np.random.default_rng(0)
    dims = [info.observation_dim, 256, 256]
    layers = tuple((rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32), np.zeros(b, np.float32))
                   for a, b in zip(dims[:-1], dims[1:], strict=True))
    head = lambda: (rng.normal(0, 0.01, (256, info.action_dim)).astype(np.float32),  # noqa: E731
                    np.zeros(info.action_dim, np.float32))
    return ZooPolicy(layers, head(), head())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="halfcheetah")
    parser.add_argument("--steps", type=int, default=50_000)
    args = parser.parse_args()
    raw = raw_steps_per_second(args.task, args.steps)
    policy = sized_policy(args.task)
    results, rows = {"raw_random_steps_per_s": raw}, []
    rows.append({"what": "raw MuJoCo, random actions, 1 env", "steps/s": f"{raw:,.0f}", "ratio": "1.00"})
    for n_envs in (1, 8, 16):
        start = time.perf_counter()
        rollout(args.task, policy, args.steps, seed=0, n_envs=n_envs)
        rate = args.steps / (time.perf_counter() - start)
        results[f"tether_policy_{n_envs}_envs_steps_per_s"] = rate
        rows.append({"what": f"tether rollout, 2x256 policy, {n_envs} envs", "steps/s": f"{rate:,.0f}",
                     "ratio": f"{rate / raw:.2f}"})
    write_results(f"generation_{args.task}", {"task": args.task, "steps": args.steps, **results}, rows,
                  f"Generation throughput on {get_task(args.task).env_id} ({args.steps:,} steps)")


if __name__ == "__main__":
    main()
