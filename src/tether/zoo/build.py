"""Select, measure and ship a task's behaviour policies from its training run.

    python -m tether.zoo.build halfcheetah --run-dir runs/zoo/halfcheetah

Rules (written into the manifest):
- every snapshot is re-evaluated over `--snapshot-episodes` (20) episodes of its stochastic policy,
  the mode that generates the data; the 5 deterministic episodes logged during training are too
  noisy to choose by (on Walker2d they made a "medium" better than the "expert").
- expert: the snapshot with the best re-evaluated return.
- medium: the first snapshot whose re-evaluated return reaches `fraction` of the expert's:
  1/3 for HalfCheetah (D4RL's stated rule); 1/2 for Hopper and Walker2d, whose D4RL medium
  policies sat at 0.44 and 0.62 of D4RL's expert (the rule there was chosen by eye).
- shipped: every snapshot up to medium (medium-replay replays them) and the expert.
- reference scores: uniform-random and stochastic-expert mean returns over 100 episodes, like
  Minari; the expert's deterministic return and the medium policy's returns are recorded too.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tether._atomic import write_atomically
from tether.envs import get_task
from tether.zoo.policy import ZooPolicy
from tether.zoo.registry import PACKAGE_ZOO, load_manifest
from tether.zoo.train import evaluate

MEDIUM_FRACTION = {"halfcheetah": 1 / 3, "hopper": 1 / 2, "walker2d": 1 / 2}


def _random_returns(task: str, episodes: int, seed: int) -> np.ndarray:
    from tether.envs import make_env

    env = make_env(task)
    env.action_space.seed(seed)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            returns[episode] += reward
            done = terminated or truncated
    return returns


def _stats(returns: np.ndarray) -> dict:
    return {"return_mean": round(float(returns.mean()), 3), "return_std": round(float(returns.std()), 3),
            "episodes": int(len(returns))}


def select(returns: dict[int, float], fraction: float) -> tuple[int, int]:
    """`(medium_step, expert_step)`: the best snapshot, and the first reaching `fraction` of it."""
    expert_step = max(returns, key=lambda s: (returns[s], s))
    medium_step = min(s for s in returns if returns[s] >= fraction * returns[expert_step])
    return medium_step, expert_step


def build(task_name: str, run_dir: Path, zoo_root: Path = PACKAGE_ZOO, episodes: int = 100,
          snapshot_episodes: int = 20) -> dict:
    """Select, copy and measure a task's policies; `snapshot_episodes=0` selects by the training log."""
    task = get_task(task_name)
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    evals = {r["step"]: r["eval_return_mean"] for r in log}
    if snapshot_episodes:
        scores = {step: float(evaluate(ZooPolicy.load(run_dir / "snapshots" / f"step_{step:07d}.npz"), task.name,
                                       snapshot_episodes, seed=50_000, deterministic=False).mean())
                  for step in evals}
    else:
        scores = evals
    medium_step, expert_step = select(scores, MEDIUM_FRACTION[task.name])
    shipped = sorted({s for s in evals if s <= medium_step} | {expert_step})
    out_dir = zoo_root / "weights" / task.name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    snapshots = []
    for step in shipped:
        name = f"step_{step:07d}.npz"
        shutil.copyfile(run_dir / "snapshots" / name, out_dir / name)
        snapshots.append({"step": step, "file": f"weights/{task.name}/{name}",
                          "eval_return_deterministic_5": round(evals[step], 2),
                          "selection_return": round(scores[step], 2)})
    config = json.loads((run_dir / "config.json").read_text())
    training_steps = max(evals)
    expert = ZooPolicy.load(out_dir / f"step_{expert_step:07d}.npz")
    medium = ZooPolicy.load(out_dir / f"step_{medium_step:07d}.npz")
    random_returns = _random_returns(task.name, episodes, seed=20_000)
    expert_stochastic = evaluate(expert, task.name, episodes, seed=30_000, deterministic=False)
    entry: dict[str, Any] = {
        "env_id": task.env_id,
        "training": {"algorithm": "SAC", "steps": training_steps, "seed": config["seed"],
                     "eval_interval": config["eval_interval"], "warmup_steps": config["warmup_steps"],
                     "sac": config["sac"],
                     "command": f"python -m tether.zoo.train {task.name} --steps {config['steps']} "
                                f"--warmup-steps {config['warmup_steps']} --eval-interval {config['eval_interval']} "
                                f"--run-dir runs/zoo/{task.name} --seed {config['seed']} && "
                                f"python -m tether.zoo.build {task.name} --run-dir runs/zoo/{task.name}"},
        "rules": {"selection_return": (f"mean return of {snapshot_episodes} stochastic episodes per snapshot"
                                       if snapshot_episodes else "deterministic 5-episode evaluation during training"),
                  "expert": "best selection_return",
                  "medium": (f"first snapshot reaching {MEDIUM_FRACTION[task.name]:.3f} "
                             "of the expert's selection_return")},
        "snapshots": snapshots,
        "expert": {"step": expert_step, "stochastic": _stats(expert_stochastic),
                   "deterministic": _stats(evaluate(expert, task.name, episodes, seed=30_000))},
        "medium": {"step": medium_step,
                   "stochastic": _stats(evaluate(medium, task.name, episodes, seed=40_000, deterministic=False))},
        "random": _stats(random_returns),
    }
    entry["ref_min_score"] = entry["random"]["return_mean"]
    entry["ref_max_score"] = entry["expert"]["stochastic"]["return_mean"]
    manifest = load_manifest(zoo_root)
    manifest["tasks"][task.name] = entry
    manifest["format"] = ("tanh-Gaussian MLP, float16 .npz (layer<i>/kernel [in,out], mean/*, log_std/*), "
                          "see tether.zoo.policy")
    write_atomically(zoo_root / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task")
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--zoo-root", type=Path, default=PACKAGE_ZOO)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--snapshot-episodes", type=int, default=20)
    args = parser.parse_args()
    entry = build(args.task, args.run_dir, args.zoo_root, args.episodes, args.snapshot_episodes)
    print(json.dumps({k: entry[k] for k in ("expert", "medium", "random", "ref_min_score", "ref_max_score")}, indent=1))


if __name__ == "__main__":
    main()
