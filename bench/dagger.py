"""Return against the number of expert labels: BC from the expert's demonstrations, DAgger and
uncertainty-gated DAgger, and `imitation`'s SimpleDAggerTrainer on the same task and expert.

    python -m bench.dagger [--tasks cartpole,hopper,halfcheetah] [--seeds 0,1,2,3,4] [--rounds 4]
        [--episodes 2] [--steps 2000] [--eval-episodes 10] [--peer] [--name dagger]

Per task and seed, DAgger runs `--rounds` rounds after round 0 (`--episodes` expert episodes), each
rolling out `--episodes` episodes; the gated variant asks only where a 5-policy ensemble disagrees.
After every round the acting policy is rolled out greedily for `--eval-episodes` episodes (seeded,
the same for every method). BC is fitted on expert demonstrations capped at each of DAgger's label
counts. `--peer` runs imitation 1.0.1 (bench/.venv-imitation, `make bench-peers`) with the same
expert handed over as an ONNX file and the same label budgets; it pins gymnasium 0.29, which has
Hopper-v4 / HalfCheetah-v4 where tether uses v5 (same observations and actions, slightly different
contact defaults): say so beside its rows. Each finished (task, method, seed) is appended to
`bench/results/<name>.log.jsonl` and reused on a rerun.
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

from bench._results import RESULTS, write_results
from tether.algos.dagger import DAggerConfig, DiscreteDAggerConfig
from tether.algos.registry import load_learner
from tether.imitation import CallableExpert, Expert, InteractiveTask, expert_from_spec, resolve_task, train_dagger
from tether.imitation.tasks import observation_array

PEER_PYTHON = Path(__file__).parent / ".venv-imitation" / "bin" / "python"
PEER_SCRIPT = Path(__file__).parent / "peers" / "imitation_dagger.py"
EXPERTS = {"cartpole": "scripted", "acrobot": "scripted", "hopper": "zoo", "halfcheetah": "zoo", "walker2d": "zoo"}
PEER_ENV_IDS = {"cartpole": "CartPole-v1", "acrobot": "Acrobot-v1", "hopper": "Hopper-v4",
                "halfcheetah": "HalfCheetah-v4", "walker2d": "Walker2d-v4"}


def evaluate(learner, task: InteractiveTask, episodes: int, seed: int = 10_000) -> float:
    """Mean return of the learner's greedy policy (its first seed) over `episodes` seeded episodes in lockstep."""
    policy = learner.seed_learners()[0] if learner.n_seeds > 1 else learner
    envs = [task.make_env() for _ in range(episodes)]
    observations = [observation_array(env.reset(seed=seed + e)[0]) for e, env in enumerate(envs)]
    returns, active = np.zeros(episodes), list(range(episodes))
    while active:
        actions = np.asarray(policy.predict(np.stack([observations[e] for e in active])))
        still = []
        for action, e in zip(actions, active, strict=True):
            nxt, reward, terminated, truncated, _ = envs[e].step(int(action) if task.action_space.is_discrete
                                                                  else action.astype(np.float32))
            returns[e] += float(reward)
            observations[e] = observation_array(nxt)
            if not (terminated or truncated):
                still.append(e)
        active = still
    return float(returns.mean())


def expert_return(expert: Expert, task: InteractiveTask, episodes: int, seed: int = 10_000) -> float:
    class AsLearner:
        n_seeds = 1

        def predict(self, observations):
            return expert.label(observations, [{} for _ in observations])
    return evaluate(AsLearner(), task, episodes, seed)


def run_tether(task: InteractiveTask, expert: Expert, method: str, seed: int, args, budgets: list[int] | None
               ) -> list[dict[str, Any]]:
    """One seed of one method: `(round, labels, return, wall_s)` per round (BC: per label budget)."""
    cls = DiscreteDAggerConfig if task.action_space.is_discrete else DAggerConfig
    common = {"demo_episodes": args.episodes, "episodes_per_round": args.episodes, "steps_per_round": args.steps}
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        if method == "bc":
            for i, budget in enumerate(budgets or []):
                started = time.perf_counter()
                config = cls(rounds=0, label_budget=budget, **{**common, "demo_episodes": args.episodes * 50})
                result = train_dagger(config, task, expert, Path(tmp) / f"bc{i}", seed=seed, show_progress=False)
                points.append({"round": 0, "labels": result.labels, "wall_s": time.perf_counter() - started,
                               "return": evaluate(result.learner, task, args.eval_episodes)})
            return points
        extra = {"query": "uncertain", "ensemble_size": 5} if method == "gated_dagger" else {}
        started = time.perf_counter()
        result = train_dagger(cls(rounds=args.rounds, **common, **extra), task, expert, Path(tmp) / "run", seed=seed,
                              show_progress=False)
        wall = time.perf_counter() - started
        for record in result.rounds:
            learner = load_learner(Path(tmp) / "run" / "rounds" / f"{record.round:03d}" / "policy.tether")
            points.append({"round": record.round, "labels": record.labels, "wall_s": wall,
                           "return": evaluate(learner, task, args.eval_episodes)})
    return points


