"""Discrete learners: losses by hand, ground-truth improvement over the behaviour policy, and
BCQ's support constraint on a narrow log."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState

from tether.algos import discrete_bc, discrete_bcq, discrete_cql
from tether.algos.base import Batch
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.algos.discrete_bcq import DiscreteBCQConfig
from tether.algos.discrete_cql import DiscreteCQLConfig
from tether.data import ActionSpace, LoggedDataset

SMALL = {"hidden_dims": (64, 64), "batch_size": 128}
LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)
BATCH = Batch(observations=jnp.zeros((2, 2)), actions=jnp.asarray([1, 2]), rewards=jnp.asarray([1.0, 0.0]),
              next_observations=jnp.ones((2, 2)), terminations=jnp.asarray([0.0, 1.0]))


def _fixed(fn) -> TrainState:
    return TrainState.create(apply_fn=fn, params={"unused": jnp.zeros(1)}, tx=optax.sgd(0.0))


def _log_softmax(x):
    return x - np.log(np.exp(x).sum(1, keepdims=True))


def test_discrete_bc_loss_is_cross_entropy_plus_logit_penalty():
    state = discrete_bc.DiscreteBCState(_fixed(lambda v, o: jnp.asarray(LOGITS)), jnp.int32(0))
    value, _ = discrete_bc.loss(state.policy.params, state, BATCH, DiscreteBCConfig(beta=0.5))
    expected = -np.mean(_log_softmax(LOGITS)[[0, 1], [1, 2]]) + 0.5 * np.mean(LOGITS**2)
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_discrete_cql_loss_by_hand():
    q_next_online = np.array([[0.0, 5.0, 1.0], [2.0, 0.0, 0.0]], np.float32)
    q_next_target = np.array([[9.0, 3.0, 7.0], [4.0, 4.0, 4.0]], np.float32)
    tables = {"online": (LOGITS, q_next_online), "target": (None, q_next_target)}

    def apply(v, obs):
        now, nxt = tables[v["params"]] if isinstance(v["params"], str) else (LOGITS, q_next_online)
        return jnp.asarray(nxt) if float(obs[0, 0]) == 1.0 else jnp.asarray(now)

    q = TrainState.create(apply_fn=apply, params="online", tx=optax.sgd(0.0))
    state = discrete_cql.DiscreteCQLState(q, "target", jnp.int32(0))
    value, metrics = discrete_cql.loss("online", state, BATCH, DiscreteCQLConfig(alpha=2.0, gamma=0.9))
    # double DQN: argmax online at s' = [1, 0]; target values there = [3, 4]; second step is terminal
    targets = np.array([1.0 + 0.9 * 3.0, 0.0])
    q_data = LOGITS[[0, 1], [1, 2]]
    diff = q_data - targets
    huber = np.where(np.abs(diff) <= 1, 0.5 * diff**2, np.abs(diff) - 0.5)
    lse = np.log(np.exp(LOGITS).sum(1))
    np.testing.assert_allclose(value, huber.mean() + 2.0 * np.mean(lse - q_data), rtol=1e-5)


def test_discrete_bcq_allows_only_actions_within_the_threshold():
    probs_logits = np.log(np.array([[0.6, 0.3, 0.1], [0.05, 0.05, 0.9]], np.float32))
    mask = np.asarray(discrete_bcq.allowed_actions(jnp.asarray(probs_logits), 0.3))
    np.testing.assert_array_equal(mask, [[True, True, False], [False, False, True]])
    q = jnp.asarray([[0.0, 1.0, 50.0], [9.0, 9.0, 1.0]])
    np.testing.assert_array_equal(discrete_bcq.constrained_greedy(q, jnp.asarray(mask)), [1, 2])


def test_discrete_bcq_loss_by_hand():
    imitation_now = np.array([[0.5, 1.0, -1.0], [2.0, 0.0, 1.0]], np.float32)
    imitation_next = np.log(np.array([[0.6, 0.3, 0.1], [0.05, 0.05, 0.9]], np.float32))  # allows {0, 1}, {2}
    q_next_online = np.array([[0.0, 5.0, 9.0], [2.0, 0.0, 0.0]], np.float32)  # unconstrained argmax: 2, 0
    q_next_target = np.array([[9.0, 3.0, 7.0], [4.0, 4.0, 4.0]], np.float32)

    def apply(v, obs):
        if v["params"] == "target":
            return jnp.asarray(q_next_target), jnp.zeros((2, 3))
        nxt = float(obs[0, 0]) == 1.0
        return (jnp.asarray(q_next_online if nxt else LOGITS),
                jnp.asarray(imitation_next if nxt else imitation_now))

    nets = TrainState.create(apply_fn=apply, params="online", tx=optax.sgd(0.0))
    state = discrete_bcq.DiscreteBCQState(nets, "target", jnp.int32(0))
    config = DiscreteBCQConfig(gamma=0.9, beta=0.5, action_flexibility=0.3)
    value, metrics = discrete_bcq.loss("online", state, BATCH, config)
    # constrained argmax at s' = [1, 2]; target value there 3 (the second step is terminal)
    targets = np.array([1.0 + 0.9 * 3.0, 0.0])
    diff = LOGITS[[0, 1], [1, 2]] - targets
    td = np.mean(np.where(np.abs(diff) <= 1, 0.5 * diff**2, np.abs(diff) - 0.5))
    imitation = -np.mean(_log_softmax(imitation_now)[[0, 1], [1, 2]]) + 0.5 * np.mean(imitation_now**2)
    np.testing.assert_allclose(metrics["td_loss"], td, rtol=1e-5)
    np.testing.assert_allclose(metrics["imitator_loss"], imitation, rtol=1e-5)
    np.testing.assert_allclose(value, td + imitation, rtol=1e-5)


def test_discrete_bcq_shared_encoder_has_one_torso_under_both_heads():
    data = bandit_log(n=400)
    learner = DiscreteBCQConfig(**SMALL, share_encoder=True).create()
    learner.fit(data, n_steps=20, n_steps_per_epoch=20, show_progress=False)
    params = learner.state.nets.params
    assert sorted(params) == ["encoder", "imitator_head", "q_head"]
    separate = DiscreteBCQConfig(**SMALL).create()
    separate.fit(data, n_steps=20, n_steps_per_epoch=20, show_progress=False)
    assert sorted(separate.state.nets.params) == ["imitator", "q"]


def bandit_log(n=4000, seed=0, narrow=False):
    """Rewards: action 0 -> 0, action 1 -> s0, action 2 -> -s0. Optimal value E|s0| = 0.5.

    The behaviour policy takes action 0 with probability 0.6 (the others 0.2 each); a narrow one
    never takes action 2.
    """
    rng = np.random.default_rng(seed)
    states = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    probs = np.array([0.6, 0.4, 0.0]) if narrow else np.array([0.6, 0.2, 0.2])
    actions = rng.choice(3, size=n, p=probs)
    rewards = np.select([actions == 0, actions == 1], [0.0, states[:, 0]], -states[:, 0])
    return LoggedDataset(observations=states, actions=actions, rewards=rewards + rng.normal(0, 0.1, n),
                         terminations=np.ones(n, bool), truncations=np.zeros(n, bool), episode_starts=np.arange(n),
                         action_space=ActionSpace.discrete(3), next_observations=states,
                         behavior_log_probs=np.log(probs[actions]))


def true_value(learner, narrow=False):
    states = np.random.default_rng(9).uniform(-1, 1, (4000, 2)).astype(np.float32)
    actions = learner.predict(states)
    return float(np.mean(np.select([actions == 0, actions == 1], [0.0, states[:, 0]], -states[:, 0])))


# CQL's fixed point is Q(a) = r(a) + alpha (1 - softmax(Q)(a) / pi_b(a)): with pi_b = (0.6, 0.2, 0.2) and alpha = 1
# the modal action gains about 1.1 over the others, more than any true advantage here (|s0| <= 1), so CQL would
# rightly refuse to deviate. alpha = 0.1 keeps the penalty below the advantages the logs do support.
@pytest.mark.parametrize("config", [DiscreteCQLConfig(**SMALL, alpha=0.1, target_update_interval=100),
                                    DiscreteBCQConfig(**SMALL, target_update_interval=100)],
                         ids=lambda c: c.get_type())
def test_discrete_offline_rl_improves_on_the_behaviour_policy(config):
    data = bandit_log()
    behaviour_value = 0.0  # E[0.6 * 0 + 0.2 * s0 - 0.2 * s0]
    bc = DiscreteBCConfig(**SMALL).create()
    bc.fit(data, n_steps=1500, n_steps_per_epoch=1500, show_progress=False)
    assert abs(true_value(bc) - behaviour_value) < 0.05  # BC copies the modal action 0
    learner = config.create()
    learner.fit(data, n_steps=1500, n_steps_per_epoch=1500, show_progress=False)
    assert true_value(learner) > 0.4, true_value(learner)  # optimum 0.5


def test_discrete_bcq_stays_inside_the_logged_support():
    data = bandit_log(narrow=True)
    learner = DiscreteBCQConfig(**SMALL, target_update_interval=100).create()
    learner.fit(data, n_steps=1500, n_steps_per_epoch=1500, show_progress=False)
    states = np.random.default_rng(3).uniform(-1, 1, (4000, 2)).astype(np.float32)
    assert not np.any(learner.predict(states) == 2)  # never logged, so never chosen


def masked_bandit_log(n=4000, seed=0):
    """The bandit above, but action 1 is forbidden wherever s1 > 0 (and never logged there)."""
    rng = np.random.default_rng(seed)
    states = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    masks = np.ones((n, 3), bool)
    masks[states[:, 1] > 0, 1] = False
    probs = np.where(masks, [0.6, 0.2, 0.2], 0.0)
    probs /= probs.sum(1, keepdims=True)
    actions = np.array([rng.choice(3, p=p) for p in probs])
    rewards = np.select([actions == 0, actions == 1], [0.0, states[:, 0]], -states[:, 0])
    return LoggedDataset(observations=states, actions=actions, rewards=rewards, terminations=np.ones(n, bool),
                         truncations=np.zeros(n, bool), episode_starts=np.arange(n),
                         action_space=ActionSpace.discrete(3), next_observations=states, action_masks=masks,
                         action_probs=probs.astype(np.float32))


@pytest.mark.parametrize("config", [DiscreteBCConfig(**SMALL),
                                    DiscreteCQLConfig(**SMALL, alpha=0.1, target_update_interval=100),
                                    DiscreteBCQConfig(**SMALL, target_update_interval=100)],
                         ids=lambda c: c.get_type())
def test_action_masks_are_never_violated_and_the_best_allowed_action_is_found(config):
    learner = config.create()
    learner.fit(masked_bandit_log(), n_steps=1500, n_steps_per_epoch=1500, show_progress=False)
    states = np.random.default_rng(4).uniform(-1, 1, (4000, 2)).astype(np.float32)
    masks = np.ones((4000, 3), bool)
    masks[states[:, 1] > 0, 1] = False
    actions = learner.predict(states, action_masks=masks)
    assert masks[np.arange(4000), actions].all()
    assert masks[np.arange(4000), learner.sample_action(states, action_masks=masks)].all()
    if config.get_type() != "discrete_bc":
        value = np.mean(np.select([actions == 0, actions == 1], [0.0, states[:, 0]], -states[:, 0]))
        best = np.mean(np.where(states[:, 0] < 0, -states[:, 0], np.where(states[:, 1] > 0, 0.0, states[:, 0])))
        assert value > 0.85 * best, (value, best)
