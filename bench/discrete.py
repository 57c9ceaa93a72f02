"""Discrete BC, CQL and BCQ: tether against d3rlpy 2.8.1 on the same simulator logs, side by side.

    python bench/discrete.py [--steps 5000] [--episodes 500] [--scenarios fraud,treatment,recommender]

For each scenario (tether.envs.scenarios) one log is written; each library trains each algorithm
with the same networks (256x256), batch 256, learning rate 3e-4, target copy every 1000 steps and
3 seeds. Reported: gradient steps/s (tether: its 3 seeds in one vmapped program, counted as 3 x
steps; d3rlpy: one process per seed, in turn) and the exact true value of each greedy policy, next
to the behaviour policy's. d3rlpy has no action masks: where its greedy action is forbidden (the
fraud queue's full-queue states), the state gets a uniform allowed action and the count is reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._results import PEER_PYTHON, write_results
from tether.algos import get_algo
from tether.envs import get_scenario

PEER_SCRIPT = Path(__file__).parent / "peers" / "d3rlpy_discrete.py"
SEEDS = (0, 1, 2)
ALGOS = ("discrete_bc", "discrete_cql", "discrete_bcq")


def peer_value(mdp, actions: np.ndarray) -> tuple[float, int]:
    table = np.eye(mdp.n_actions)[actions]
    bad = ~mdp.action_masks[np.arange(mdp.n_states), actions] & ~mdp.terminal
    uniform = mdp.action_masks / mdp.action_masks.sum(1, keepdims=True)
    table[bad] = uniform[bad]
    return mdp.value(table), int(bad.sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--scenarios", default="fraud,treatment,recommender")
    args = parser.parse_args()
    rows, results = [], {}
    for name in args.scenarios.split(","):
        scenario = get_scenario(name)
        data = scenario.logs(args.episodes, seed=0)
        mdp = scenario.mdp
        with tempfile.TemporaryDirectory() as tmp:
            path, states = Path(tmp) / "data.npz", Path(tmp) / "states.npy"
            np.savez(path, observations=data.observations, actions=data.actions, rewards=data.rewards,
                     terminations=data.terminations, truncations=data.truncations, n_actions=mdp.n_actions)
            np.save(states, mdp.features.astype(np.float32))
            for algo in ALGOS:
                learner = get_algo(algo).config_cls().create()
                learner.fit(data, n_steps=200, n_steps_per_epoch=200, seeds=list(SEEDS), show_progress=False)
                start = time.perf_counter()  # second fit: compiled already
                learner.fit(data, n_steps=args.steps, n_steps_per_epoch=args.steps, seeds=list(SEEDS),
                            show_progress=False)
                ours_rate = len(SEEDS) * args.steps / (time.perf_counter() - start)
                ours = [scenario.true_value(view) for view in learner.seed_learners()]
                peer, peer_rates, violations = [], [], 0
                if PEER_PYTHON.exists():
                    for seed in SEEDS:
                        out = subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), algo, str(path), str(states),
                                              str(args.steps), str(seed)], capture_output=True, text=True, check=True)
                        record = json.loads(out.stdout.splitlines()[-1])
                        value, bad = peer_value(mdp, np.asarray(record["actions"]))
                        peer.append(value)
                        peer_rates.append(record["steps_per_s"])
                        violations += bad
                behavior = scenario.behavior_value()
                results[f"{name}/{algo}"] = {"behavior": behavior, "optimal": mdp.optimal_value(), "tether": ours,
                                             "d3rlpy": peer, "tether_steps_per_s": ours_rate,
                                             "d3rlpy_steps_per_s": float(np.mean(peer_rates)) if peer_rates else None,
                                             "d3rlpy_mask_violations": violations}
                rows.append({"scenario": name, "algorithm": algo, "behaviour value": f"{behavior:.2f}",
                             "tether value": f"{np.mean(ours):.2f} ± {np.std(ours):.2f}",
                             "d3rlpy value": f"{np.mean(peer):.2f} ± {np.std(peer):.2f}" if peer else "-",
                             "tether steps/s": f"{ours_rate:,.0f}",
                             "d3rlpy steps/s": f"{np.mean(peer_rates):,.0f}" if peer_rates else "-",
                             "speed ratio": f"{ours_rate / np.mean(peer_rates):.1f}x" if peer_rates else "-",
                             "d3rlpy masked actions chosen": violations})
                print(rows[-1], flush=True)
    write_results("discrete", {"steps": args.steps, "episodes": args.episodes, "seeds": list(SEEDS),
                               "results": results}, rows,
                  f"Discrete learners on simulator logs ({args.episodes} episodes), {args.steps:,} steps, "
                  f"{len(SEEDS)} seeds: exact true value of the greedy policy (undiscounted episode return)")


if __name__ == "__main__":
    main()
