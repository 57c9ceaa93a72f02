"""Train a task's behaviour policies online with SAC, snapshotting along the learning curve.

    python -m tether.zoo.train halfcheetah --steps 400000 --run-dir runs/zoo/halfcheetah

Every `--eval-interval` environment steps the actor is saved (float16 `.npz`, exactly the weights
that are shipped) and evaluated deterministically; a JSON line per evaluation goes to
`log.jsonl`. Every `--checkpoint-interval` steps the learner, its optimisers, the replay buffer and
the RNG states are written atomically, so an interrupted run continues with `--resume`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from tether._atomic import write_atomically
from tether.envs import get_task, make_env
from tether.zoo import sac
from tether.zoo.policy import ZooPolicy


def evaluate(policy: ZooPolicy, task: str, episodes: int, seed: int, deterministic: bool = True) -> np.ndarray:
    """Undiscounted returns of `episodes` episodes (resets seeded `seed, seed + 1, ...`)."""
    env = make_env(task)
    rng = np.random.default_rng(seed)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            if deterministic:
                action = policy.deterministic(obs[None])[0]
            else:
                action = policy.sample(obs[None], rng)[0][0]
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[episode] += reward
            done = terminated or truncated
    return returns


class ReplayBuffer:
    """Fixed-capacity transition store in NumPy, filled in order (the zoo never overwrites)."""

    def __init__(self, capacity: int, observation_dim: int, action_dim: int):
        self.observations = np.zeros((capacity, observation_dim), np.float32)
        self.actions = np.zeros((capacity, action_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.next_observations = np.zeros((capacity, observation_dim), np.float32)
        self.terminations = np.zeros(capacity, np.float32)
        self.size = 0

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        i = self.size
        self.observations[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_observations[i], self.terminations[i] = next_obs, float(terminated)
        self.size += 1

    def sample(self, rng: np.random.Generator, n_batches: int, batch_size: int) -> sac.Batch:
        idx = rng.integers(0, self.size, size=(n_batches, batch_size))
        return sac.Batch(*(jnp.asarray(x[idx]) for x in (self.observations, self.actions, self.rewards,
                                                          self.next_observations, self.terminations)))

    def arrays(self) -> dict[str, Any]:
        names = ("observations", "actions", "rewards", "next_observations", "terminations")
        return {n: getattr(self, n)[: self.size] for n in names}


def save_checkpoint(run_dir: Path, state: sac.SACState, buffer: ReplayBuffer, meta: dict) -> None:
    ckpt = run_dir / "checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    write_atomically(ckpt / "state.msgpack", serialization.to_bytes(state))
    tmp = ckpt / f"buffer.tmp{os.getpid()}.npz"
    np.savez(tmp, **buffer.arrays())
    os.replace(tmp, ckpt / "buffer.npz")
    write_atomically(ckpt / "meta.json", json.dumps(meta).encode())  # written last: marks the checkpoint complete


def train(task_name: str, steps: int, run_dir: Path, seed: int = 0, eval_interval: int = 10_000,
          checkpoint_interval: int = 50_000, warmup_steps: int = 10_000, eval_episodes: int = 5,
          chunk: int = 50, resume: bool = False, config: sac.SACConfig | None = None) -> None:
    config = config or sac.SACConfig()
    task = get_task(task_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({
        "task": task.name, "steps": steps, "seed": seed, "eval_interval": eval_interval,
        "warmup_steps": warmup_steps, "eval_episodes": eval_episodes, "chunk": chunk,
        "sac": {k: getattr(config, k) for k in config.__dataclass_fields__}}, indent=1))
    env = make_env(task.name)
    buffer = ReplayBuffer(steps, task.observation_dim, task.action_dim)
    state = sac.init(config, task.observation_dim, task.action_dim, jax.random.PRNGKey(seed))
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed + 1)
    step, episode, episode_return = 0, 0, 0.0
    recent_returns: list[float] = []
    if resume and (run_dir / "checkpoint" / "meta.json").exists():
        meta = json.loads((run_dir / "checkpoint" / "meta.json").read_text())
        state = serialization.from_bytes(state, (run_dir / "checkpoint" / "state.msgpack").read_bytes())
        with np.load(run_dir / "checkpoint" / "buffer.npz", allow_pickle=False) as data:
            for name in data.files:
                getattr(buffer, name)[: len(data[name])] = data[name]
            buffer.size = len(data["rewards"])
        rng.bit_generator.state = meta["numpy_rng"]
        key = jax.numpy.asarray(meta["jax_key"], dtype=jax.numpy.uint32)
        step, episode = meta["step"], meta["episode"]
        print(f"resumed at step {step}")
    multi_update = sac.make_multi_update(config)
    obs, _ = env.reset(seed=seed * 100_000 + episode)
    started, last_log_step = time.perf_counter(), step
    metrics: dict = {}
    while step < steps:
        policy = ZooPolicy.from_flax_params(jax.device_get(state.actor.params))
        for _ in range(chunk):
            if step < warmup_steps:
                action = rng.uniform(-1.0, 1.0, task.action_dim).astype(np.float32)
            else:
                action = policy.sample(obs[None], rng)[0][0]
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated)
            episode_return += float(reward)
            step += 1
            obs = next_obs
            if terminated or truncated:
                recent_returns = (recent_returns + [episode_return])[-10:]
                episode += 1
                episode_return = 0.0
                obs, _ = env.reset(seed=seed * 100_000 + episode)
        if step >= warmup_steps:
            key, update_key = jax.random.split(key)
            batches = buffer.sample(rng, chunk, config.batch_size)
            state, metrics = multi_update(state, batches, update_key)
        if step % eval_interval == 0:
            snapshot = run_dir / "snapshots" / f"step_{step:07d}.npz"
            ZooPolicy.from_flax_params(jax.device_get(state.actor.params)).save(snapshot)
            returns = evaluate(ZooPolicy.load(snapshot), task.name, eval_episodes, seed=10_000)
            elapsed = time.perf_counter() - started
            record = {"step": step, "episode": episode, "eval_return_mean": float(returns.mean()),
                      "eval_return_std": float(returns.std()),
                      "train_return_recent": float(np.mean(recent_returns)) if recent_returns else None,
                      "steps_per_s": (step - last_log_step) / elapsed,
                      **{k: float(v) for k, v in metrics.items()}}
            started, last_log_step = time.perf_counter(), step
            with open(run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
        if step % checkpoint_interval == 0 or step >= steps:
            save_checkpoint(run_dir, state, buffer, {
                "step": step, "episode": episode, "task": task.name, "seed": seed,
                "numpy_rng": rng.bit_generator.state, "jax_key": np.asarray(key).tolist()})
            obs, _ = env.reset(seed=seed * 100_000 + episode)  # resume restarts the episode too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task")
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-interval", type=int, default=10_000)
    parser.add_argument("--warmup-steps", type=int, default=10_000)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    train(args.task, args.steps, args.run_dir, seed=args.seed, eval_interval=args.eval_interval,
          warmup_steps=args.warmup_steps, resume=args.resume)


if __name__ == "__main__":
    main()
