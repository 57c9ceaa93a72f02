"""What the `imitation` peer scripts share (they run in bench/.venv-imitation, without tether)."""

import gymnasium as gym
import numpy as np


def evaluate(policy, env_id: str, episodes: int, seed: int = 10_000) -> float:
    """Mean return of an SB3-style policy's deterministic actions over `episodes` seeded episodes."""
    returns = []
    for episode in range(episodes):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))
