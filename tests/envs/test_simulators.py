"""Logged-decision simulators: exact values against closed forms and simulation, honest logs, and each
failure-mode scenario producing its failure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tether.algos import DiscreteBCQConfig, DiscreteCQLConfig, TrueValueEvaluator
from tether.envs import SCENARIOS, FiniteMDP, get_scenario, scenario_logs
from tether.envs.classic import CLASSIC_TASKS, monte_carlo_value
from tether.envs.fraud import REVIEW

SMALL = {"hidden_dims": (64, 64), "batch_size": 128, "target_update_interval": 100, "gamma": 0.99}


def tiny_mdp(horizon: int = 3) -> FiniteMDP:
    """One live state s0 and a terminal s1. Action 0 pays 1 and ends w.p. 1/2; action 1 pays 2 and ends."""
    p = np.zeros((2, 2, 2))
    p[0, 0] = [0.5, 0.5]
    p[0, 1] = [0.0, 1.0]
    p[1, :, 1] = 1.0
    r = np.zeros((2, 2, 2))
    r[0, 0, :] = 1.0
    r[0, 1, :] = 2.0
    return FiniteMDP("tiny", p, r, np.array([1.0, 0.0]), np.array([False, True]), np.array([[0.0], [1.0]]),
                     np.ones((2, 2), bool), horizon, ("stay", "leave"), ("x",))


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_exact_value_matches_the_closed_form_on_a_tiny_case(gamma):
    mdp = tiny_mdp(horizon=3)
    q = 0.3  # probability of action 0 ("stay")
    policy = np.array([[q, 1 - q], [0.5, 0.5]])
    # each step in s0: expected reward q + 2(1 - q); the episode continues with probability q/2
    step = q * 1 + (1 - q) * 2
    closed = sum(step * (gamma * q * 0.5) ** t for t in range(3))
    assert mdp.value(policy, gamma) == pytest.approx(closed, rel=1e-12)
    assert mdp.optimal_value(gamma) == pytest.approx(2.0)  # leaving at once beats 1 + 1/2 + 1/4 when gamma <= 1


def test_exact_values_agree_with_simulated_logs():
    for name in ("fraud", "treatment-confounded", "recommender"):
        scenario = get_scenario(name)
        data = scenario.logs(4000, seed=1)
        returns = data.episode_returns()
        stderr = returns.std() / np.sqrt(len(returns))
        assert abs(returns.mean() - scenario.behavior_value()) < 4 * stderr, name


def test_logged_propensities_are_the_behaviour_policy_and_match_action_frequencies():
    data, scenario = scenario_logs("fraud", 2000, seed=2, include_true_state=True)
    states = data.extras["true_state"]
    np.testing.assert_allclose(data.action_probs, scenario.behavior[states], atol=1e-6)
    np.testing.assert_allclose(np.exp(data.behavior_log_probs), scenario.behavior[states, data.actions], rtol=1e-5)
    s = np.bincount(states).argmax()
    frequencies = np.bincount(data.actions[states == s], minlength=3) / np.sum(states == s)
    np.testing.assert_allclose(frequencies, scenario.behavior[s], atol=0.03)
    unlogged, _ = scenario_logs("fraud-unlogged-propensities", 10)
    assert unlogged.behavior_log_probs is None and unlogged.action_probs is None
    assert unlogged.metadata["propensities_logged"] is False


def test_decision_env_follows_the_gymnasium_api_and_enforces_masks():
    scenario = get_scenario("fraud")
    env = scenario.env(seed=0)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    full = np.flatnonzero(~scenario.mdp.action_masks[:, REVIEW])
    env._state = int(full[0])
    with pytest.raises(ValueError, match="masked out"):
        env.step(REVIEW)
    data, _ = scenario_logs("fraud", 500)
    assert data.action_masks[np.arange(data.n_steps), data.actions].all()
    assert not data.action_masks[:, REVIEW].all()  # the queue does fill up


def test_policies_that_break_masks_are_rejected():
    mdp = get_scenario("fraud").mdp
    always_review = np.tile([0.0, 1.0, 0.0], (mdp.n_states, 1))
    with pytest.raises(ValueError, match="mask forbids"):
        mdp.value(always_review)


def test_failure_mode_scenarios_produce_their_failures():
    # narrow: the reviewers' habit is deterministic, so borderline approve/decline have no support
    narrow, _ = scenario_logs("fraud-narrow", 200)
    assert np.mean(narrow.action_probs.max(1) == 1.0) == 1.0
    # hidden confounding: among logged patients aggressive therapy looks best, yet giving it to all is worst
    confounded, scenario = scenario_logs("treatment-confounded", 3000, seed=4)
    first = confounded.episode_starts
    by_first_action = {a: confounded.episode_returns()[confounded.actions[first] == a].mean() for a in range(3)}
    assert max(by_first_action, key=by_first_action.get) == 2
    everyone = {a: scenario.true_value(np.eye(3)[np.full(scenario.mdp.n_states, a)]) for a in range(3)}
    assert everyone[2] < everyone[1] < scenario.behavior_value()
    # what behaviour cloning copies (the behaviour averaged over the hidden type) is worth far less
    assert scenario.true_value(scenario.mdp.feature_policy(scenario.behavior)) < everyone[1]
    # reward-proxy drift: logged clicks favour catchy items, the true objective favours quality items
    window, scenario = scenario_logs("recommender-window", 3000)
    assert window.metadata["rewards_logged"] == "proxy" and window.truncations.mean() > 0.2
    clicks = [window.rewards[window.actions == a].mean() for a in range(4)]
    assert np.argmax(clicks) in (0, 1)
    mdp = scenario.mdp
    catchy = np.eye(4)[np.zeros(mdp.n_states, int)]
    quality = np.eye(4)[2 + mdp.features[:, 0].astype(int)]
    assert scenario.true_value(catchy) < scenario.behavior_value() < scenario.true_value(quality)
    # unsupported action: the sharp ranker shows a quality item in under 2% of impressions
    sharp, _ = scenario_logs("recommender-narrow", 500)
    assert np.isin(sharp.actions, [2, 3]).mean() < 0.02


def test_classic_control_zoo_is_strong_and_monte_carlo_is_reproducible():
    value, stderr = monte_carlo_value("CartPole-v1", lambda o: CLASSIC_TASKS["cartpole"].expert(o), 5)
    assert value == 500.0 and stderr == 0.0
    data, scenario = scenario_logs("cartpole-compounding")
    assert data.n_episodes == 5 and data.action_probs.max(1).min() == 1.0
    assert scenario.true_value(lambda o: CLASSIC_TASKS["cartpole"].expert(o), n_episodes=3) == 500.0


@pytest.mark.parametrize("name", ["fraud", "treatment"])
@pytest.mark.parametrize("config", [DiscreteCQLConfig(**SMALL, alpha=0.1), DiscreteBCQConfig(**SMALL)],
                         ids=lambda c: c.get_type())
def test_discrete_cql_and_bcq_beat_the_behaviour_policy_in_true_value(name, config):
    data, scenario = scenario_logs(name, 400, seed=0)
    learner = config.create()
    history = learner.fit(data, n_steps=3000, n_steps_per_epoch=3000, show_progress=False,
                          evaluators={"true_value": TrueValueEvaluator(scenario)})
    improvement = history[-1][1]["true_value"] - scenario.behavior_value()
    assert improvement > 0.15 * abs(scenario.behavior_value()), (name, improvement)


def test_discrete_bcq_stays_inside_the_logged_support_of_a_narrow_simulator():
    data, scenario = scenario_logs("fraud-narrow", 400, seed=0)
    learner = DiscreteBCQConfig(**SMALL).create()
    learner.fit(data, n_steps=3000, n_steps_per_epoch=3000, show_progress=False)
    mdp = scenario.mdp
    table = mdp.policy_table(learner)  # also checks every action respects the state's mask
    visited = mdp.state_visits(scenario.behavior) > 0
    assert np.all(scenario.behavior[visited][table[visited] > 0] > 0)


def test_every_scenario_builds_and_logs():
    for name in SCENARIOS:
        scenario = get_scenario(name)
        if scenario.mdp is None:
            continue
        data = scenario.logs(20)
        assert data.metadata["scenario"] == name and data.n_episodes == 20
        assert dataclasses.asdict(scenario)["failure_mode"]
