"""A script written for d3rlpy 2.x runs on tether with its import changed, and means the same."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import tether.d3rlpy as d3rlpy
from tether.algos import BCQConfig, CQLConfig, IQLConfig, TD3PlusBCConfig
from tether.algos.engine import fit_scaling

RNG = np.random.default_rng(0)
N = 300
OBSERVATIONS = RNG.normal(size=(N, 4)).astype(np.float32)
ACTIONS = np.tanh(OBSERVATIONS[:, :2] + 0.1 * RNG.normal(size=(N, 2))).astype(np.float32)
REWARDS = RNG.normal(size=N).astype(np.float32)
TERMINALS = np.zeros(N, bool)
TERMINALS[99] = True
TIMEOUTS = np.zeros(N, bool)
TIMEOUTS[[199, 299]] = True

# The body of a d3rlpy 2.x script, as its users write them; only the first line differs.
SCRIPT = textwrap.dedent("""
    import tether.d3rlpy as d3rlpy

    d3rlpy.seed(3)
    dataset = d3rlpy.dataset.MDPDataset(observations, actions, rewards, terminals, timeouts=timeouts)
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=[16, 16])
    td3 = d3rlpy.algos.TD3PlusBCConfig(
        actor_encoder_factory=encoder,
        critic_encoder_factory=encoder,
        batch_size=32,
        observation_scaler=d3rlpy.preprocessing.StandardObservationScaler(),
        compile_graph=True,
    ).create(device="cpu:0")
    epochs = []
    history = td3.fit(
        dataset,
        n_steps=40,
        n_steps_per_epoch=20,
        experiment_name="td3_port",
        with_timestamp=False,
        save_interval=1,
        evaluators={"td_error": d3rlpy.metrics.TDErrorEvaluator(),
                    "action_diff": d3rlpy.metrics.ContinuousActionDiffEvaluator()},
        show_progress=False,
        epoch_callback=lambda algo, epoch, total_step: epochs.append((epoch, total_step)),
    )
    actions_now = td3.predict(observations[:5])
    td3.save("td3.d3")
    restored = d3rlpy.load_learnable("td3.d3")
    td3.save_model("td3.pt")
    rebuilt = d3rlpy.algos.TD3PlusBCConfig(
        actor_encoder_factory=encoder,
        critic_encoder_factory=encoder,
        batch_size=32,
        observation_scaler=d3rlpy.preprocessing.StandardObservationScaler(),
    ).create(device="cpu:0")
    rebuilt.build_with_dataset(dataset)
    rebuilt.load_model("td3.pt")
    td3.save_policy("policy.onnx")
