"""Network initialisation: PyTorch's `nn.Linear` default, which CQL and TD3+BC use as d3rlpy does (BCQ on request)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from tether.algos import td3_plus_bc
from tether.algos.base import DatasetSpec
from tether.nets import QEnsemble, TanhGaussianActor
from tether.nets.mlp import dense_init, matmul


def test_torch_init_is_uniform_within_one_over_root_fan_in_biases_included():
    actor = TanhGaussianActor((64, 32), 3, weight_init="torch")
    params = flatten_dict(actor.init(jax.random.key(0), np.zeros((1, 10), np.float32))["params"], sep="/")
    fan_in = {"trunk/Dense_0": 10, "trunk/Dense_1": 64, "mean": 32, "log_std": 32}
    for layer, n in fan_in.items():
        for kind in ("kernel", "bias"):
            values = np.asarray(params[f"{layer}/{kind}"]).ravel()
            bound = 1 / np.sqrt(n)
            assert np.all(np.abs(values) <= bound), (layer, kind)
            if values.size >= 32:  # a uniform on [-b, b] has standard deviation b / sqrt(3)
                assert np.std(values) == pytest.approx(bound / np.sqrt(3), rel=0.25), (layer, kind)


def test_torch_init_reaches_every_critic_of_the_ensemble_and_lecun_stays_flaxs_default():
    critics = QEnsemble((32,), n_critics=2, weight_init="torch")
    params = critics.init(jax.random.key(1), np.zeros((1, 5), np.float32), np.zeros((1, 2), np.float32))["params"]
    first = np.asarray(params["VmapMLP_0"]["Dense_0"]["kernel"])  # [critic, fan_in 7, 32]
    assert first.shape == (2, 7, 32) and np.abs(first).max() <= 1 / np.sqrt(7)
    assert not np.allclose(first[0], first[1])  # each critic draws its own
    assert np.any(np.asarray(params["VmapMLP_0"]["Dense_0"]["bias"]) != 0)
    lecun = QEnsemble((32,), n_critics=2).init(jax.random.key(1), np.zeros((1, 5), np.float32),
                                               np.zeros((1, 2), np.float32))["params"]
    assert np.all(np.asarray(lecun["VmapMLP_0"]["Dense_0"]["bias"]) == 0)  # flax: zero biases
    with pytest.raises(ValueError, match="init must be one of"):
        dense_init("xavier", 4)


def test_td3_plus_bc_network_init_reaches_its_actor_and_critics():
    spec = DatasetSpec(observation_dim=5, action_dim=2)
    for init, zero_biases in (("torch", False), ("lecun", True)):
        state = td3_plus_bc.init(td3_plus_bc.TD3PlusBCConfig(hidden_dims=(32,), network_init=init), spec,
                                 jax.random.key(0))
        actor = flatten_dict(state.actor.params, sep="/")
        critic = flatten_dict(state.critic.params, sep="/")
        biases = [v for k, v in {**actor, **critic}.items() if k.endswith("bias")]
        assert all(np.all(np.asarray(b) == 0) for b in biases) == zero_biases, init
        first = next(v for k, v in actor.items() if k.endswith("Dense_0/kernel"))
        if init == "torch":
            assert np.abs(np.asarray(first)).max() <= 1 / np.sqrt(5)


def test_dense_matmul_matches_dot_general_in_values_and_gradients_under_vmap():
    # tether.nets.matmul replaces Dense's dot_general with a hand-written backward pass
    keys = jax.random.split(jax.random.key(3), 3)

    def values_and_grads(dot, kernel, x):  # vmapped over a leading (seed) axis
        def loss(kernel, x):
            return jnp.sum(jnp.sin(dot(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))))

        return (jax.vmap(loss)(kernel, x), *jax.vmap(jax.grad(loss, argnums=(0, 1)))(kernel, x))

    for fan_in, fan_out in ((7, 5), (5, 7)):  # a narrow head, then a widening layer
        kernel = jax.random.normal(keys[0], (2, fan_in, fan_out))
        for key, rows in ((keys[1], (11,)), (keys[2], (4, 11))):
            x = jax.random.normal(key, (2, *rows, fan_in))
            ours, reference = values_and_grads(matmul, kernel, x), values_and_grads(jax.lax.dot_general, kernel, x)
            for mine, theirs in zip(ours, reference, strict=True):
                assert mine.shape == theirs.shape
                np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)
    rows, other = x[0, 0], (((0,), (1,)), ((), ()))  # any other contraction is lax.dot_general's
    np.testing.assert_array_equal(matmul(kernel[0], rows, other), jax.lax.dot_general(kernel[0], rows, other))
