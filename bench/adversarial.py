"""GAIL and AIRL against BC at equal demonstrations, AIRL's reward reused by a fresh PPO, and `imitation`'s
GAIL and AIRL on the same demonstrations.

    python -m bench.adversarial [--tasks cartpole] [--seeds 0,1,2,3,4] [--demo-episodes 4]
        [--env-steps 100000 | cartpole=100000,hopper=300000] [--eval-episodes 10] [--peer]
        [--peer-seeds 0,1,2] [--methods gail,...] [--name adversarial]

As recorded: `--tasks cartpole,hopper --env-steps cartpole=100000,hopper=300000 --peer`, the peer on
seeds 0-2 (CartPole AIRL) and 0 (Hopper), its runs overlapping tether's on the 2 cores, so wall times
and speed ratios there are indicative; `adversarial_speed` times both alone.

Per task, `--demo-episodes` episodes of the expert (the scripted controller on classic control, the
zoo's expert on MuJoCo) are recorded once and shared by every method and seed. BC fits them (5,000
gradient steps); GAIL and AIRL train PPO (8 environments, 256 steps each per rollout) for `--env-steps`
environment steps; `airl_transfer` trains a fresh PPO for as many steps on the state-only reward g(s)
that seed's AIRL recovered (the transfer test). `--peer` runs imitation 1.0.1's GAIL and AIRL
(bench/.venv-imitation, `make bench-peers`) over Stable-Baselines3's PPO with the same PPO settings;
it pins gymnasium 0.29 (CartPole-v1 is the same there; MuJoCo tasks are v4 where tether uses v5).
Every policy is scored greedily on `--eval-episodes` seeded episodes, the same for every method. Rows
give the mean, std and the IQM with a 95% stratified-bootstrap interval (rliable) over seeds; wall
seconds are training only, and `speed_vs_imitation` is tether's environment steps per second over the
peer's for the same method. Each finished (task, method, seed) is appended to
`bench/results/<name>.log.jsonl` and reused on a rerun. `--peer-seeds` runs the (much slower) peer on
fewer seeds; its rows say how many.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._results import RESULTS, iqm_interval, write_results
from bench.dagger import EXPERTS, PEER_ENV_IDS, PEER_PYTHON, evaluate, expert_return
from tether.algos import AIRLConfig, BCConfig, GAILConfig, PPOConfig
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.data import LoggedDataset
from tether.imitation import (
    InteractiveTask,
    SavedReward,
    expert_from_spec,
    resolve_task,
    train_airl,
    train_gail,
    train_on_reward,
)
from tether.imitation.experts import expert_demonstrations

PEER_SCRIPT = Path(__file__).parent / "peers" / "imitation_adversarial.py"
PPO_SETTINGS = PPOConfig()  # SB3's defaults over 8 environments of 256 steps
METHODS = ("bc", "gail", "airl", "airl_transfer")
PEER_METHODS = ("imitation_gail", "imitation_airl")


class _Greedy:
    """A PPO policy as `bench.dagger.evaluate` expects a learner."""

    n_seeds = 1

    def __init__(self, policy):
        self.policy = policy

    def predict(self, observations):
        return self.policy.predict(observations)


def run_tether(task: InteractiveTask, demos: LoggedDataset, method: str, seed: int, args,
               rewards: dict[int, Any]) -> dict[str, Any]:
    """One seed of one of tether's methods: its return, training wall seconds and environment steps."""
    started = time.perf_counter()
    if method == "bc":
        cls = DiscreteBCConfig if task.action_space.is_discrete else BCConfig
        learner = cls().create(device="cpu")
        learner.fit(demos, n_steps=5000, n_steps_per_epoch=5000, seeds=[seed], show_progress=False)
        wall = time.perf_counter() - started
        return {"return": evaluate(learner, task, args.eval_episodes), "wall_s": wall, "env_steps": 0}
    if method == "airl_transfer":
        ppo = train_on_reward(PPO_SETTINGS, task, rewards[seed], args.env_steps, seed=seed)
    elif method == "gail":
        ppo = train_gail(GAILConfig(ppo=PPO_SETTINGS, total_steps=args.env_steps), task, demos, seed=seed).policy
    else:
        result = train_airl(AIRLConfig(ppo=PPO_SETTINGS, total_steps=args.env_steps), task, demos, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:  # the transfer reads the reward as a user would: from its file
            rewards[seed] = SavedReward(result.discriminator.save_reward(Path(tmp) / "reward.tether"))
        ppo = result.policy
    wall = time.perf_counter() - started
    return {"return": evaluate(_Greedy(ppo.policy()), task, args.eval_episodes), "wall_s": wall,
            "env_steps": ppo.steps_done}


def run_peer(task_name: str, method: str, demos: LoggedDataset, seed: int, args) -> dict[str, Any]:
    """imitation's GAIL or AIRL in its own virtualenv, on the same demonstrations."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demos.npz"
        steps = demos.transitions()
        np.savez(path, observations=steps.observations, actions=steps.actions,
                 next_observations=steps.next_observations, terminations=steps.terminations,
                 episode_starts=np.flatnonzero(np.r_[True, np.diff(steps.episode_ids) != 0]))
        spec = {"env_id": PEER_ENV_IDS[task_name], "method": method.removeprefix("imitation_"), "demos": str(path),
                "seed": seed, "env_steps": args.env_steps, "eval_episodes": args.eval_episodes,
                "ppo": {k: getattr(PPO_SETTINGS, k) for k in ("n_envs", "n_steps", "batch_size", "n_epochs",
                                                              "learning_rate", "gamma", "gae_lambda", "clip_range",
                                                              "ent_coef")}}
        done = subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), json.dumps(spec)], capture_output=True, text=True,
                              timeout=6 * 3600)
        if done.returncode != 0:
            raise RuntimeError(f"imitation peer failed: {done.stderr[-2000:]}")
        return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def steps_for(spec: str | int, task: str) -> int:
    """Environment steps for `task` from `--env-steps` (one number, or `task=N` pairs)."""
    if isinstance(spec, int) or "=" not in spec:
        return int(spec)
    return int(dict(pair.split("=") for pair in spec.split(","))[task])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="cartpole")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--demo-episodes", type=int, default=4)
    parser.add_argument("--env-steps", default="100000", help="per run, or per task: cartpole=100000,hopper=300000")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--peer", action="store_true")
    parser.add_argument("--peer-seeds", default=None, help="seeds of the peer's runs (default: --seeds)")
    parser.add_argument("--methods", default=None, help="run only these (bc, gail, airl, imitation_gail, "
                        "imitation_airl); the table still shows every method the log holds")
    parser.add_argument("--name", default="adversarial")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    peer_seeds = [int(s) for s in args.peer_seeds.split(",")] if args.peer_seeds else seeds
    log = RESULTS / f"{args.name}.log.jsonl"
    RESULTS.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    rows = []
    steps_spec = args.env_steps
    for task_name in args.tasks.split(","):
        args = argparse.Namespace(**{**vars(args), "env_steps": steps_for(steps_spec, task_name)})
        task = resolve_task(task_name)
        expert = expert_from_spec(EXPERTS[task_name], task)
        demos = expert_demonstrations(task, expert, args.demo_episodes, seed=1000)
        reference = expert_return(expert, task, args.eval_episodes)
        methods = ("bc", "gail", "airl") + (PEER_METHODS if args.peer else ())
        for method in args.methods.split(",") if args.methods else methods:
            for seed in peer_seeds if method.startswith("imitation_") else seeds:
                key = {"task": task_name, "seed": seed, "env_steps_asked": args.env_steps,
                       "demo_episodes": args.demo_episodes}
                produces = [method, "airl_transfer"] if method == "airl" else [method]  # the reward lives in memory
                if all(any(d.get("method") == m and all(d.get(k) == v for k, v in key.items()) for d in done)
                       for m in produces):
                    continue
                if method.startswith("imitation_"):
                    outcomes = {method: run_peer(task_name, method, demos, seed, args)}
                elif method == "airl":
                    rewards: dict[int, Any] = {}
                    outcomes = {"airl": run_tether(task, demos, "airl", seed, args, rewards)}
                    outcomes["airl_transfer"] = run_tether(task, demos, "airl_transfer", seed, args, rewards)
                else:
                    outcomes = {method: run_tether(task, demos, method, seed, args, {})}
                for name, outcome in outcomes.items():
                    record = {**key, "method": name, **outcome}
                    done.append(record)
                    with log.open("a") as stream:
                        stream.write(json.dumps(record) + "\n")
                    print(json.dumps(record), flush=True)
        methods = METHODS + (PEER_METHODS if args.peer else ())
        speed: dict[str, float] = {}
        for method in methods:
            wanted = peer_seeds if method.startswith("imitation_") else seeds
            runs = [d for d in done if d["task"] == task_name and d["method"] == method and d["seed"] in wanted
                    and d["env_steps_asked"] == args.env_steps and d["demo_episodes"] == args.demo_episodes]
            if not runs:
                continue
            returns = np.array([d["return"] for d in runs])
            iqm, low, high = iqm_interval(returns)
            steps = float(np.mean([d["env_steps"] for d in runs]))
            wall = float(np.mean([d["wall_s"] for d in runs]))
            speed[method] = steps / wall if steps else float("nan")
            rows.append({"task": task_name, "method": method, "demos": demos.n_steps, "env_steps": int(steps),
                         "return_mean": round(float(returns.mean()), 1), "return_std": round(float(returns.std()), 1),
                         "iqm": round(iqm, 1), "iqm_low": round(low, 1), "iqm_high": round(high, 1),
                         "seeds": len(runs), "wall_s": round(wall, 1), "expert_return": round(reference, 1)})
        for row in rows:
            if row["task"] == task_name:
                peer = speed.get(f"imitation_{row['method']}")
                row["speed_vs_imitation"] = round(speed[row["method"]] / peer, 2) if peer else None
    write_results(args.name, {"args": {**vars(args), "env_steps": steps_spec}, "ppo": PPO_SETTINGS.__dict__}, rows,
                  "Adversarial imitation: return at equal demonstrations, IQM over seeds, speed against imitation")


if __name__ == "__main__":
    main()