""")


def test_a_d3rlpy_script_runs_with_its_import_changed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"observations": OBSERVATIONS, "actions": ACTIONS, "rewards": REWARDS, "terminals": TERMINALS,
                 "timeouts": TIMEOUTS}
    exec(SCRIPT, namespace)  # noqa: S102 - the test's own script text
    history, epochs = namespace["history"], namespace["epochs"]
    assert [epoch for epoch, _ in history] == [1, 2] and epochs == [(1, 20), (2, 40)]
    assert np.isfinite(history[-1][1]["td_error"]) and history[-1][1]["action_diff"] >= 0
    run_dir = tmp_path / "d3rlpy_logs" / "td3_port"  # where d3rlpy writes, named as d3rlpy names it
    assert sorted(p.name for p in run_dir.glob("model_*.d3")) == ["model_20.d3", "model_40.d3"]
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
    config = json.loads((run_dir / "config.json").read_text())["params"]
    assert config["hidden_dims"] == [16, 16] and config["batch_size"] == 32
    assert config["observation_scaler"] == "standard"
    np.testing.assert_array_equal(namespace["restored"].predict(OBSERVATIONS[:5]), namespace["actions_now"])
    np.testing.assert_array_equal(namespace["rebuilt"].predict(OBSERVATIONS[:5]), namespace["actions_now"])
    ort = pytest.importorskip("onnxruntime")
    exported = ort.InferenceSession("policy.onnx").run(None, {"observations": OBSERVATIONS[:5]})[0]
    np.testing.assert_allclose(exported, namespace["actions_now"], rtol=1e-5, atol=1e-6)
    # d3rlpy.seed(3) sets the training seed: the same script with seed 3 given to tether directly agrees
    direct = TD3PlusBCConfig(hidden_dims=(16, 16), batch_size=32).create(device="cpu")
    direct.fit(namespace["dataset"], n_steps=40, n_steps_per_epoch=20, seeds=[3], show_progress=False)
    np.testing.assert_allclose(direct.predict(OBSERVATIONS[:5]), namespace["actions_now"], rtol=1e-5, atol=1e-6)


def test_mdp_dataset_cuts_episodes_at_terminals_and_timeouts():
    dataset = d3rlpy.dataset.MDPDataset(OBSERVATIONS, ACTIONS, REWARDS, TERMINALS, timeouts=TIMEOUTS)
    assert dataset.episode_starts.tolist() == [0, 100, 200]
    assert dataset.terminations[99] and not dataset.truncations[99]
    assert dataset.truncations[199] and dataset.truncations[299] and dataset.terminations.sum() == 1
    np.testing.assert_array_equal(dataset.action_space.low, [-1, -1])  # all actions lie in [-1, 1]
    wide = d3rlpy.dataset.MDPDataset(OBSERVATIONS, 3 * ACTIONS, REWARDS, TERMINALS, timeouts=TIMEOUTS)
    np.testing.assert_allclose(wide.action_space.high, (3 * ACTIONS).max(axis=0))
    discrete = d3rlpy.dataset.MDPDataset(OBSERVATIONS, RNG.integers(0, 3, N), REWARDS, TERMINALS, timeouts=TIMEOUTS)
    assert discrete.action_space.is_discrete and discrete.action_space.n == 3


def test_d3rlpy_defaults_carry_over_where_tether_differs():
    iql = d3rlpy.algos.IQLConfig().config
    assert iql.observation_scaler is None and iql.reward_scaler is None  # d3rlpy scales nothing by default
    assert IQLConfig().reward_scaler == "return_range" and IQLConfig().observation_scaler == "standard"
    bcq = d3rlpy.algos.BCQConfig(n_action_samples=20).config
    assert bcq.vae_hidden_dims == (256, 256) and bcq.n_target_samples == 20  # d3rlpy's imitator and target
    assert (bcq.vae_decoder_tanh, bcq.network_init) == (False, "torch")
    assert BCQConfig().vae_hidden_dims == (750, 750) and BCQConfig().n_target_samples == 10


def test_scalers_translate_to_the_same_reward_scale():
    dataset = d3rlpy.dataset.MDPDataset(OBSERVATIONS, ACTIONS, REWARDS, TERMINALS, timeouts=TIMEOUTS)
    returns = dataset.episode_returns()
    based = d3rlpy.algos.CQLConfig(reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=10.0))
    expected = 10.0 / (returns.max() - returns.min())  # d3rlpy: reward * multiplier / (max - min)
    assert fit_scaling(dataset, based.config).reward_scale == pytest.approx(expected, rel=1e-5)
    fixed = d3rlpy.preprocessing.ReturnBasedRewardScaler(return_max=30.0, return_min=10.0, multiplier=2.0)
    assert fit_scaling(dataset, d3rlpy.algos.CQLConfig(reward_scaler=fixed).config).reward_scale == 0.1
    multiply = d3rlpy.algos.BCConfig(reward_scaler=d3rlpy.preprocessing.MultiplyRewardScaler(5.0))
    assert fit_scaling(dataset, multiply.config).reward_scale == 5.0


def test_rebrac_as_d3rlpys_reproduction_builds_it():
    wide = d3rlpy.models.VectorEncoderFactory(hidden_units=[256, 256, 256])
    config = d3rlpy.algos.ReBRACConfig(actor_encoder_factory=wide, critic_beta=0.1,
                                       critic_encoder_factory=d3rlpy.models.VectorEncoderFactory(
                                           hidden_units=[256, 256, 256], use_layer_norm=True)).config
    assert (config.hidden_dims, config.critic_layer_norm, config.actor_layer_norm) == ((256, 256, 256), True, False)
    assert (config.actor_beta, config.critic_beta, config.batch_size) == (0.001, 0.1, 1024)
    assert (config.observation_scaler, config.network_init) == (None, "torch")
    plain = d3rlpy.algos.ReBRACConfig().config  # d3rlpy's default encoders: 256x256, no LayerNorm
    assert (plain.hidden_dims, plain.critic_layer_norm) == ((256, 256), False)


def test_cql_keeps_d3rlpys_lagrangian_alpha():
    config = d3rlpy.algos.CQLConfig(alpha_threshold=5.0, initial_alpha=2.0).config
    assert isinstance(config, CQLConfig) and config.alpha_learning_rate == 1e-4  # d3rlpy's default
    assert (config.alpha_threshold, config.initial_alpha, config.conservative_weight) == (5.0, 2.0, 5.0)
    assert CQLConfig().alpha_learning_rate == 1e-4  # tether's own default is d3rlpy's


def test_cql_backs_up_what_d3rlpy_backs_up():
    assert d3rlpy.algos.CQLConfig().config.backup == "mean"  # d3rlpy: soft_q_backup=False, the mean action
    assert d3rlpy.algos.CQLConfig(soft_q_backup=True).config.backup == "soft"


@pytest.mark.parametrize(("call", "names"), [
    (lambda: d3rlpy.algos.CQLConfig(actor_encoder_factory=d3rlpy.models.VectorEncoderFactory([64, 64]),
                                    critic_encoder_factory=d3rlpy.models.VectorEncoderFactory([32, 32])),
     "critic_encoder_factory"),
    (lambda: d3rlpy.algos.BCConfig(encoder_factory=d3rlpy.models.VectorEncoderFactory(activation="swish")),
     "encoder_factory.activation"),
    (lambda: d3rlpy.algos.TD3PlusBCConfig(q_func_factory="qr"), "q_func_factory"),
    (lambda: d3rlpy.algos.CQLConfig(max_q_backup=True), "max_q_backup"),
    (lambda: d3rlpy.algos.BCQConfig(rl_start_step=10), "rl_start_step"),
])
def test_what_tether_cannot_do_is_refused_by_name(call, names):
    with pytest.raises((TypeError, ValueError), match=names):
        call()


def test_a_per_step_callback_is_refused_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dataset = d3rlpy.dataset.MDPDataset(OBSERVATIONS, ACTIONS, REWARDS, TERMINALS, timeouts=TIMEOUTS)
    learner = d3rlpy.algos.BCConfig(encoder_factory=d3rlpy.models.VectorEncoderFactory([8])).create()
    with pytest.raises(TypeError, match="epoch_callback"):
        learner.fit(dataset, n_steps=4, callback=lambda algo, epoch, step: None,
                    logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    learner.fit(dataset, n_steps=4, n_steps_per_epoch=2, show_progress=False,
                logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    assert not (tmp_path / "d3rlpy_logs").exists() and len(learner.history) == 2


def test_end_flags_of_unequal_length_are_refused_by_name():
    from tether.data import DatasetError

    with pytest.raises(DatasetError, match="terminations/truncations"):
        d3rlpy.dataset.MDPDataset(OBSERVATIONS, ACTIONS, REWARDS, TERMINALS, timeouts=TIMEOUTS[:-1])


def test_load_model_needs_a_built_learner_of_the_same_kind(tmp_path):
    dataset = d3rlpy.dataset.MDPDataset(OBSERVATIONS, ACTIONS, REWARDS, TERMINALS, timeouts=TIMEOUTS)
    encoder = d3rlpy.models.VectorEncoderFactory([8])
    bc = d3rlpy.algos.BCConfig(encoder_factory=encoder).create()
    bc.fit(dataset, n_steps=4, show_progress=False, logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    bc.save_model(tmp_path / "bc.pt")
    fresh = d3rlpy.algos.BCConfig(encoder_factory=encoder).create()
    with pytest.raises(RuntimeError, match=r"build_with_dataset\(dataset\) first"):
        fresh.load_model(tmp_path / "bc.pt")
    other = d3rlpy.algos.TD3PlusBCConfig(actor_encoder_factory=encoder, critic_encoder_factory=encoder).create()
    other.build_with_dataset(dataset)
    with pytest.raises(ValueError, match="holds a bc .* this learner is a td3_plus_bc"):
        other.load_model(tmp_path / "bc.pt")
