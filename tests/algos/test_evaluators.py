"""Evaluators against their definitions, with stub learners whose predictions are known."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from tests.conftest import make_dataset
from tether.algos import (
    AverageValueEstimationEvaluator,
    CompareContinuousActionDiffEvaluator,
    CompareDiscreteActionMatchEvaluator,
    ContinuousActionDiffEvaluator,
    DiscountedSumOfAdvantageEvaluator,
    EnvironmentEvaluator,
    InitialStateValueEstimationEvaluator,
    SoftOPCEvaluator,
    TDErrorEvaluator,
)


class TargetEnv(gym.Env):
    """Five steps; reward -|a - 0.5|: a policy's return is known exactly."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(1, self.t, np.float32), -abs(float(action[0]) - 0.5), False, self.t >= 5, {}


gym.register("tether-test/Target-v0", entry_point=TargetEnv)


class Stub:
    """predict(s) = 0.1 * s[:, :2]; predict_value(s, a) = sum(s) + sum(a)."""

    config = SimpleNamespace(gamma=0.9)

    def __init__(self, action=None):
        self.action = action

    def predict(self, obs):
        obs = np.asarray(obs)
        if self.action is not None:
            return np.full((len(obs), 1), self.action, np.float32)
        return 0.1 * obs[:, :2]

    def predict_value(self, obs, actions):
        return np.asarray(obs).sum(1) + np.asarray(actions).sum(1)


def test_environment_evaluator_returns_the_exact_mean_return():
    env = gym.make("tether-test/Target-v0")
    assert EnvironmentEvaluator(env, n_trials=3)(Stub(action=0.5)) == 0.0
    np.testing.assert_allclose(EnvironmentEvaluator(env, n_trials=4)(Stub(action=0.0)), -2.5)
    # five steps of reward -0.5, discounted: -0.5 (1 + 0.9 + ... + 0.9^4)
    undiscounted, discounted = EnvironmentEvaluator(env, n_trials=2).returns(Stub(action=0.0), gamma=0.9)
    np.testing.assert_allclose(undiscounted, [-2.5, -2.5])
    np.testing.assert_allclose(discounted, [-0.5 * (1 - 0.9**5) / 0.1] * 2)
    data = make_dataset((3,))
    data.metadata.update(ref_min_score=-5.0, ref_max_score=0.0)
    assert EnvironmentEvaluator.normalized(-2.5, data) == 50.0


def test_dataset_evaluators_match_their_definitions():
    data = make_dataset((4, 6, 5), obs_dim=3, action_dim=2)
    tr = data.transitions()
    stub = Stub()
    q = tr.observations.sum(1) + tr.actions.sum(1)
    next_q = tr.next_observations.sum(1) + (0.1 * tr.next_observations[:, :2]).sum(1)
    td = np.mean((q - (tr.rewards + 0.9 * (1 - tr.terminations) * next_q)) ** 2)
    np.testing.assert_allclose(TDErrorEvaluator()(stub, data), td, rtol=1e-5)
    pi_q = tr.observations.sum(1) + (0.1 * tr.observations[:, :2]).sum(1)
    np.testing.assert_allclose(AverageValueEstimationEvaluator()(stub, data), pi_q.mean(), rtol=1e-5)
    first = data.observations[data.episode_starts]
    np.testing.assert_allclose(InitialStateValueEstimationEvaluator()(stub, data),
                               np.mean(first.sum(1) + (0.1 * first[:, :2]).sum(1)), rtol=1e-5)
    diff = np.mean(np.sum((0.1 * tr.observations[:, :2] - tr.actions) ** 2, axis=1))
    np.testing.assert_allclose(ContinuousActionDiffEvaluator()(stub, data), diff, rtol=1e-5)


def test_advantage_opc_and_comparison_evaluators_match_their_definitions():
    data = make_dataset((4, 6, 5), obs_dim=3, action_dim=2)
    stub = Stub()
    obs, actions = data.observations.astype(np.float64), data.actions.astype(np.float64)
    advantage = actions.sum(1) - (0.1 * obs[:, :2]).sum(1)  # Q(s, a) - Q(s, pi(s)) for the stub
    sums = []
    for start, end in zip(data.episode_starts, data.episode_ends, strict=True):
        for t in range(start, end):  # sum_k gamma^k A_{t+k}, to the episode's end
            sums.append(sum(0.9 ** (k - t) * advantage[k] for k in range(t, end)))
    np.testing.assert_allclose(DiscountedSumOfAdvantageEvaluator()(stub, data), np.mean(sums), rtol=1e-5)

    returns = data.episode_returns()
    threshold = np.sort(returns)[1]  # the two best episodes count as successes
    q = obs.sum(1) + actions.sum(1)
    success = np.isin(data.episode_ids, np.flatnonzero(returns >= threshold))
    assert 0 < success.sum() < len(q)
    np.testing.assert_allclose(SoftOPCEvaluator(threshold)(stub, data), q[success].mean() - q.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="return_threshold"):
        SoftOPCEvaluator(returns.max() + 1.0)(stub, data)

    tr = data.transitions()
    expected = np.mean(np.sum((0.1 * tr.observations[:, :2] - 0.3) ** 2, axis=1))
    np.testing.assert_allclose(CompareContinuousActionDiffEvaluator(Stub(action=0.3))(stub, data), expected,
                               rtol=1e-5)


class DiscreteStub:
    """Greedy action: the sign of the first observation (or a constant)."""

    def __init__(self, constant=None):
        self.constant = constant

    def predict(self, obs, action_masks=None):
        obs = np.asarray(obs)
        return np.full(len(obs), self.constant) if self.constant is not None else (obs[:, 0] > 0).astype(np.int64)


def test_compare_discrete_action_match_is_the_share_of_equal_choices():
    data = make_dataset((4, 6, 5), obs_dim=3, discrete_n=2)
    tr = data.transitions()
    expected = np.mean(tr.observations[:, 0] > 0)
    assert CompareDiscreteActionMatchEvaluator(DiscreteStub(1))(DiscreteStub(), data) == pytest.approx(expected)
