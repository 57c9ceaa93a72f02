"""PPO and GAIL against ground truth: the discriminator's optimum on known occupancies, PPO and GAIL on CartPole."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from tether.algos.gail import GAILConfig
from tether.algos.ppo import PPOConfig
from tether.data import ActionSpace
from tether.envs.classic import make_classic_logs
from tether.envs.finite import mix_with_uniform
from tether.envs.tightrope import expert_table, tightrope
from tether.errors import ConfigError, DatasetError
from tether.imitation.gail import Discriminator, discriminator_inputs, train_gail
from tether.imitation.ppo import PPO, Rollout, gae
from tether.imitation.tasks import resolve_task


def occupancy(mdp, table: np.ndarray) -> np.ndarray:
    """`[S, A]` the policy's normalised state-action occupancy over one episode."""
    visits = mdp.state_visits(table)
    visits[mdp.terminal] = 0.0
    joint = visits[:, None] * table
    return joint / joint.sum()


def test_gails_discriminator_approaches_the_optimum_on_known_occupancies():
    mdp = tightrope()
    expert = occupancy(mdp, expert_table(mdp))
    policy = occupancy(mdp, mix_with_uniform(expert_table(mdp), mdp.action_masks, 0.6))
    rng = np.random.default_rng(0)
    space, n_actions = ActionSpace.discrete(3), mdp.n_actions

    def inputs(cells: np.ndarray) -> np.ndarray:
        states, actions = cells // n_actions, cells % n_actions
        return discriminator_inputs(mdp.features[states], actions, mdp.features[states], space, False)
    expert_cells, policy_cells = (rng.choice(rho.size, 20_000, p=rho.ravel()) for rho in (expert, policy))
    from_expert, from_policy = inputs(expert_cells), inputs(policy_cells)
    discriminator = Discriminator(from_expert.shape[1], (64, 64), 1e-3, 0.0, from_expert)
    key = jax.random.PRNGKey(0)
    for _ in range(2000):
        key, step = jax.random.split(key)
        discriminator.update(from_expert[rng.integers(20_000, size=512)], from_policy[rng.integers(20_000, size=512)],
                             step)
    mass = expert + policy
    cells = np.flatnonzero(mass.ravel() > 1e-3)
    optimum = expert.ravel()[cells] / mass.ravel()[cells]  # D* = rho_E / (rho_E + rho_pi)
    learned = discriminator.probability(inputs(cells))
    weights = mass.ravel()[cells] / mass.ravel()[cells].sum()
    assert np.sum(weights * np.abs(learned - optimum)) < 0.04
    # per cell, against the optimum of the loss it was trained on: the drawn samples' D* (no sampling error)
    drawn_expert, drawn_policy = (np.bincount(c, minlength=expert.size)[cells] for c in (expert_cells, policy_cells))
    drawn_optimum = drawn_expert / np.maximum(drawn_expert + drawn_policy, 1)
    assert np.abs(learned - drawn_optimum)[mass.ravel()[cells] > 5e-3].max() < 0.15


def test_gae_matches_a_hand_computation_with_a_time_limit_and_a_termination():
    # one env, four steps: a time limit after step 1 (bootstrap from the final observation's value 5), a termination
    # after step 3; gamma 0.9, lambda 0.8
    values, next_values = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 5.0, 4.0, 9.0])
    rewards, terminations, ends = np.array([1.0, 1.0, 1.0, 1.0]), np.array([0, 0, 0, 1.0]), np.array([0, 1.0, 0, 1.0])
    column = lambda x: x[:, None].astype(np.float32)  # noqa: E731
    rollout = Rollout(*(column(np.zeros(4)) for _ in range(3)), column(values), column(rewards), column(next_values),
                      column(terminations), column(ends))
    advantages, returns = (np.asarray(x)[:, 0] for x in gae(rollout, 0.9, 0.8))
    delta = rewards + 0.9 * (1 - terminations) * next_values - values
    expected = np.array([delta[0] + 0.72 * delta[1], delta[1], delta[2] + 0.72 * delta[3], delta[3]])
    np.testing.assert_allclose(advantages, expected, rtol=1e-6)
    np.testing.assert_allclose(returns, expected + values, rtol=1e-6)


def test_ppo_and_gail_learn_cartpole():
    ppo = PPO(PPOConfig(), resolve_task("cartpole"), seed=0).learn(40_960)
    assert ppo.recent_return(20) > 400  # the maximum is 500; a random policy gets about 22
    demos = make_classic_logs("cartpole", epsilon=0.0, n_episodes=4, seed=0)  # the scripted expert: 500 each
    history: list[dict] = []
    result = train_gail(GAILConfig(total_steps=40_960), "cartpole", demos, on_update=history.append)
    assert result.policy.recent_return(20) > 300 and len(history) == 40_960 // 2048
    assert all(np.isfinite(h["disc_loss"]) and h["disc_loss"] > 0.1 for h in history)  # no collapse, no divergence


def test_bad_settings_and_demonstrations_are_refused_by_name():
    with pytest.raises(ConfigError, match="batch_size: 100 does not divide a rollout of 2048"):
        PPOConfig(batch_size=100)
    with pytest.raises(ConfigError, match="gradient_penalty"):
        GAILConfig(gradient_penalty=-1.0)
    pendulum_demos = make_classic_logs("acrobot", epsilon=0.0, n_episodes=1, seed=0)
    with pytest.raises(DatasetError, match="observations have 6 fields, cartpole's have 4"):
        train_gail(GAILConfig(total_steps=1), "cartpole", pendulum_demos)
