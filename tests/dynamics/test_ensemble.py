"""The dynamics ensemble against a linear-Gaussian system whose dynamics are known exactly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tether.dynamics import DynamicsConfig, DynamicsData, disagreement, fit_dynamics, holdout_split, predict, rule_for
from tether.dynamics.termination import HOPPER, LEARNED, NEVER, WALKER2D, terminated
from tether.errors import DatasetError

A = np.array([[0.9, 0.1], [-0.2, 0.8]], np.float32)
B = np.array([[0.5], [0.3]], np.float32)
NOISE = 0.05


def linear_logs(n_episodes: int = 60, length: int = 40, seed: int = 0) -> DynamicsData:
    """s' = A s + B a + N(0, NOISE^2), r = s_0 - a^2, with a random linear behaviour; states stay near 0."""
    rng = np.random.default_rng(seed)
    obs, acts, rews, nxt, ids = [], [], [], [], []
    for episode in range(n_episodes):
        s = rng.normal(0, 1, 2).astype(np.float32)
        for _ in range(length):
            a = np.clip(-0.3 * s[:1] + rng.normal(0, 0.5, 1), -1, 1).astype(np.float32)
            s_next = A @ s + B @ a + rng.normal(0, NOISE, 2).astype(np.float32)
            obs.append(s), acts.append(a), rews.append(s[0] - a[0] ** 2), nxt.append(s_next), ids.append(episode)
            s = s_next
    n = len(obs)
    return DynamicsData(np.array(obs), np.array(acts), np.array(rews, np.float32), np.array(nxt),
                        np.zeros(n, np.float32), np.ones(n, bool), np.array(ids))


SMALL = DynamicsConfig(n_members=4, n_elites=3, hidden_dims=(64, 64), steps_per_check=500, max_steps=6000,
                       patience=3)


@pytest.fixture(scope="module")
def fitted():
    return fit_dynamics(linear_logs(), SMALL, seed=0)


def test_the_ensemble_recovers_known_linear_dynamics_and_noise(fitted):
    model, report = fitted
    test = linear_logs(n_episodes=10, seed=1)
    prediction = predict(model, jnp.asarray(test.observations), jnp.asarray(test.actions))
    true_delta = test.observations @ A.T + test.actions @ B.T - test.observations
    mean = np.asarray(prediction.mean).mean(axis=0)
    assert np.sqrt(np.mean((mean[:, :2] - true_delta) ** 2)) < 0.3 * NOISE + 0.01
    assert np.abs(mean[:, 2] - (test.observations[:, 0] - test.actions[:, 0] ** 2)).mean() < 0.05
    # the learned noise is the system's (std of each next-observation dimension), not the data's spread
    std = np.asarray(prediction.std)[..., :2].mean()
    assert 0.6 * NOISE < std < 1.6 * NOISE
    assert len(report.elites) == 3 and report.elite_mse < 0.05


def test_disagreement_grows_away_from_the_data(fitted):
    model, _ = fitted
    data = linear_logs(n_episodes=5, seed=2)
    near = np.asarray(disagreement(predict(model, jnp.asarray(data.observations), jnp.asarray(data.actions))))
    far = np.asarray(disagreement(predict(model, jnp.asarray(data.observations * 8 + 6), jnp.asarray(data.actions))))
    assert np.median(far) > 5 * np.median(near)


def test_the_holdout_is_whole_episodes_and_needs_two():
    ids = np.repeat(np.arange(10), 7)
    train, held = holdout_split(ids, 0.2, seed=0)
    assert len(np.unique(ids[held])) == 2 and not set(ids[train]) & set(ids[held])
    with pytest.raises(DatasetError, match="episodes"):
        holdout_split(np.zeros(50, int), 0.2, seed=0)


def test_known_termination_rules_follow_gymnasium():
    assert rule_for("Hopper-v5") == HOPPER and rule_for("Walker2d-v4") == WALKER2D
    assert rule_for("HalfCheetah-v5") == NEVER and rule_for("my-plant") == rule_for(None) == LEARNED
    healthy = jnp.array([[1.25, 0.0] + [0.0] * 9, [0.5, 0.0] + [0.0] * 9, [1.25, 0.3] + [0.0] * 9])
    assert terminated(jnp.int32(HOPPER), healthy, jnp.zeros(3)).tolist() == [False, True, True]
    walker = jnp.array([[1.2, 0.5] + [0.0] * 15, [2.1, 0.0] + [0.0] * 15, [1.2, -1.2] + [0.0] * 15])
    assert terminated(jnp.int32(WALKER2D), walker, jnp.zeros(3)).tolist() == [False, True, True]
    assert terminated(jnp.int32(LEARNED), healthy, jnp.array([2.0, -2.0, 0.1])).tolist() == [True, False, True]
    assert not terminated(jnp.int32(NEVER), healthy, jnp.ones(3)).any()


def test_the_learned_termination_classifier_finds_a_terminal_region():
    data = linear_logs(seed=3)
    boundary = np.quantile(data.next_observations[:, 0], 0.97)  # 3% of the steps end their episode
    done = (data.next_observations[:, 0] > boundary).astype(np.float32)
    data = DynamicsData(data.observations, data.actions, data.rewards, data.next_observations, done,
                        data.has_successor, data.episode_ids)
    _, report = fit_dynamics(data, SMALL, seed=0)
    assert report.termination_accuracy > 1 - done.mean() / 3  # well above "never ends" (1 - 3%)
    assert jax.tree.leaves(report.holdout_mse)
