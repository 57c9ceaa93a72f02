"""AIRL against ground truth: on a deterministic chain with a known reward, the recovered g(s) is the true reward
up to a constant, f is the true reward up to shaping, and re-optimising g gives the expert's exact policy."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from tether.algos.airl import AIRLConfig
from tether.errors import ConfigError, ModelFileError
from tether.imitation.airl import AIRLDiscriminator, SavedReward, Transitions

GAMMA = 0.9
REWARD = np.array([1.0, 0.0, 0.0, 0.5, 0.0, 0.0, 2.0])  # seven states in a row
N_STATES, N_ACTIONS = len(REWARD), 3  # left, stay, right
NEXT = np.clip(np.arange(N_STATES)[:, None] + np.arange(N_ACTIONS)[None, :] - 1, 0, N_STATES - 1)  # [S, A]


def soft_optimal(reward_sas: np.ndarray) -> np.ndarray:
    """`[S, A]` the entropy-regularised optimal policy for reward r(s, a, next(s, a)) (soft value iteration)."""
    value = np.zeros(N_STATES)
    while True:
        q = reward_sas + GAMMA * value[NEXT]
        top = q.max(1)
        value, previous = top + np.log(np.exp(q - top[:, None]).sum(1)), value
        if np.abs(value - previous).max() < 1e-12:
            return np.exp(q - value[:, None])


def occupancy(policy: np.ndarray) -> np.ndarray:
    """`[S, A]` the normalised discounted state-action occupancy from a uniform start, solved exactly."""
    moves = np.zeros((N_STATES, N_STATES))
    for s in range(N_STATES):
        for a in range(N_ACTIONS):
            moves[s, NEXT[s, a]] += policy[s, a]
    states = np.linalg.solve(np.eye(N_STATES) - GAMMA * moves.T, (1 - GAMMA) * np.full(N_STATES, 1 / N_STATES))
    return states[:, None] * policy


def all_transitions(weights: np.ndarray, policy: np.ndarray) -> Transitions:
    """Every (s, a, s') once, weighted by an occupancy: the discriminator's exact, full-batch loss."""
    eye = np.eye(N_STATES, dtype=np.float32)
    states, actions = np.divmod(np.arange(N_STATES * N_ACTIONS), N_ACTIONS)
    return Transitions(jnp.asarray(eye[states]), jnp.asarray(eye[NEXT[states, actions]]),
                       jnp.zeros(len(states)), jnp.asarray(np.log(policy[states, actions]), jnp.float32),
                       jnp.asarray(weights.ravel(), jnp.float32))


def test_airl_recovers_the_reward_up_to_shaping_and_its_optimum_is_the_experts_policy(tmp_path):
    expert = soft_optimal(np.repeat(REWARD[:, None], N_ACTIONS, 1))
    expert_occupancy = occupancy(expert)
    eye = np.eye(N_STATES, dtype=np.float32)
    discriminator = AIRLDiscriminator(N_STATES, AIRLConfig(disc_learning_rate=3e-3), eye, GAMMA, seed=0)
    policy = np.full((N_STATES, N_ACTIONS), 1 / N_ACTIONS)
    for _ in range(400):  # discriminator steps on exact occupancies, then the generator's exact soft optimum of f
        from_expert, from_policy = all_transitions(expert_occupancy, policy), all_transitions(occupancy(policy), policy)
        for _ in range(10):
            discriminator.update(from_expert, from_policy)
        shaped = discriminator.shaped(from_expert).reshape(N_STATES, N_ACTIONS)
        policy = soft_optimal(shaped)
    recovered = discriminator.state_reward(eye)
    assert np.std(recovered - REWARD) < 0.01  # g = r + constant
    np.testing.assert_allclose(policy, expert, atol=1e-3)  # the generator reached the expert
    retrained = soft_optimal(np.repeat(recovered[:, None], N_ACTIONS, 1))  # the transfer: optimise g alone
    np.testing.assert_allclose(retrained, expert, atol=1e-2)
    assert (retrained.argmax(1) == expert.argmax(1)).all()

    saved = SavedReward(discriminator.save_reward(tmp_path / "reward.npz"))
    np.testing.assert_allclose(saved(eye), recovered, rtol=1e-5, atol=1e-5)


def test_bad_airl_settings_and_reward_files_are_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match="disc_updates"):
        AIRLConfig(disc_updates=0)
    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    with pytest.raises(ModelFileError, match="junk.npz.*not a tether model file"):
        SavedReward(tmp_path / "junk.npz")
