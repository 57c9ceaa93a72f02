"""ONNX export of greedy policies, checked by an independent runtime: onnxruntime must compute what
`predict` computes, for any batch size, with observation scaling and action bounds included."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.conftest import make_dataset
from tether.algos.bc import BCConfig
from tether.algos.bcq import BCQConfig
from tether.algos.cql import CQLConfig
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.algos.discrete_bcq import DiscreteBCQConfig
from tether.algos.discrete_cql import DiscreteCQLConfig
from tether.algos.iql import IQLConfig
from tether.algos.td3_plus_bc import TD3PlusBCConfig
from tether.data import ActionSpace

ort = pytest.importorskip("onnxruntime")

SMALL = {"hidden_dims": (16, 16), "batch_size": 32}
_BASE = make_dataset(tuple([20] * 10), obs_dim=4, action_dim=2, seed=3)
LOW, HIGH = np.array([-2.0, 0.0], np.float32), np.array([3.0, 0.5], np.float32)
CONTINUOUS = dataclasses.replace(  # bounds other than [-1, 1], and observations far from standard
    _BASE, observations=_BASE.observations * 5 + 2, next_observations=_BASE.next_observations * 5 + 2,
    actions=LOW + (_BASE.actions + 1) / 2 * (HIGH - LOW), action_space=ActionSpace.continuous(LOW, HIGH))
DISCRETE = make_dataset(tuple([20] * 10), obs_dim=4, discrete_n=3, seed=3)

EXPORTABLE = {
    "bc": BCConfig(**SMALL),
    "bc_stochastic": BCConfig(**SMALL, policy_type="stochastic"),
    "td3_plus_bc": TD3PlusBCConfig(**SMALL),
    "iql": IQLConfig(**SMALL),
    "cql": CQLConfig(**SMALL, n_action_samples=4),
    "discrete_bc": DiscreteBCConfig(**SMALL),
    "discrete_cql": DiscreteCQLConfig(**SMALL),
    "discrete_bcq": DiscreteBCQConfig(**SMALL),
}


def trained(config, seeds=(0,)):
    data = DISCRETE if config.get_type().startswith("discrete") else CONTINUOUS
    learner = config.create()
    learner.fit(data, n_steps=20, n_steps_per_epoch=20, seeds=list(seeds), show_progress=False)
    return learner, data


def observations(data, n, seed):
    rng = np.random.default_rng(seed)
    scale = data.observations.std(0) * 3  # past the logged range too: saturated tanh, clipped actions
    return (data.observations.mean(0) + scale * rng.normal(size=(n, data.observation_dim))).astype(np.float32)


@pytest.mark.parametrize("name", list(EXPORTABLE))
def test_onnxruntime_computes_what_predict_computes_at_any_batch_size(name, tmp_path):
    learner, data = trained(EXPORTABLE[name])
    path = learner.save_policy(tmp_path / "policy.onnx")
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["observations"]
    for n in (1, 13):
        obs = observations(data, n, seed=n)
        exported = session.run(None, {"observations": obs})[0]
        expected = learner.predict(obs)
        assert exported.shape == expected.shape
        if data.action_space.is_discrete:
            assert exported.dtype == np.int32
            np.testing.assert_array_equal(exported, expected)
        else:
            np.testing.assert_allclose(exported, expected, rtol=1e-5, atol=1e-5)
            assert np.all(exported >= LOW - 1e-5) and np.all(exported <= HIGH + 1e-5)


@pytest.mark.parametrize("name", ["discrete_bc", "discrete_cql", "discrete_bcq"])
def test_a_discrete_policy_exported_with_masks_never_chooses_a_masked_action(name, tmp_path):
    learner, data = trained(EXPORTABLE[name])
    session = ort.InferenceSession(str(learner.save_policy(tmp_path / "policy.onnx", action_masks=True)))
    obs = observations(data, 50, seed=0)
    masks = np.random.default_rng(1).random((50, 3)) < 0.5
    masks[np.arange(50), np.random.default_rng(2).integers(0, 3, 50)] = True  # every state allows one action
    exported = session.run(None, {"observations": obs, "action_masks": masks})[0]
    np.testing.assert_array_equal(exported, learner.predict(obs, action_masks=masks))
    assert masks[np.arange(50), exported].all()


def test_bcq_is_refused_with_the_reason_and_the_alternative(tmp_path):
    learner, _ = trained(BCQConfig(**SMALL, vae_hidden_dims=(16, 16), n_action_samples=4))
    with pytest.raises(ValueError, match=r"bcq: its greedy action uses operations .*random.*save\(\)"):
        learner.save_policy(tmp_path / "policy.onnx")
    assert not (tmp_path / "policy.onnx").exists()


def test_several_seeds_and_torchscript_paths_are_refused_with_the_fix(tmp_path):
    learner, _ = trained(EXPORTABLE["bc"], seeds=(0, 1))
    with pytest.raises(ValueError, match=r"2 seeds; export one: learner.seed_learners\(\)\[i\]"):
        learner.save_policy(tmp_path / "policy.onnx")
    single = learner.seed_learners()[1]
    session = ort.InferenceSession(str(single.save_policy(tmp_path / "seed1.onnx")))
    obs = observations(CONTINUOUS, 5, seed=0)
    np.testing.assert_allclose(session.run(None, {"observations": obs})[0], learner.predict(obs)[1], atol=1e-5)
    with pytest.raises(ValueError, match=r"ONNX only .*policy.onnx"):
        single.save_policy(tmp_path / "policy.pt")