def run_peer(task_name: str, expert: Expert, seed: int, budgets: list[int], args) -> list[dict[str, Any]]:
    """imitation's SimpleDAggerTrainer in its own virtualenv, the expert handed over as ONNX."""
    with tempfile.TemporaryDirectory() as tmp:
        onnx = _expert_onnx(task_name, expert, Path(tmp) / "expert.onnx")
        spec = {"env_id": PEER_ENV_IDS[task_name], "expert": str(onnx), "seed": seed, "budgets": budgets,
                "episodes": args.episodes, "eval_episodes": args.eval_episodes, "scratch": tmp}
        done = subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), json.dumps(spec)], capture_output=True, text=True,
                              timeout=6 * 3600)
        if done.returncode != 0:
            raise RuntimeError(f"imitation peer failed: {done.stderr[-2000:]}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _expert_onnx(task_name: str, expert: Expert, path: Path) -> Path:
    if hasattr(expert, "save_onnx"):
        return expert.save_onnx(path)
    import jax.numpy as jnp

    from tether.export.onnx import save_function

    if task_name == "cartpole":  # the scripted controller of tether.envs.classic, written in JAX
        def act(obs):  # angle + 0.3 angular velocity + 0.01 position + 0.1 velocity > 0: push right (ties: left)
            scores = obs @ jnp.array([[0.0, 0.01], [0.0, 0.1], [0.0, 1.0], [0.0, 0.3]])
            return jnp.argmax(scores, axis=1).astype(jnp.int32)
        return save_function(act, 4, path, expert.source)
    if task_name == "acrobot":
        def act(obs):  # torque +1 (action 2) when the joint velocities sum above 0, else -1 (action 0)
            weights = jnp.array([[0.0, 0, 0]] * 4 + [[0.0, 0, 1]] * 2)
            scores = obs @ weights + jnp.array([0.0, -1e9, 0.0])
            return jnp.argmax(scores, axis=1).astype(jnp.int32)
        return save_function(act, 6, path, expert.source)
    raise ValueError(f"no ONNX form of {expert.source}")


def labels_to(rows: list[dict[str, Any]], share: float) -> dict[str, dict[str, int | None]]:
    """Per task and method, the fewest mean labels whose mean return reaches `share` of the expert's (None: never)."""
    out: dict[str, dict[str, int | None]] = {}
    for row in rows:
        reached = row["return_mean"] >= share * row["expert_return"]
        best = out.setdefault(row["task"], {}).get(row["method"])
        if reached and (best is None or row["labels"] < best):
            out[row["task"]][row["method"]] = row["labels"]
        else:
            out[row["task"]].setdefault(row["method"], None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="cartpole,hopper,halfcheetah")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--peer", action="store_true")
    parser.add_argument("--name", default="dagger")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    log_path = RESULTS / f"{args.name}.log.jsonl"
    done = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    settings = {"rounds": args.rounds, "episodes": args.episodes, "steps": args.steps,
                "eval_episodes": args.eval_episodes}
    rows = []
    for task_name in args.tasks.split(","):
        task = resolve_task(task_name)
        expert = expert_from_spec(EXPERTS[task_name], task)
        if isinstance(expert, CallableExpert):
            expert.source = f"scripted:{task_name}"
        methods = ["dagger", "gated_dagger", "bc"] + (["imitation_dagger"] if args.peer else [])
        reference = expert_return(expert, task, args.eval_episodes)
        budgets: dict[int, list[int]] = {}
        for method in methods:
            per_seed = []
            for seed in seeds:
                key = {"task": task_name, "method": method, "seed": seed, **settings}
                cached = next((entry for entry in done if {k: entry.get(k) for k in key} == key), None)
                if cached is None:
                    if method in ("dagger", "gated_dagger"):
                        points = run_tether(task, expert, method, seed, args, None)
                    elif method == "bc":
                        points = run_tether(task, expert, method, seed, args, budgets[seed])
                    else:
                        points = run_peer(task_name, expert, seed, budgets[seed], args)
                    cached = {**key, "points": points}
                    with open(log_path, "a") as log:
                        log.write(json.dumps(cached) + "\n")
                    done.append(cached)
                    print(f"{task_name} {method} seed {seed}: {[(p['labels'], round(p['return'], 1)) for p in points]}",
                          flush=True)
                if method == "dagger":
                    budgets[seed] = [p["labels"] for p in cached["points"]]
                per_seed.append(cached["points"])
            for index in range(min(len(points) for points in per_seed)):
                at = [points[index] for points in per_seed]
                returns = np.array([p["return"] for p in at])
                rows.append({"task": task_name, "method": method, "round": index,
                             "labels": int(round(np.mean([p["labels"] for p in at]))),
                             "return_mean": float(returns.mean()), "return_std": float(returns.std()),
                             "seeds": len(at), "wall_s": float(np.mean([p["wall_s"] for p in at])),
                             "expert_return": reference})
    table = [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()} for row in rows]
    write_results(args.name, {"settings": settings, "seeds": seeds, "labels_to_90_percent": labels_to(rows, 0.9),
                              "peer": "imitation 1.0.1 SimpleDAggerTrainer (gymnasium 0.29, MuJoCo -v4 tasks)"
                              if args.peer else None}, table, title="DAgger: return against expert labels")


if __name__ == "__main__":
    main()
