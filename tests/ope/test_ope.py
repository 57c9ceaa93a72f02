"""Offline evaluation against ground truth: closed forms on a one-step case, exact simulator values,
and each diagnostic firing on a case built to trigger it."""

from __future__ import annotations

import numpy as np
import pytest

from tether.data import ActionSpace, LoggedDataset
from tether.envs import get_scenario
from tether.envs.fraud import APPROVE, behavior_policy, reviewer_habit
from tether.ope import (
    FQE,
    FQEConfig,
    behavior_policy_of,
    coverage,
    evaluate_policy,
    normalized_absolute_error,
    regret_at_k,
    spearman,
    support_check,
    table_policy,
)
from tether.ope import importance as imp

FAST_FQE = FQEConfig(gamma=0.9, hidden_dims=(64, 64), n_heads=5, target_update_interval=100)


def bandit(n=3000, seed=0):
    """One step per episode: context s ~ U(-1, 1); rewards r(s, a) = (0, s, 1 - s) for a = 0, 1, 2;
    behaviour probabilities (0.5, 0.3, 0.2)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, n)
    probs = np.array([0.5, 0.3, 0.2])
    a = rng.choice(3, n, p=probs)
    r = np.select([a == 0, a == 1], [0.0, s], 1.0 - s)
    data = LoggedDataset(observations=s[:, None].astype(np.float32), actions=a, rewards=r.astype(np.float32),
                         terminations=np.ones(n, bool), truncations=np.zeros(n, bool), episode_starts=np.arange(n),
                         action_space=ActionSpace.discrete(3), next_observations=s[:, None].astype(np.float32),
                         behavior_log_probs=np.log(probs[a]), action_probs=np.tile(probs, (n, 1)))
    return data, s, a, r, probs


def test_one_step_estimators_match_their_closed_forms():
    data, s, a, r, probs = bandit()
    target = np.array([0.1, 0.1, 0.8])  # true value: 0.1 E[s] + 0.8 E[1 - s] = 0.8
    table = imp.episode_table(data, np.log(target[a]), np.log(probs[a]), gamma=1.0)
    w = target[a] / probs[a]
    assert imp.ordinary_is(table) == pytest.approx(np.mean(w * r))
    assert imp.per_decision_is(table) == pytest.approx(np.mean(w * r))
    assert imp.weighted_is(table) == pytest.approx(np.sum(w * r) / np.sum(w))
    assert imp.weighted_per_decision_is(table) == pytest.approx(np.sum(w * r) / np.sum(w))
    # DR with the exact reward model has no variance left: it is the mean of V(s_i)
    q_true = np.stack([np.zeros_like(s), s, 1 - s], 1)
    exact = imp.episode_table(data, np.log(target[a]), np.log(probs[a]), 1.0, q_true[np.arange(len(a)), a],
                              q_true @ target)
    assert imp.doubly_robust(exact) == pytest.approx(np.mean(q_true @ target))
    assert imp.weighted_doubly_robust(exact) == pytest.approx(np.mean(q_true @ target))
    low, high = imp.bootstrap_interval(table, imp.ordinary_is, 400)
    assert low < 0.8 < high
    bound = imp.high_confidence_lower_bound(imp.is_terms(table), w, floor=-1.0, delta=0.05)
    assert -1.0 <= bound < 0.8


def test_multi_step_weights_compound_per_decision():
    data = LoggedDataset(observations=np.zeros((3, 1), np.float32), actions=np.array([0, 1, 0]),
                         rewards=np.array([1.0, 2.0, 4.0], np.float32), terminations=np.array([False, True, True]),
                         truncations=np.zeros(3, bool), episode_starts=np.array([0, 2]),
                         action_space=ActionSpace.discrete(2))
    ratios = np.array([2.0, 0.5, 3.0])
    table = imp.episode_table(data, np.log(ratios), np.zeros(3), gamma=0.5)
    # episode 0: w = [2, 1], G = 1 + 0.5 * 2 = 2; episode 1: w = [3], G = 4 (padded with weight 3, reward 0)
    assert imp.ordinary_is(table) == pytest.approx((1 * 2 + 3 * 4) / 2)
    assert imp.per_decision_is(table) == pytest.approx(((2 * 1 + 0.5 * 1 * 2) + 3 * 4) / 2)
    assert imp.weighted_per_decision_is(table) == pytest.approx((2 * 1 + 3 * 4) / 5 + 0.5 * (1 * 2) / (1 + 3))


def test_every_estimator_recovers_the_behaviour_policy_value():
    scenario = get_scenario("fraud")
    data = scenario.logs(600, seed=3)
    estimates = evaluate_policy(behavior_policy_of(data), data, gamma=0.9, fqe_steps=2000, fqe_config=FAST_FQE,
                                n_boot=200)
    truth = scenario.mdp.value(scenario.behavior, 0.9)
    for name, est in estimates.items():
        assert est.interval[0] - 0.1 <= truth <= est.interval[1] + 0.1, (name, est.value, est.interval, truth)
        if name in ("IS", "PDIS", "WIS", "WPDIS"):
            assert est.diagnostics["mean_weight"] == pytest.approx(1.0)
            assert est.propensities == "logged"


def test_fqe_matches_the_exact_value_of_a_better_policy():
    scenario = get_scenario("fraud")
    data = scenario.logs(600, seed=4)
    habit = reviewer_habit(scenario.mdp)
    fqe = FQE(table_policy(habit, scenario.mdp), FAST_FQE)
    fqe.fit(data, n_steps=3000, n_steps_per_epoch=1000)
    estimate = fqe.estimate()
    truth = scenario.mdp.value(habit, 0.9)
    assert abs(estimate.value - truth) < 0.1 * abs(truth) + 0.2, (estimate.value, truth)
    assert "gamma=0.9" in estimate.estimand and len(estimate.head_values) == 5


def test_fqe_given_a_ceiling_trains_on_until_it_converges_and_no_further():
    """A budget too small to converge is extended epoch by epoch until the convergence check passes, the
    estimate then lands on the exact value; a fit that has converged stops at its planned steps."""
    scenario = get_scenario("fraud")
    data = scenario.logs(600, seed=4)
    habit = reviewer_habit(scenario.mdp)
    truth = scenario.mdp.value(habit, 0.9)
    short = FQE(table_policy(habit, scenario.mdp), FAST_FQE)
    short.fit(data, n_steps=400, n_steps_per_epoch=100)
    assert not short.estimate().converged
    extended = FQE(table_policy(habit, scenario.mdp), FAST_FQE)
    extended.fit(data, n_steps=400, n_steps_per_epoch=100, max_steps=20_000)
    estimate = extended.estimate()
    steps = 100 * len(extended.history)
    assert estimate.converged and 400 < steps < 20_000, steps
    assert abs(estimate.value - truth) < 0.1 * abs(truth) + 0.2, (estimate.value, truth)
    again = FQE(table_policy(habit, scenario.mdp), FAST_FQE)
    again.fit(data, n_steps=steps, n_steps_per_epoch=100, max_steps=20_000)
    assert len(again.history) == len(extended.history)  # converged at its planned steps: nothing added


def test_diagnostics_fire_on_a_near_deterministic_log_and_an_unlogged_candidate():
    scenario = get_scenario("fraud")
    mdp = scenario.mdp
    narrow = mdp.make_logs(behavior_policy(mdp, epsilon=0.01), 400, seed=5)
    approve_all = np.where(mdp.action_masks, 0.0, 0.0)
    approve_all[:, APPROVE] = 1.0
    estimates = evaluate_policy(table_policy(approve_all, mdp), narrow, gamma=0.9,
                                estimators=("IS", "WIS", "PDIS"), n_boot=50)
    warnings = " ".join(estimates["IS"].warnings)
    assert "effective sample size" in warnings and "mean importance weight" in warnings
    assert not estimates["WIS"].trusted
    report = support_check(table_policy(approve_all, mdp), narrow)
    assert not report.passed and report.off_support > 0.3
    assert support_check(table_policy(reviewer_habit(mdp), mdp), narrow).passed


def test_estimated_propensities_are_flagged():
    scenario = get_scenario("fraud-unlogged-propensities")
    data = scenario.logs(300, seed=6)
    estimates = evaluate_policy(table_policy(reviewer_habit(scenario.mdp), scenario.mdp), data, gamma=0.9,
                                estimators=("WIS",), n_boot=50)
    assert estimates["WIS"].propensities == "estimated"
    assert any("estimated by a behaviour model" in w for w in estimates["WIS"].warnings)


def test_continuous_support_check_flags_actions_far_from_the_logged_ones():
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (2000, 2)).astype(np.float32)
    actions = np.clip(0.5 * obs[:, :1] + 0.05 * rng.standard_normal((2000, 1)), -1, 1).astype(np.float32)
    data = LoggedDataset(observations=obs, actions=actions, rewards=np.zeros(2000, np.float32),
                         terminations=np.ones(2000, bool), truncations=np.zeros(2000, bool),
                         episode_starts=np.arange(2000), action_space=ActionSpace.continuous([-1.0], [1.0]))
    assert support_check(lambda o: 0.5 * o[:, :1], data).passed
    report = support_check(lambda o: np.where(o[:, :1] > 0, 0.5 * o[:, :1] - 0.6, 0.5 * o[:, :1]), data)
    assert not report.passed
    assert 0.3 < report.off_support < 0.7  # only the half with s0 > 0 leaves the data


def test_ope_quality_metrics_by_hand():
    truths = [1.0, 2.0, 3.0, 4.0]
    assert spearman([10, 20, 30, 40], truths) == pytest.approx(1.0)
    assert spearman([40, 30, 20, 10], truths) == pytest.approx(-1.0)
    assert regret_at_k([5, 1, 1, 1], truths, k=1) == pytest.approx((4 - 1) / 4)  # picks the worst
    assert regret_at_k([5, 1, 1, 6], truths, k=2) == 0.0
    assert normalized_absolute_error([1.0, 2.0, 3.0, 7.0], truths) == pytest.approx(3.0 / 4 / 3.0)
    assert coverage([[0, 2], [2.5, 3], [2, 4], [0, 1]], truths) == 0.5


def test_value_bounds_closed_form():
    from tether.ope.fqe import value_bounds

    low, high = value_bounds(np.array([-1.0, 0.5, 2.0]), horizon=3, gamma=0.5)
    assert (low, high) == (pytest.approx(-1.75), pytest.approx(3.5))  # (1 + .5 + .25) * r
    assert value_bounds(np.array([0.2, 1.0]), horizon=10, gamma=1.0) == (0.2, 10.0)


def test_fqe_is_equivariant_to_the_reward_scale():
    # with normalised rewards the heads see the same numbers whatever the unit: rewards x 1000 give
    # estimates, intervals and Bellman errors x 1000 (x 1000^2), trained from the same seed
    import dataclasses

    from tether.ope.fqe import value_scale

    assert value_scale(np.array([-1.0, 3.0]), horizon=5, gamma=0.9) == pytest.approx(2.0 * 5)  # mean|r| x T
    assert value_scale(np.array([-1.0, 3.0]), horizon=500, gamma=0.9) == pytest.approx(2.0 * 10)  # x 1/(1-gamma)
    data = get_scenario("fraud").logs(n_episodes=200, seed=0)
    scaled = dataclasses.replace(data, rewards=data.rewards * 1000.0)
    policy = behavior_policy_of(data)
    config = FQEConfig(gamma=0.9, hidden_dims=(32, 32), n_heads=3)
    base, big = (FQE(policy, config, n_actions=data.action_space.n) for _ in range(2))
    base.fit(data, n_steps=400, n_steps_per_epoch=200)
    big.fit(scaled, n_steps=400, n_steps_per_epoch=200)
    small, large = base.estimate(), big.estimate()
    assert large.value == pytest.approx(1000 * small.value, rel=1e-4)
    assert np.allclose(large.interval, np.multiply(1000, small.interval), rtol=1e-4)
    assert large.train_bellman_error == pytest.approx(1e6 * small.train_bellman_error, rel=1e-3)
    assert large.converged == small.converged


def test_fqe_convergence_reads_the_trend_not_the_last_jitter():
    from tether.ope.fqe import trace_drift

    # a steady climb of 1 per epoch: the last half (5 points) spans 4 epochs, so it moved by 4
    assert trace_drift(list(range(10))) == pytest.approx(4.0)
    # converged but jittering by +-1: the last difference says 2, the trend says 0
    zigzag = [100.0 + (-1) ** i for i in range(10)]
    assert abs(zigzag[-1] - zigzag[-2]) == pytest.approx(2.0)
    assert trace_drift(zigzag) == pytest.approx(0.0, abs=1e-9)
    # a climb hidden under jitter still shows: slope 0.5 per epoch plus +-1
    assert trace_drift([0.5 * i + (-1) ** i for i in range(10)]) == pytest.approx(4 * 0.5)
    # short traces: the last change, or nothing to judge by
    assert trace_drift([1.0, 3.0]) == pytest.approx(2.0)
    assert np.isnan(trace_drift([1.0]))


def test_fqe_extrapolating_off_the_data_is_held_at_the_value_bound_and_flagged():
    # logged actions stay in [-0.1, 0.1] and pay r = a; the candidate always pushes a = 1, where the
    # critic can only extrapolate, and bootstrapping on its own extrapolation makes FQE run away
    rng = np.random.default_rng(0)
    n_episodes, length = 100, 50
    obs = rng.uniform(-1, 1, (n_episodes * length, 2)).astype(np.float32)
    actions = rng.uniform(-0.1, 0.1, (n_episodes * length, 1)).astype(np.float32)
    data = LoggedDataset(observations=obs, actions=actions, rewards=actions[:, 0].copy(),
                         terminations=np.zeros(len(obs), bool),
                         truncations=np.tile(np.arange(length) == length - 1, n_episodes),
                         episode_starts=np.arange(0, len(obs), length),
                         action_space=ActionSpace.continuous([-1.0], [1.0]),
                         next_observations=np.roll(obs, -1, 0))
    config = FQEConfig(gamma=0.99, hidden_dims=(64, 64), n_heads=3, learning_rate=3e-3, target_update_interval=5)
    estimates = evaluate_policy(lambda o: np.ones((len(o), 1), np.float32), data, gamma=0.99, estimators=("FQE",),
                                fqe_config=config, fqe_steps=3000)
    low, high = value_bounds_of(data)
    fqe = estimates["FQE"]
    assert low - 1e-3 <= fqe.value <= high + 1e-3
    assert fqe.diagnostics["at_bound"] == 1.0 and not fqe.trusted
    assert any("extrapolating" in w for w in fqe.warnings)


def value_bounds_of(data):
    from tether.ope.fqe import value_bounds

    return value_bounds(data.rewards, int(data.episode_lengths.max()), 0.99)


def test_estimators_recover_the_behaviour_value_on_a_mujoco_log():
    # hopper-medium logged by the zoo's medium policy; that same policy, as a candidate, must be valued
    # at what the log shows (its discounted episode return, gamma 0.9)
    from tether.datasets import get_dataset
    from tether.ope import as_policy
    from tether.zoo.registry import task_zoo

    data, _ = get_dataset("hopper-medium-v5", size=20_000, create_env=False)
    behaviour = as_policy(task_zoo("hopper").policy("medium"), name="medium")
    assert behaviour.has_density and not behaviour.deterministic
    estimates = evaluate_policy(behaviour, data, gamma=0.9, fqe_steps=3000, n_boot=200,
                                fqe_config=FQEConfig(gamma=0.9, hidden_dims=(64, 64), n_heads=5))
    logged = data.episode_returns(0.9).mean()
    for name, est in estimates.items():
        tolerance = 0.03 * abs(logged)  # the log's own mean is an estimate of the truth too
        assert est.interval[0] - tolerance <= logged <= est.interval[1] + tolerance, (name, est.value, est.interval,
                                                                                      logged)
    for name in ("IS", "WIS", "PDIS", "WPDIS"):  # the candidate's densities reproduce the logged propensities
        assert estimates[name].diagnostics["mean_weight"] == pytest.approx(1.0, abs=0.05)


def test_fqe_resumes_after_a_kill_to_the_same_estimate(tmp_path):
    from tether.errors import ModelFileError

    scenario = get_scenario("fraud")
    data = scenario.logs(200, seed=2)
    policy = table_policy(reviewer_habit(scenario.mdp), scenario.mdp)
    config = FQEConfig(gamma=0.9, hidden_dims=(32,), n_heads=3, target_update_interval=50)
    whole = FQE(policy, config)
    whole.fit(data, n_steps=800, n_steps_per_epoch=200)

    class Killed(Exception):
        pass

    def kill_after_two_epochs(epoch: int, steps: int) -> None:
        if epoch == 2:
            raise Killed  # the process dies after the second epoch's checkpoint is on disk

    with pytest.raises(Killed):
        FQE(policy, config).fit(data, n_steps=800, n_steps_per_epoch=200, run_dir=tmp_path,
                                epoch_callback=kill_after_two_epochs)
    resumed = FQE(policy, config)
    resumed.fit(data, n_steps=800, n_steps_per_epoch=200, run_dir=tmp_path, resume=True)
    assert resumed.history == whole.history and resumed.estimate().value == whole.estimate().value
    other = FQE(table_policy(behavior_policy(scenario.mdp), scenario.mdp), config)
    with pytest.raises(ModelFileError, match="another policy"):
        other.fit(data, n_steps=800, n_steps_per_epoch=200, run_dir=tmp_path, resume=True)


def test_a_logged_behaviour_distribution_serves_as_the_propensities():
    from dataclasses import replace

    data, *_ = bandit(800, seed=3)
    without = replace(data, behavior_log_probs=None)  # only action_probs, the behaviour's full distribution
    always_last = lambda obs, masks: np.full(len(obs), 2)  # noqa: E731
    with_logged = evaluate_policy(always_last, data, gamma=1.0, estimators=("IS", "WIS"))
    from_distribution = evaluate_policy(always_last, without, gamma=1.0, estimators=("IS", "WIS"))
    for name in ("IS", "WIS"):
        assert from_distribution[name].propensities == "logged"
        assert from_distribution[name].value == pytest.approx(with_logged[name].value, rel=1e-6)  # float32 probs


def test_a_fitted_behaviour_model_stays_calibrated_on_a_small_log():
    """Without propensities, an 800-row bandit log: the model stops early and is calibrated, so no held-out
    propensity collapses and importance sampling stays near the truth (a 3,000-step fit without early
    stopping or calibration overfits such a log)."""
    from dataclasses import replace

    from tether.ope.behavior import fit_behavior_model

    data, s, a, r, probs = bandit(800, seed=3)
    bare = replace(data, behavior_log_probs=None, action_probs=None)
    model = fit_behavior_model(bare, seed=0)
    held = model.heldout_rows
    estimated = np.exp(model.log_prob(bare.observations[held], bare.actions[held]))
    assert estimated.min() > 0.02 and model.heldout_nll <= model.baseline_nll + 0.02
    truth = float(np.mean(1.0 - s))  # always action 2: reward 1 - s
    estimate = evaluate_policy(lambda obs, masks: np.full(len(obs), 2), bare, gamma=1.0, estimators=("WIS",))["WIS"]
    assert estimate.propensities == "estimated" and abs(estimate.value - truth) < 0.15, (estimate.value, truth)
    worse = replace(model, heldout_nll=model.baseline_nll + 0.5)  # as a model that does worse than ignoring s
    flagged = evaluate_policy(lambda obs, masks: np.full(len(obs), 2), bare, gamma=1.0, estimators=("WIS",),
                              behavior=(worse.log_prob(bare.observations, bare.actions), "estimated", worse))["WIS"]
    assert not flagged.trusted and any("worse than a state-blind one" in w for w in flagged.warnings)
