"""d3rlpy side of bench/algos_scores.py; runs inside bench/.venv-d3rlpy.

    python bench/peers/d3rlpy_score.py ALGO DATA.npz ENV_ID STEPS SEED EPISODES [DEVICE [BCQ_SAMPLES]]

Trains with the same networks and batch sizes as tether's defaults (observations standardised, as
tether does; IQL's rewards scaled by 1000 / the range of episode returns, as tether's IQL and the
paper do) and prints one JSON line with the mean return of the greedy policy.
"""

import json
import sys

import d3rlpy
import gymnasium as gym
import numpy as np


def main() -> None:
    algo_name, path, env_id, steps, seed, episodes = sys.argv[1:7]
    steps, seed, episodes = int(steps), int(seed), int(episodes)
    device = sys.argv[7] if len(sys.argv) > 7 else "cpu:0"
    bcq_samples = int(sys.argv[8]) if len(sys.argv) > 8 else 100  # d3rlpy's default
    d3rlpy.seed(seed)
    with np.load(path, allow_pickle=False) as data:
        dataset = d3rlpy.dataset.MDPDataset(data["observations"], data["actions"], data["rewards"],
                                            data["terminations"], timeouts=data["truncations"])
    enc = d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=[256, 256])
    scaler = d3rlpy.preprocessing.StandardObservationScaler()
    algos = d3rlpy.algos
    configs = {
        "bc": lambda: algos.BCConfig(encoder_factory=enc, batch_size=100, observation_scaler=scaler),
        "td3_plus_bc": lambda: algos.TD3PlusBCConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                                     batch_size=256, update_actor_interval=2,
                                                     observation_scaler=scaler),
        "iql": lambda: algos.IQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                       value_encoder_factory=enc, batch_size=256, observation_scaler=scaler,
                                       reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=1000.0)),
        "cql": lambda: algos.CQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, batch_size=256,
                                       observation_scaler=scaler),
        # the VAE as tether's and the paper's, 750x750: d3rlpy's default imitator is 256x256
        "bcq": lambda: algos.BCQConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, batch_size=100,
                                       imitator_encoder_factory=d3rlpy.models.encoders.VectorEncoderFactory(
                                           hidden_units=[750, 750]),
                                       observation_scaler=scaler, n_action_samples=bcq_samples),
    }
    env = gym.make(env_id)  # before training: a missing MuJoCo fails now, not after an hour of it
    algo = configs[algo_name]().create(device=device)
    algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, show_progress=False, save_interval=10**9,
             logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(algo.predict(obs[None].astype(np.float32))[0])
            total += reward
            done = terminated or truncated
        returns.append(total)
    print(json.dumps({"algo": algo_name, "seed": seed, "return": float(np.mean(returns))}))


if __name__ == "__main__":
    main()
