"""Engine invariants: scan equals single steps, multi-seed equals single-seed, resume equals an
uninterrupted run, save/load is exact, divergence stops cleanly; and one contract test per algorithm."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest

from tests.conftest import make_dataset
from tether.algos import LearnerConfig, TrainingDivergedError, get_algo, load_learner, registered_algos
from tether.algos.bc import BCConfig
from tether.algos.bcq import BCQConfig
from tether.algos.cql import CQLConfig
from tether.algos.dagger import DAggerConfig, DiscreteDAggerConfig
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.algos.discrete_bcq import DiscreteBCQConfig
from tether.algos.discrete_cql import DiscreteCQLConfig
from tether.algos.edac import EDACConfig
from tether.algos.engine import dataset_spec, device_data, fit_scaling, scan_updates, update_hlo
from tether.algos.iql import IQLConfig
from tether.algos.mopo import MOPOConfig
from tether.algos.morel import MOReLConfig
from tether.algos.rebrac import ReBRACConfig
from tether.algos.registry import config_from_json
from tether.algos.sac_n import SACNConfig
from tether.algos.td3_plus_bc import TD3PlusBCConfig

SMALL = {"hidden_dims": (32, 32), "batch_size": 32}
SMALL_MODEL = {"model_members": 3, "model_elites": 2, "model_hidden_dims": (16, 16), "model_max_steps": 20,
               "model_steps_per_check": 10, "rollout_batch_size": 8, "rollout_horizon": 2, "model_buffer_size": 200}
CONFIGS = {
    "bc": BCConfig(**SMALL),
    "td3_plus_bc": TD3PlusBCConfig(**SMALL),
    "iql": IQLConfig(**SMALL),
    "cql": CQLConfig(**SMALL, n_action_samples=4),
    "bcq": BCQConfig(**SMALL, vae_hidden_dims=(32, 32), n_action_samples=8),
    "rebrac": ReBRACConfig(**SMALL),
    "sac_n": SACNConfig(**SMALL, n_critics=3),
    "edac": EDACConfig(**SMALL, n_critics=3),
    "mopo": MOPOConfig(**SMALL, **SMALL_MODEL),
    "morel": MOReLConfig(**SMALL, **SMALL_MODEL),
    "discrete_bc": DiscreteBCConfig(**SMALL),
    "discrete_cql": DiscreteCQLConfig(**SMALL),
    "discrete_bcq": DiscreteBCQConfig(**SMALL),
    "dagger": DAggerConfig(**SMALL, rounds=2, label_budget=500),  # its engine part: BC on a log
    "discrete_dagger": DiscreteDAggerConfig(**SMALL, query="uncertain", ensemble_size=2),
}
DATA = make_dataset(tuple([20] * 15), obs_dim=4, action_dim=2, seed=5)
DISCRETE_DATA = make_dataset(tuple([20] * 15), obs_dim=4, discrete_n=3, seed=5)


def test_every_registered_algorithm_has_a_contract_config():
    assert set(registered_algos()) == set(CONFIGS)


@pytest.mark.parametrize("name", registered_algos())
def test_contract_fit_predict_value_save_load_export_resume(tmp_path, name):
    """Every registered algorithm: fits, predicts consistently, saves and loads exactly, exports to ONNX
    where its registry entry says so (and is refused by name where not), and resumes to the same weights."""
    config, spec = CONFIGS[name], get_algo(name)
    assert config_from_json(config.to_json()) == config and config.algorithm() is spec
    learner = config.create(device="cpu")
    data = DISCRETE_DATA if spec.action_space == "discrete" else DATA
    history = learner.fit(data, n_steps=60, n_steps_per_epoch=30, show_progress=False, run_dir=tmp_path / "full")
    assert [epoch for epoch, _ in history] == [1, 2] and history[-1][1]["step"] == 60
    obs = data.observations[:5]
    actions = learner.predict(obs)
    # greedy actions are a function of the state: not of its place in the batch, nor of its companions
    np.testing.assert_allclose(learner.predict(obs[::-1])[::-1], actions, atol=1e-5)
    np.testing.assert_allclose(learner.predict(obs[2:3]), actions[2:3], atol=1e-5)
    if spec.action_space == "discrete":
        assert actions.shape == (5,) and set(actions.tolist()) <= {0, 1, 2}
        assert learner.sample_action(obs, key=jax.random.PRNGKey(3)).shape == (5,)
    else:
        assert actions.shape == (5, 2) and np.all(np.abs(actions) <= 1.0 + 1e-6)
        assert learner.sample_action(obs, key=jax.random.PRNGKey(3)).shape == (5, 2)
    loaded = load_learner(learner.save(tmp_path / "model.tether"))
    np.testing.assert_array_equal(loaded.predict(obs), actions)
    assert loaded.config == config
    if spec.q_value is not None:
        np.testing.assert_array_equal(loaded.predict_value(obs, actions), learner.predict_value(obs, actions))
    else:
        with pytest.raises(NotImplementedError):
            learner.predict_value(obs, actions)

    if spec.exportable:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(learner.save_policy(tmp_path / "policy.onnx")))
        exported = session.run(None, {"observations": obs.astype(np.float32)})[0]
        np.testing.assert_allclose(exported, actions, rtol=1e-5, atol=1e-5)
    else:
        with pytest.raises(ValueError, match=name):
            learner.save_policy(tmp_path / "policy.onnx")

    interrupted = config.create(device="cpu")  # stopped after the first epoch, then resumed to the end
    interrupted.fit(data, n_steps=30, n_steps_per_epoch=30, show_progress=False, run_dir=tmp_path / "cut")
    resumed = config.create(device="cpu")
    resumed.fit(data, n_steps=60, n_steps_per_epoch=30, show_progress=False, run_dir=tmp_path / "cut", resume=True)
    np.testing.assert_array_equal(resumed.predict(obs), actions)


def test_weights_of_another_layout_or_shape_are_refused_with_the_fix(tmp_path):
    from flax import serialization

    learner = CONFIGS["discrete_bcq"].create(device="cpu")
    learner.fit(DISCRETE_DATA, n_steps=2, n_steps_per_epoch=2, show_progress=False)
    payload = learner._payload()
    renamed = {**payload, "state": {**payload["state"], "q": payload["state"]["nets"]}}
    del renamed["state"]["nets"]  # an older layout: two TrainStates where there is now one
    (tmp_path / "old.tether").write_bytes(serialization.msgpack_serialize(renamed))
    with pytest.raises(ValueError, match="discrete_bcq weights do not fit .* train again"):
        load_learner(tmp_path / "old.tether")
    params = payload["state"]["nets"]["params"]["q"]
    first = next(iter(params))
    params[first]["kernel"] = params[first]["kernel"][..., :-1]  # one unit short
    (tmp_path / "narrow.tether").write_bytes(serialization.msgpack_serialize(payload))
    with pytest.raises(ValueError, match=r"kernel.* expected"):
        load_learner(tmp_path / "narrow.tether")


def test_scan_of_n_updates_equals_n_single_updates():
    config = CONFIGS["td3_plus_bc"]
    algo = get_algo("td3_plus_bc")
    scaling = fit_scaling(DATA, config)
    data = device_data(DATA, scaling, jax.devices("cpu")[0])
    state = algo.init(config, dataset_spec(DATA), jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(7), 6)
    scanned, _ = scan_updates(algo, config, state, data, keys, state.step)
    looped = state
    for key in keys:
        index_key, update_key = jax.random.split(key)
        index = jax.random.randint(index_key, (config.batch_size,), 0, data.rewards.shape[0])
        looped, _ = algo.update(looped, jax.tree.map(lambda x, i=index: x[i], data), update_key, config=config)
    for a, b in zip(jax.tree.leaves(scanned), jax.tree.leaves(looped), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(scanned.step) == 6


def test_the_delayed_actor_update_stays_a_branch_under_the_seed_vmap():
    # a cond on a per-seed step becomes a select that runs the actor update on every step
    hlo = update_hlo(CONFIGS["td3_plus_bc"].create(), DATA)
    assert " conditional(" in hlo


@pytest.mark.parametrize("name", ["bc", "td3_plus_bc", "iql", "bcq", "discrete_cql"])
def test_the_compiled_update_transposes_no_weight_gradient_or_activation(name):
    # JAX's own rule for a Dense kernel's gradient ends in a transpose that XLA (CPU, under the seed
    # vmap) folds into Adam's moment updates as strided reads, and a critic ensemble fed one shared
    # input transposed its activations at every layer; tether.nets.matmul and QEnsemble avoid both
    # (a narrow head's gradient is still formed [out, in] and transposed on purpose: cheaper on a CPU)
    data = DISCRETE_DATA if name.startswith("discrete") else DATA
    hlo = update_hlo(CONFIGS[name].create(), data)
    shapes = re.findall(r"= f32\[([\d,]+)\]\{[\d,]+\} transpose\(", hlo)
    transposed = [[int(d) for d in dims.split(",")] for dims in shapes]
    assert " dot(" in hlo and not [dims for dims in transposed if min(dims[-2:]) >= 32]


def test_multi_seed_run_equals_separate_single_seed_runs():
    config = CONFIGS["iql"]
    both = config.create()
    both.fit(DATA, n_steps=40, n_steps_per_epoch=20, seeds=[3, 5], show_progress=False)
    alone = config.create()
    alone.fit(DATA, n_steps=40, n_steps_per_epoch=20, seeds=[5], show_progress=False)
    obs = DATA.observations[:8]
    assert both.predict(obs).shape == (2, 8, 2)
    np.testing.assert_allclose(both.predict(obs)[1], alone.predict(obs), atol=1e-5)
    np.testing.assert_allclose(both.seed_learners()[1].predict(obs), alone.predict(obs), atol=1e-5)
    assert len(both.history[-1][1]["critic_loss/seeds"]) == 2


def full_and_interrupted(config: LearnerConfig, tmp_path, n_steps: int):
    """A learner trained for `n_steps` in `tmp_path/full`, and one stopped halfway in `tmp_path/cut`."""
    full = config.create()
    full.fit(DATA, n_steps=n_steps, n_steps_per_epoch=20, show_progress=False, run_dir=tmp_path / "full")
    config.create().fit(DATA, n_steps=n_steps // 2, n_steps_per_epoch=20, show_progress=False,
                        run_dir=tmp_path / "cut")
    return full


def test_resume_reaches_the_same_result(tmp_path):
    config = CONFIGS["td3_plus_bc"]
    full = full_and_interrupted(config, tmp_path, 80)
    resumed = config.create()
    resumed.fit(DATA, n_steps=80, n_steps_per_epoch=20, show_progress=False, run_dir=tmp_path / "cut", resume=True)
    obs = DATA.observations[:8]
    np.testing.assert_array_equal(resumed.predict(obs), full.predict(obs))
    assert [e for e, _ in resumed.history] == [1, 2, 3, 4]
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4
    full_again = config.create()  # a new, non-resumed run in the same directory starts a new log
    full_again.fit(DATA, n_steps=40, n_steps_per_epoch=20, show_progress=False, run_dir=tmp_path / "full")
    assert len((tmp_path / "full" / "metrics.jsonl").read_text().splitlines()) == 2
    with pytest.raises(ValueError, match="another config or seeds"):
        TD3PlusBCConfig(**SMALL, alpha=1.0).create().fit(DATA, n_steps=80, n_steps_per_epoch=20, show_progress=False,
                                                          run_dir=tmp_path / "cut", resume=True)


def test_a_second_fit_continues_training_like_d3rlpy():
    config = CONFIGS["bc"]
    once = config.create()
    once.fit(DATA, n_steps=60, n_steps_per_epoch=20, show_progress=False)
    twice = config.create()
    twice.fit(DATA, n_steps=40, n_steps_per_epoch=20, show_progress=False)
    twice.fit(DATA, n_steps=20, n_steps_per_epoch=20, show_progress=False)
    np.testing.assert_array_equal(twice.predict(DATA.observations[:8]), once.predict(DATA.observations[:8]))
    assert [record["step"] for _, record in twice.history] == [20, 40, 60]


@pytest.mark.parametrize("overrides, threshold, reason", [
    ({"reward_scale": 100.0}, 50.0, r"\|q_mean\| = .* exceeds 50"),
    ({"critic_learning_rate": 1e12, "actor_learning_rate": 1e12}, 1e6, r"is not finite"),
])
def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_state(tmp_path, overrides, threshold, reason):
    from tether.data import LoggedDataset

    fields = ("observations", "actions", "terminations", "truncations", "episode_starts", "next_observations",
              "action_space")
    ones = LoggedDataset(**{k: getattr(DATA, k) for k in fields}, rewards=np.ones(DATA.n_steps))
    learner = TD3PlusBCConfig(**SMALL, **overrides).create()
    with pytest.raises(TrainingDivergedError, match=r"diverged in epoch \d+ \(.*" + reason):
        learner.fit(ones, n_steps=20_000, n_steps_per_epoch=50, show_progress=False, run_dir=tmp_path,
                    divergence_threshold=threshold)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(learner.state))
    assert np.all(np.isfinite(learner.predict(DATA.observations[:4])))
    log = tmp_path / "metrics.jsonl"
    good_epochs = len(log.read_text().splitlines()) if log.exists() else 0
    assert len(learner.history) == good_epochs


def test_actions_are_rescaled_to_the_declared_bounds():
    from tether.data import ActionSpace, LoggedDataset

    wide = LoggedDataset(**{**{k: getattr(DATA, k) for k in ("observations", "rewards", "terminations",
                                                             "truncations", "episode_starts", "next_observations")},
                            "actions": DATA.actions * 3.0 + 10.0,
                            "action_space": ActionSpace.continuous([7.0, 7.0], [13.0, 13.0])})
    learner = CONFIGS["bc"].create()
    learner.fit(wide, n_steps=300, n_steps_per_epoch=300, show_progress=False)
    predicted = learner.predict(wide.observations)
    assert np.all((predicted >= 7.0 - 1e-4) & (predicted <= 13.0 + 1e-4))
    assert abs(predicted.mean() - wide.actions.mean()) < 1.0


def test_tensorboard_scalars_round_trip_with_valid_checksums(tmp_path):
    from tether.logging.tensorboard import crc32c, read_scalars

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    learner = CONFIGS["iql"].create()
    learner.fit(DATA, n_steps=40, n_steps_per_epoch=20, seeds=[0, 1], show_progress=False,
                tensorboard_dir=tmp_path / "board")
    (path,) = (tmp_path / "board").glob("events.out.tfevents.*")
    curves = read_scalars(path)
    assert [step for step, _ in curves["critic_loss"]] == [20, 40]
    for (step, value), (_, record) in zip(curves["critic_loss"], learner.history, strict=True):
        assert value == pytest.approx(record["critic_loss"], rel=1e-6)
        assert curves["critic_loss/seed_1"][step // 20 - 1][1] == pytest.approx(record["critic_loss/seeds"][1],
                                                                               rel=1e-6)
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        read_scalars(path)


def test_return_range_reward_scaler_multiplies_rewards_by_1000_over_the_return_spread():
    returns = DATA.episode_returns()
    plain = fit_scaling(DATA, IQLConfig(**SMALL, reward_scaler=None))
    ranged = fit_scaling(DATA, IQLConfig(**SMALL, reward_scale=2.0))
    assert plain.reward_scale == 1.0
    assert ranged.reward_scale == pytest.approx(2.0 * 1000.0 / (returns.max() - returns.min()), rel=1e-6)
    with pytest.raises(ValueError, match="reward_scaler"):
        IQLConfig(reward_scaler="minmax")


def test_model_files_carry_a_header_that_matches_their_payload(tmp_path):
    import hashlib

    from tether.algos.model_file import MAGIC, read_header

    learner = CONFIGS["iql"].create()
    learner.fit(DATA, n_steps=4, n_steps_per_epoch=2, show_progress=False)
    path = learner.save(tmp_path / "model.tether")
    header = read_header(path)
    raw = path.read_bytes()
    payload = raw[-header["payload_bytes"]:]
    assert raw.startswith(MAGIC) and header["format_version"] == 1 and header["kind"] == "learner"
    assert header["algorithm"] == "iql" and hashlib.sha256(payload).hexdigest() == header["payload_sha256"]
    state_shapes = [list(np.shape(leaf)) for leaf in jax.tree.leaves(jax.device_get(learner.state))]
    assert sorted(map(tuple, header["shapes"].values())) == sorted(map(tuple, state_shapes))
    with pytest.raises(ValueError, match="holds a iql learner, not cql"):
        load_learner(path, algorithm="cql")


def test_a_checkpoint_written_before_headers_still_resumes(tmp_path):
    from flax import serialization

    from tether.algos.model_file import read_model_file

    config = CONFIGS["td3_plus_bc"]
    full = full_and_interrupted(config, tmp_path, 40)
    current = tmp_path / "cut" / "checkpoint.tether"
    legacy = serialization.msgpack_serialize(read_model_file(current, "checkpoint"))  # the old layout: no header
    (tmp_path / "cut" / "checkpoint.msgpack").write_bytes(legacy)
    current.unlink()
    resumed = config.create()
    resumed.fit(DATA, n_steps=40, n_steps_per_epoch=20, show_progress=False, run_dir=tmp_path / "cut", resume=True)
    np.testing.assert_array_equal(resumed.predict(DATA.observations[:8]), full.predict(DATA.observations[:8]))
