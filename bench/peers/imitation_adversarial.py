"""imitation side of bench/adversarial.py; runs inside bench/.venv-imitation (imitation 1.0.1, gymnasium 0.29).

    python bench/peers/imitation_adversarial.py '{"env_id": ..., "method": "gail" | "airl", "demos": "demos.npz",
        "seed": 0, "env_steps": 100000, "eval_episodes": 10, "ppo": {...}}'

GAIL (BasicRewardNet) or AIRL (BasicShapedRewardNet), both with imitation's running input normalisation,
over Stable-Baselines3's PPO with the same settings tether's PPO uses (`ppo`: n_envs, n_steps,
batch_size, n_epochs, learning_rate, gamma, gae_lambda, clip_range, ent_coef); the rest are imitation's
defaults (demo_batch_size 1024 capped by the demonstrations, 8 discriminator updates per round as in its
documentation's CartPole example). The demonstrations arrive as arrays of whole episodes (`observations`,
`actions`, `next_observations`, `terminations`, `episode_starts`); a truncated episode becomes a
non-terminal trajectory. Prints one JSON line: the greedy policy's mean return over `eval_episodes`
seeded episodes, and the training wall seconds.
"""

import json
import sys
import time

import numpy as np
import torch as th
from _peer_common import evaluate  # bench/peers is the script's own folder
from imitation.algorithms.adversarial.airl import AIRL
from imitation.algorithms.adversarial.gail import GAIL
from imitation.data.types import Trajectory
from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
from imitation.util.networks import RunningNorm
from imitation.util.util import make_vec_env
from stable_baselines3 import PPO
from stable_baselines3.ppo import MlpPolicy


def trajectories(path: str) -> list:
    data = np.load(path)
    starts = list(data["episode_starts"]) + [len(data["observations"])]
    out = []
    for start, end in zip(starts[:-1], starts[1:], strict=True):
        obs = np.concatenate([data["observations"][start:end], data["next_observations"][end - 1:end]])
        out.append(Trajectory(obs=obs, acts=data["actions"][start:end], infos=None,
                              terminal=bool(data["terminations"][end - 1])))
    return out


def main() -> None:
    spec = json.loads(sys.argv[1])
    ppo = spec["ppo"]
    rng = np.random.default_rng(spec["seed"])
    th.manual_seed(spec["seed"])
    venv = make_vec_env(spec["env_id"], rng=rng, n_envs=ppo["n_envs"])
    demos = trajectories(spec["demos"])
    learner = PPO(env=venv, policy=MlpPolicy, n_steps=ppo["n_steps"], batch_size=ppo["batch_size"],
                  n_epochs=ppo["n_epochs"], learning_rate=ppo["learning_rate"], gamma=ppo["gamma"],
                  gae_lambda=ppo["gae_lambda"], clip_range=ppo["clip_range"], ent_coef=ppo["ent_coef"],
                  seed=spec["seed"], device="cpu")
    if spec["method"] == "gail":
        net = BasicRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
        trainer_cls = GAIL
    else:
        net = BasicShapedRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
        trainer_cls = AIRL
    n_demo_steps = sum(len(t.acts) for t in demos)
    trainer = trainer_cls(demonstrations=demos, demo_batch_size=min(1024, n_demo_steps),
                          gen_replay_buffer_capacity=ppo["n_steps"] * ppo["n_envs"], n_disc_updates_per_round=8,
                          venv=venv, gen_algo=learner, reward_net=net, allow_variable_horizon=True)
    started = time.perf_counter()
    trainer.train(spec["env_steps"])
    wall = time.perf_counter() - started
    print(json.dumps({"return": evaluate(learner, spec["env_id"], spec["eval_episodes"]), "wall_s": wall,
                      "env_steps": int(learner.num_timesteps)}), flush=True)


if __name__ == "__main__":
    main()
