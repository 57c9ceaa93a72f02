"""Each loss against an independent hand computation, with networks replaced by known functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from tether.algos import bc, bcq, cql, edac, iql, rebrac, sac_n, td3_plus_bc
from tether.algos.base import Batch, DatasetSpec
from tether.algos.bc import BCConfig
from tether.algos.bcq import BCQConfig
from tether.algos.cql import CQLConfig
from tether.algos.edac import EDACConfig
from tether.algos.iql import IQLConfig
from tether.algos.rebrac import ReBRACConfig
from tether.algos.sac_n import SACNConfig
from tether.algos.td3_plus_bc import TD3PlusBCConfig
from tether.nets import QEnsemble

RNG = np.random.default_rng(0)
BATCH = Batch(observations=jnp.asarray(RNG.normal(size=(4, 3)), jnp.float32),
              actions=jnp.asarray(RNG.uniform(-1, 1, (4, 2)), jnp.float32),
              rewards=jnp.asarray([1.0, 0.0, -1.0, 0.5], jnp.float32),
              next_observations=jnp.asarray(RNG.normal(size=(4, 3)), jnp.float32),
              terminations=jnp.asarray([0.0, 1.0, 0.0, 0.0], jnp.float32))


def _fixed(apply_fn, params=None) -> TrainState:
    return TrainState.create(apply_fn=apply_fn, params=params or {"unused": jnp.zeros(1)}, tx=optax.sgd(0.0))


def test_bc_deterministic_loss_is_mean_squared_error():
    predicted = RNG.uniform(-1, 1, (4, 2)).astype(np.float32)
    state = bc.BCState(_fixed(lambda v, obs: jnp.asarray(predicted)), jnp.int32(0))
    loss, _ = bc.loss(state.policy.params, state, BATCH, BCConfig())
    np.testing.assert_allclose(loss, np.mean((predicted - np.asarray(BATCH.actions)) ** 2), rtol=1e-6)


def test_td3_plus_bc_actor_loss_scales_q_by_alpha_over_mean_abs_q():
    pi = RNG.uniform(-1, 1, (4, 2)).astype(np.float32)
    q = np.array([[2.0, -4.0, 1.0, 3.0], [9.0, 9.0, 9.0, 9.0]], np.float32)
    state = td3_plus_bc.TD3PlusBCState(
        actor=_fixed(lambda v, obs: jnp.asarray(pi)), critic=_fixed(lambda v, obs, a: jnp.asarray(q)),
        target_actor_params={}, target_critic_params={}, step=jnp.int32(0))
    loss, metrics = td3_plus_bc.actor_loss(state.actor.params, state, BATCH, TD3PlusBCConfig(alpha=2.5))
    expected = -(2.5 / np.mean(np.abs(q[0]))) * np.mean(q[0]) + np.mean((pi - np.asarray(BATCH.actions)) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_td3_plus_bc_critic_target_bootstraps_only_non_terminal_steps():
    config = TD3PlusBCConfig(target_smoothing_sigma=0.0, gamma=0.9)
    q_next = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 5.0, 2.0, 6.0]], np.float32)
    q_now = np.zeros((2, 4), np.float32)
    critic = _fixed(lambda v, obs, a: jnp.asarray(q_next) if v["params"] == "target" else jnp.asarray(q_now))
    state = td3_plus_bc.TD3PlusBCState(actor=_fixed(lambda v, obs: jnp.zeros((4, 2))), critic=critic,
                                       target_actor_params={}, target_critic_params="target", step=jnp.int32(0))
    loss, _ = td3_plus_bc.critic_loss("online", state, BATCH, jax.random.PRNGKey(0), config)
    targets = np.asarray(BATCH.rewards) + 0.9 * (1 - np.asarray(BATCH.terminations)) * q_next.min(0)
    np.testing.assert_allclose(loss, 2 * np.mean(targets**2), rtol=1e-6)  # two critics predicting 0


def test_iql_expectile_and_advantage_weights():
    diff = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], np.float32)
    expected = np.where(diff > 0, 0.7, 0.3) * diff**2
    np.testing.assert_allclose(iql.expectile_loss(jnp.asarray(diff), 0.7), expected, rtol=1e-6)
    q = np.array([[1.0, 3.0, 0.0, 2.0], [2.0, 2.5, -1.0, 30.0]], np.float32)
    v = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
    state = iql.IQLState(actor=_fixed(None), critic=_fixed(lambda p, o, a: jnp.asarray(q)),
                         value=_fixed(lambda p, o: jnp.asarray(v)), target_critic_params={}, step=jnp.int32(0))
    weights = iql.advantage_weights(state, BATCH, IQLConfig(weight_temp=3.0, max_weight=100.0))
    np.testing.assert_allclose(weights, np.minimum(np.exp(3.0 * (q.min(0) - v)), 100.0), rtol=1e-5)
    loss, _ = iql.value_loss(state.value.params, state, BATCH, IQLConfig(expectile=0.7))
    u = q.min(0) - v
    np.testing.assert_allclose(loss, np.mean(np.where(u > 0, 0.7, 0.3) * u**2), rtol=1e-6)


def test_cql_logsumexp_estimates_the_closed_form_integral():
    """For Q(s, a) = w.a, log of the integral of exp Q over [-1, 1]^d is sum_i log(2 sinh(w_i) / w_i)."""
    w = np.array([1.5, -0.7], np.float32)
    config = CQLConfig(n_action_samples=6000, hidden_dims=(16,))
    state = cql.init(config, DatasetSpec(3, 2), jax.random.PRNGKey(0))
    state = state.replace(critic=_fixed(lambda v, obs, a: jnp.stack([a @ w, 2.0 * (a @ w)])))
    estimate = cql.conservative_logsumexp({}, state, BATCH, jax.random.PRNGKey(1), config)
    exact = np.sum(np.log(2 * np.sinh(w) / w))
    np.testing.assert_allclose(estimate[0], exact, atol=0.03)
    exact_doubled = np.sum(np.log(2 * np.sinh(2 * w) / (2 * w)))
    np.testing.assert_allclose(estimate[1], exact_doubled, atol=0.06)


def test_bcq_kl_term_and_perturbation_bound():
    config = BCQConfig(beta=0.5)
    mean = jnp.ones((4, 4))
    state = bcq.BCQState(actor=_fixed(None), critic=_fixed(None),
                         imitator=_fixed(lambda v, o, a, k: (a + 0.1, mean, jnp.zeros((4, 4)))),
                         target_actor_params={}, target_critic_params={}, step=jnp.int32(0))
    loss, _ = bcq.imitator_loss(state.imitator.params, state, BATCH, jax.random.PRNGKey(0), config)
    # the paper's code: mse(recon, a) + beta * mean(KL per latent); here 0.1^2 + 0.5 * (1^2 / 2)
    np.testing.assert_allclose(loss, 0.01 + 0.5 * 0.5, rtol=1e-5)
    net = bcq.Perturbation((8,), 2, 0.05)
    params = net.init(jax.random.PRNGKey(0), BATCH.observations, BATCH.actions)
    params = jax.tree.map(lambda x: 100.0 * x, params)  # saturate the tanh
    shifted = net.apply(params, BATCH.observations, BATCH.actions * 0.5)
    assert np.all(np.abs(np.asarray(shifted) - np.asarray(BATCH.actions) * 0.5) <= 0.05 + 1e-6)


def test_bcq_critic_target_is_the_best_soft_clipped_value_over_n_target_samples():
    n, lam, gamma = 5, 0.75, 0.9
    config = BCQConfig(n_target_samples=n, lam=lam, gamma=gamma)
    batch_size = BATCH.rewards.shape[0]
    # VAE sample j of every next state is the action (j / n, 0); the perturbation is the identity
    vae = _fixed(lambda v, obs, key, method=None: jnp.stack([jnp.tile(jnp.arange(n) / n, batch_size),
                                                              jnp.zeros(n * batch_size)], axis=1))

    def critic(variables, obs, actions):
        if variables["params"] == "target":
            return jnp.stack([2.0 * actions[:, 0], 1.0 - actions[:, 0]])
        return jnp.zeros((2, obs.shape[0]))

    state = bcq.BCQState(actor=_fixed(lambda v, obs, a: a), critic=_fixed(critic), imitator=vae,
                         target_actor_params={}, target_critic_params="target", step=jnp.int32(0))
    loss, _ = bcq.critic_loss("online", state, BATCH, jax.random.PRNGKey(0), config)
    x = np.arange(n) / n
    q1, q2 = 2 * x, 1 - x
    best = np.max(lam * np.minimum(q1, q2) + (1 - lam) * np.maximum(q1, q2))  # the same for every state
    targets = np.asarray(BATCH.rewards) + gamma * (1 - np.asarray(BATCH.terminations)) * best
    np.testing.assert_allclose(loss, 2 * np.mean(targets**2), rtol=1e-6)  # two critics predicting 0


def test_bcq_greedy_latents_are_keyed_by_the_state_alone():
    key = jax.random.PRNGKey(0)
    obs = BATCH.observations
    keys = jax.random.key_data(bcq.state_keys(key, jnp.concatenate([obs, obs[:1]])))
    assert np.array_equal(keys[0], keys[-1])  # the same state, the same latents
    assert len({tuple(np.asarray(k).tolist()) for k in keys[:-1]}) == len(obs)  # new latents for each state
    other = jax.random.key_data(bcq.state_keys(jax.random.PRNGKey(1), obs))
    assert not np.array_equal(other[0], keys[0])  # and for each seed's key


def test_cql_lagrangian_alpha_scales_the_penalty_and_moves_toward_the_threshold():
    config = CQLConfig(hidden_dims=(8,), n_action_samples=2, conservative_weight=5.0, alpha_threshold=10.0,
                       alpha_learning_rate=0.1, initial_alpha=2.0)
    state = cql.init(config, DatasetSpec(3, 2), jax.random.PRNGKey(0))
    np.testing.assert_allclose(cql.alpha(state), 2.0, rtol=1e-6)
    # d3rlpy's multiplier loss: -alpha * weight * (mean gap over critics - threshold), its gap's
    # logsumexp a plain sum over the 3 * 2 samples, log(6) above tether's averaged one
    penalty = jnp.float32(2 * (11.0 - np.log(6.0)))  # summed over 2 critics: plain gap 11, above 10
    loss = cql.alpha_loss(state.log_alpha.params, penalty, 2, config)
    np.testing.assert_allclose(loss, -2.0 * 5.0 * (11.0 - 10.0), rtol=1e-5)
    grads = jax.grad(cql.alpha_loss)(state.log_alpha.params, penalty, 2, config)
    raised = state.log_alpha.apply_gradients(grads=grads).params["log_alpha"]
    np.testing.assert_allclose(raised, np.log(2.0) + 0.1, rtol=1e-5)  # Adam's first step is lr * sign: up
    grads = jax.grad(cql.alpha_loss)(state.log_alpha.params, jnp.float32(2.0), 2, config)  # 1 + log 6 < 10
    lowered = state.log_alpha.apply_gradients(grads=grads).params["log_alpha"]
    np.testing.assert_allclose(lowered, np.log(2.0) - 0.1, rtol=1e-5)
    # the critic's penalty is weighted by alpha * conservative_weight
    one = cql.critic_loss(state.critic.params, state.replace(log_alpha=state.log_alpha.replace(
        params={"log_alpha": jnp.float32(0.0)})), BATCH, jax.random.PRNGKey(3), config)[1]
    two = cql.critic_loss(state.critic.params, state, BATCH, jax.random.PRNGKey(3), config)
    np.testing.assert_allclose(two[0], one["bellman_loss"] + 2.0 * 5.0 * one["conservative_loss"], rtol=1e-5)
    # with a rate of 0 the update leaves alpha where it started: a fixed weight
    fixed = CQLConfig(hidden_dims=(8,), n_action_samples=2, initial_alpha=3.0, alpha_learning_rate=0.0)
    state = cql.init(fixed, DatasetSpec(3, 2), jax.random.PRNGKey(0))
    state, metrics = cql.update(state, BATCH, jax.random.PRNGKey(1), config=fixed)
    np.testing.assert_allclose(metrics["alpha"], 3.0, rtol=1e-6)


def test_rebrac_actor_loss_sums_the_behaviour_error_over_actions_and_normalises_the_critics_minimum():
    pi = RNG.uniform(-1, 1, (4, 2)).astype(np.float32)
    q = np.array([[2.0, -4.0, 1.0, 3.0], [1.0, 9.0, -2.0, 9.0]], np.float32)
    state = td3_plus_bc.TD3PlusBCState(
        actor=_fixed(lambda v, obs: jnp.asarray(pi)), critic=_fixed(lambda v, obs, a: jnp.asarray(q)),
        target_actor_params={}, target_critic_params={}, step=jnp.int32(0))
    loss, metrics = rebrac.actor_loss(state.actor.params, state, BATCH, ReBRACConfig(actor_beta=0.3))
    q_min = q.min(0)
    penalty = np.sum((pi - np.asarray(BATCH.actions)) ** 2, axis=1)
    np.testing.assert_allclose(loss, np.mean(0.3 * penalty - q_min / np.mean(np.abs(q_min))), rtol=1e-6)
    np.testing.assert_allclose(metrics["bc_loss"], penalty.mean(), rtol=1e-6)


def test_rebrac_critic_target_pays_for_leaving_the_logged_next_action_and_only_where_it_bootstraps():
    config = ReBRACConfig(target_smoothing_sigma=0.0, gamma=0.9, critic_beta=0.5)
    next_logged = RNG.uniform(-1, 1, (4, 2)).astype(np.float32)
    target_action = RNG.uniform(-1, 1, (4, 2)).astype(np.float32)
    q_next = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 5.0, 2.0, 6.0]], np.float32)
    critic = _fixed(lambda v, obs, a: jnp.asarray(q_next) if v["params"] == "target" else jnp.zeros((2, 4)))
    state = td3_plus_bc.TD3PlusBCState(actor=_fixed(lambda v, obs: jnp.asarray(target_action)), critic=critic,
                                       target_actor_params={}, target_critic_params="target", step=jnp.int32(0))
    batch = BATCH._replace(next_actions=jnp.asarray(next_logged))
    loss, _ = rebrac.critic_loss("online", state, batch, jax.random.PRNGKey(0), config)
    next_value = q_next.min(0) - 0.5 * np.sum((target_action - next_logged) ** 2, axis=1)
    targets = np.asarray(BATCH.rewards) + 0.9 * (1 - np.asarray(BATCH.terminations)) * next_value
    np.testing.assert_allclose(loss, 2 * np.mean(targets**2), rtol=1e-6)  # two critics predicting 0


def test_the_logged_next_action_is_the_next_step_s_within_an_episode_and_its_own_at_the_end():
    from tests.conftest import make_dataset

    data = make_dataset((3, 2), obs_dim=2, action_dim=1, seed=0)
    transitions = data.transitions()
    a = data.actions[:, 0]
    np.testing.assert_array_equal(transitions.next_actions[:, 0], [a[1], a[2], a[2], a[4], a[4]])


def test_sac_n_target_is_the_minimum_of_all_critics_less_the_temperature_times_the_log_density():
    """The tanh-Gaussian's log-density by hand at the action drawn with the loss's key (`eps` below)."""
    n_critics, temperature, gamma = 5, 0.3, 0.9
    mean = RNG.normal(0, 0.5, (4, 2)).astype(np.float32)
    q_next = RNG.normal(0, 1, (n_critics, 4)).astype(np.float32)
    critic = _fixed(lambda v, obs, a: jnp.asarray(q_next) if v["params"] == "target" else jnp.zeros((n_critics, 4)))
    state = sac_n.SACNState(actor=_fixed(lambda v, obs: (jnp.asarray(mean), jnp.full((4, 2), -2.0))),
                            critic=critic, log_temp=_fixed(None, {"log_temp": jnp.log(jnp.float32(temperature))}),
                            target_critic_params="target", step=jnp.int32(0))
    loss, _ = sac_n.sac.soft_bellman_loss("online", state, BATCH, jax.random.PRNGKey(0), gamma)
    eps = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (4, 2)), np.float64)
    pre_tanh = mean + np.exp(-2.0) * eps
    log_density = np.sum(-0.5 * eps**2 + 2.0 - 0.5 * np.log(2 * np.pi) - np.log(1 - np.tanh(pre_tanh) ** 2), axis=1)
    targets = np.asarray(BATCH.rewards) + gamma * (1 - np.asarray(BATCH.terminations)) * (
        q_next.min(0) - temperature * log_density)
    np.testing.assert_allclose(loss, n_critics * np.mean(targets**2), rtol=1e-4)
    assert SACNConfig().n_critics == 10 and sac_n.SPEC.q_value is not None


def test_edac_gradient_similarity_matches_the_closed_form_of_known_critics():
    """Q_i(s, a) = w_i . a + c_i ||a||^2 / 2: grad_a Q_i = w_i + c_i a, normalised, summed over i != j."""
    w = RNG.normal(size=(3, 2)).astype(np.float32)
    c = np.array([0.5, -1.0, 2.0], np.float32)

    def critics(variables, obs, actions):  # actions [3, batch, 2]: one batch per critic
        return jnp.einsum("iba,ia->ib", actions, w) + 0.5 * c[:, None] * jnp.sum(actions**2, axis=-1)

    state = sac_n.SACNState(actor=_fixed(None), critic=_fixed(critics), log_temp=_fixed(None),
                            target_critic_params={}, step=jnp.int32(0))
    similarity = edac.gradient_similarity({"w": jnp.zeros((3, 1))}, state, BATCH.observations, BATCH.actions)
    a = np.asarray(BATCH.actions)
    grads = w[:, None, :] + c[:, None, None] * a[None]  # [3, batch, 2]
    unit = grads / np.linalg.norm(grads, axis=-1, keepdims=True)
    expected = np.mean([sum(unit[i, b] @ unit[j, b] for i in range(3) for j in range(3) if i != j)
                        for b in range(4)]) / 2
    np.testing.assert_allclose(similarity, expected, rtol=1e-5)
    assert EDACConfig().eta == 1.0


def test_critics_given_one_action_batch_each_equal_critics_given_a_shared_one():
    net = QEnsemble((8,), n_critics=3)
    params = net.init(jax.random.PRNGKey(0), BATCH.observations, BATCH.actions)
    shared = net.apply(params, BATCH.observations, BATCH.actions)
    each = net.apply(params, BATCH.observations, jnp.broadcast_to(BATCH.actions, (3, 4, 2)))
    np.testing.assert_allclose(each, shared, rtol=1e-6)
