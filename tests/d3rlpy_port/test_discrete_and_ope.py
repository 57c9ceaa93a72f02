"""d3rlpy scripts with discrete actions and FQE run on tether with their imports changed, and mean the same."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import tether.d3rlpy as d3rlpy
from tether.algos import DiscreteBCQConfig, DiscreteCQLConfig

# A logged bandit: 4 contexts (one-hot), 3 actions, every step its own episode. The behaviour policy picks
# uniformly; the reward of action a in context c is REWARD[c, a] plus noise.
REWARD = np.array([[1.0, 0.0, 0.2], [0.0, 1.0, 0.2], [0.3, 0.0, 1.0], [0.0, 0.5, 0.0]])
RNG = np.random.default_rng(0)
N = 3000
CONTEXTS = RNG.integers(0, 4, N)
OBSERVATIONS = np.eye(4, dtype=np.float32)[CONTEXTS]
ACTIONS = RNG.integers(0, 3, N)
REWARDS = (REWARD[CONTEXTS, ACTIONS] + 0.1 * RNG.normal(size=N)).astype(np.float32)
TERMINALS = np.ones(N, bool)

SCRIPT = textwrap.dedent("""
    import tether.d3rlpy as d3rlpy

    d3rlpy.seed(1)
    dataset = d3rlpy.dataset.MDPDataset(observations, actions, rewards, terminals,
                                        action_space=d3rlpy.ActionSpace.DISCRETE, action_size=3)
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=[32, 32])
    cql = d3rlpy.algos.DiscreteCQLConfig(encoder_factory=encoder, batch_size=64, learning_rate=1e-3,
                                         target_update_interval=100, alpha=0.1).create(device="cpu:0")
    cql.fit(dataset, n_steps=1000, n_steps_per_epoch=500, experiment_name="cql", with_timestamp=False,
            evaluators={"match": d3rlpy.metrics.DiscreteActionMatchEvaluator()}, show_progress=False)
    fqe = d3rlpy.ope.DiscreteFQE(algo=cql, config=d3rlpy.ope.FQEConfig(encoder_factory=encoder,
                                                                       learning_rate=1e-3))
    history = fqe.fit(dataset, n_steps=1500, n_steps_per_epoch=500, experiment_name="fqe", with_timestamp=False,
                      evaluators={"init_value": d3rlpy.metrics.InitialStateValueEstimationEvaluator(),
                                  "soft_opc": d3rlpy.metrics.SoftOPCEvaluator(return_threshold=0.8),
                                  "advantage": d3rlpy.metrics.DiscountedSumOfAdvantageEvaluator()},
                      show_progress=False)
""")


def test_a_discrete_cql_and_fqe_script_runs_and_fqe_finds_the_true_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"observations": OBSERVATIONS, "actions": ACTIONS, "rewards": REWARDS, "terminals": TERMINALS}
    exec(SCRIPT, namespace)  # noqa: S102 - the test's own script text
    cql, history = namespace["cql"], namespace["history"]
    chosen = cql.predict(np.eye(4, dtype=np.float32))
    np.testing.assert_array_equal(chosen, REWARD.argmax(1))  # the best action of every context
    true_value = np.mean(REWARD[CONTEXTS, chosen[CONTEXTS]])  # one-step episodes: the value is the reward
    assert [epoch for epoch, _ in history] == [1, 2, 3]
    init_value = history[-1][1]["init_value"]
    assert init_value == pytest.approx(true_value, abs=0.05), (init_value, true_value)
    # soft OPC: mean Q(s, a) on successful episodes (reward >= 0.8) minus the mean over all, here in closed form
    logged = REWARD[CONTEXTS, ACTIONS]
    success = REWARDS >= 0.8
    assert history[-1][1]["soft_opc"] == pytest.approx(logged[success].mean() - logged.mean(), abs=0.05)
    # one-step episodes: the discounted sum of advantages is Q(s, a) - Q(s, pi(s))
    advantage = np.mean(logged - REWARD[CONTEXTS, chosen[CONTEXTS]])
    assert history[-1][1]["advantage"] == pytest.approx(advantage, abs=0.05)
    lines = (tmp_path / "d3rlpy_logs" / "fqe" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert json.loads((tmp_path / "d3rlpy_logs" / "fqe" / "config.json").read_text())["learning_rate"] == 1e-3


def test_discrete_configs_take_d3rlpys_defaults():
    cql = d3rlpy.algos.DiscreteCQLConfig().config
    assert isinstance(cql, DiscreteCQLConfig)
    assert (cql.learning_rate, cql.batch_size, cql.target_update_interval, cql.alpha) == (6.25e-5, 32, 8000, 1.0)
    assert cql.observation_scaler is None
    bcq = d3rlpy.algos.DiscreteBCQConfig(action_flexibility=0.5).config
    assert isinstance(bcq, DiscreteBCQConfig) and bcq.share_encoder and bcq.beta == 0.5
    assert (bcq.learning_rate, bcq.batch_size, bcq.target_update_interval, bcq.action_flexibility) == (
        6.25e-5, 32, 8000, 0.5)
    assert not DiscreteBCQConfig().share_encoder  # tether's own default keeps two networks
    bc = d3rlpy.algos.DiscreteBCConfig().config
    assert (bc.beta, bc.learning_rate, bc.batch_size) == (0.5, 1e-3, 100)
    fqe = d3rlpy.ope.FQEConfig()
    assert (fqe.learning_rate, fqe.batch_size, fqe.target_update_interval, fqe.n_heads) == (1e-4, 100, 100, 1)
    assert not (fqe.bootstrap or fqe.time_feature or fqe.normalize_rewards) and fqe.holdout_fraction == 0.0


@pytest.mark.parametrize(("call", "names"), [
    (lambda: d3rlpy.algos.DiscreteCQLConfig(n_critics=2), "n_critics"),
    (lambda: d3rlpy.ope.FQEConfig(n_critics=2), "n_critics"),
    (lambda: d3rlpy.ope.FQEConfig(reward_scaler=d3rlpy.preprocessing.MultiplyRewardScaler(2.0)), "reward_scaler"),
    (lambda: d3rlpy.ope.FQEConfig(q_func_factory="qr"), "q_func_factory"),
])
def test_what_tether_cannot_do_is_refused_by_name(call, names):
    with pytest.raises((TypeError, ValueError), match=names):
        call()


def test_discrete_bcq_with_d3rlpys_shared_encoder_learns_the_bandit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dataset = d3rlpy.dataset.MDPDataset(OBSERVATIONS, ACTIONS, REWARDS, TERMINALS)
    bcq = d3rlpy.algos.DiscreteBCQConfig(encoder_factory=d3rlpy.models.VectorEncoderFactory([32, 32]),
                                         batch_size=64, learning_rate=1e-3, target_update_interval=100,
                                         beta=0.01).create()
    bcq.fit(dataset, n_steps=1000, show_progress=False, logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    assert sorted(bcq.state.nets.params) == ["encoder", "imitator_head", "q_head"]
    np.testing.assert_array_equal(bcq.predict(np.eye(4, dtype=np.float32)), REWARD.argmax(1))


def test_fqe_before_fit_says_what_to_do():
    fqe = d3rlpy.ope.FQE(algo=None, config=d3rlpy.ope.FQEConfig())
    with pytest.raises(RuntimeError, match="fit"):
        fqe.predict_value(OBSERVATIONS[:2], ACTIONS[:2])
