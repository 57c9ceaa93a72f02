"""The zoo's build rules, its manifest, and the NumPy policy's log-probabilities."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

from tether.nets import TanhGaussianActor, tanh_gaussian_log_prob
from tether.zoo.policy import ZooPolicy
from tether.zoo.registry import task_zoo


def test_build_selects_medium_and_expert_by_rule(with_fake_zoo):
    manifest = json.loads((with_fake_zoo / "manifest.json").read_text())
    entry = manifest["tasks"]["hopper"]
    assert entry["expert"]["step"] == 4000  # best evaluation
    assert entry["medium"]["step"] == 2000  # first reaching 1/2 of 200
    assert [s["step"] for s in entry["snapshots"]] == [1000, 2000, 4000]  # up to medium, plus expert
    assert entry["ref_min_score"] == entry["random"]["return_mean"]
    assert entry["ref_max_score"] == entry["expert"]["stochastic"]["return_mean"]
    assert "python -m tether.zoo.train hopper --steps 4000 --warmup-steps 500" in entry["training"]["command"]


def test_selection_rule_on_known_returns():
    from tether.zoo.build import select

    returns = {10: 5.0, 20: 40.0, 30: 35.0, 40: 100.0, 50: 90.0}
    assert select(returns, 1 / 3) == (20, 40)
    assert select(returns, 1 / 2) == (40, 40)  # nothing before the expert reaches half of it
    assert select({10: 50.0, 20: 50.0}, 0.5) == (10, 20)  # ties: the latest best is the expert


def test_replay_schedule_follows_training_proportions(with_fake_zoo):
    # warm-up: 500 random steps; snapshot 1000 stands for [500, 1000), snapshot 2000 (medium) for [1000, 2000)
    schedule = task_zoo("hopper").replay_schedule()
    assert [name for name, _ in schedule] == ["random", "step_1000", "step_2000"]
    np.testing.assert_allclose([share for _, share in schedule], [0.25, 0.25, 0.5])


def test_numpy_policy_matches_flax_actor_and_log_prob():
    net = TanhGaussianActor((8, 8), 2)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))["params"]
    policy = ZooPolicy.from_flax_params(jax.device_get(params))
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    mean, log_std = net.apply({"params": params}, obs)
    np.testing.assert_allclose(policy.distribution(obs)[0], mean, atol=1e-5)
    actions, log_probs = policy.sample(obs, np.random.default_rng(1))
    pre_tanh = np.arctanh(np.clip(actions, -1 + 1e-6, 1 - 1e-6))
    np.testing.assert_allclose(log_probs, tanh_gaussian_log_prob(pre_tanh, mean, log_std), rtol=1e-3, atol=1e-3)
    # closed form for one dimension: N(u; m, s) / (1 - tanh(u)^2)
    m, s, u = 0.3, 0.5, 0.7
    expected = -0.5 * ((u - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi) - np.log(1 - np.tanh(u) ** 2)
    got = ZooPolicy.log_prob_pre_tanh(np.array([[u]]), np.array([[m]]), np.log(np.array([[s]])))
    np.testing.assert_allclose(got, [expected], rtol=1e-9)


def test_policy_file_round_trip_is_float16_and_never_pickled(tmp_path):
    net = TanhGaussianActor((8,), 3)
    policy = ZooPolicy.from_flax_params(jax.device_get(net.init(jax.random.PRNGKey(1), jnp.zeros((1, 5)))["params"]))
    policy.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as data:
        assert all(data[k].dtype == np.float16 for k in data.files)
    loaded = ZooPolicy.load(tmp_path / "p.npz")
    obs = np.ones((2, 5), np.float32)
    np.testing.assert_allclose(loaded.deterministic(obs), policy.deterministic(obs), atol=5e-3)
