"""MOPO and MOReL against ground truth: a linear system with a narrow behaviour whose best action lies
far outside what was logged."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tether.algos.mopo import MOPOConfig
from tether.algos.morel import MOReLConfig, halting
from tether.data import ActionSpace, LoggedDataset
from tether.dynamics import sample_step
from tether.errors import DatasetError

MODEL = {"model_members": 5, "model_elites": 3, "model_hidden_dims": (64, 64), "model_max_steps": 3000,
         "model_steps_per_check": 500, "hidden_dims": (64, 64), "batch_size": 128, "rollout_batch_size": 32,
         "rollout_horizon": 3, "model_buffer_size": 20_000}


def linear_logs(action_low: float, action_high: float, noise: Callable[[np.ndarray], np.ndarray],
                n_episodes: int = 40, length: int = 50, seed: int = 0) -> LoggedDataset:
    """s' = 0.9 s + 0.1 a + noise(a) on 2 dims, reward = a (the more action the better, up to the bound 1),
    the behaviour uniform over [action_low, action_high]."""
    rng = np.random.default_rng(seed)
    obs, acts, nxt = [], [], []
    for _ in range(n_episodes):
        s = rng.normal(0, 0.5, 2).astype(np.float32)
        for _ in range(length):
            a = rng.uniform(action_low, action_high, 1).astype(np.float32)
            s_next = (0.9 * s + 0.1 * a + noise(a) * rng.normal(0, 1, 2)).astype(np.float32)
            obs.append(s), acts.append(a), nxt.append(s_next)
            s = s_next
    n = len(obs)
    actions = np.array(acts)
    return LoggedDataset(observations=np.array(obs), actions=actions, rewards=actions[:, 0].copy(),
                         terminations=np.zeros(n, bool), truncations=(np.arange(n) % length) == length - 1,
                         episode_starts=np.arange(0, n, length), next_observations=np.array(nxt),
                         action_space=ActionSpace.continuous([-1.0], [1.0]))


def narrow_logs() -> LoggedDataset:
    """Actions logged only within +-0.15 of zero, far from the best action 1, with a constant noise."""
    return linear_logs(-0.15, 0.15, lambda a: np.float32(0.01))


def noisy_where_rewarding_logs() -> LoggedDataset:
    """Every action logged, but the transition's noise grows with |a| (std 0.02 + 0.3 |a|): the model knows
    its own noise everywhere, so only an aleatoric penalty (and no lack of data) speaks against large actions."""
    return linear_logs(-1.0, 1.0, lambda a: 0.02 + 0.3 * np.abs(a))


@pytest.fixture(scope="module")
def logs() -> LoggedDataset:
    return narrow_logs()


def test_morel_sends_unsupported_steps_to_halt_and_supported_ones_not(logs):
    learner = MOReLConfig(**MODEL).create()
    learner.fit(logs, n_steps=10, n_steps_per_epoch=10, show_progress=False)
    state = jax.tree.map(lambda x: x[0], learner.state)
    scaling = learner.scaling
    observations = jnp.asarray(scaling.observations(logs.observations[:500]))
    supported = jnp.asarray(scaling.actions_to_unit(logs.actions[:500]))
    key = jax.random.PRNGKey(0)
    _, done, metrics = halting(state, sample_step(state.dynamics, observations, supported, key))
    assert float(metrics["halt_rate"].mean()) == 0.0  # the threshold is the logged steps' largest disagreement
    far = jnp.ones_like(supported)  # the action bound, 7 times the logged range
    rewards, done, metrics = halting(state, sample_step(state.dynamics, observations, far, key))
    assert float(metrics["halt_rate"].mean()) > 0.95 and bool(done.mean() > 0.95)
    halted_rewards = np.asarray(rewards)[np.asarray(done)]
    assert halted_rewards.max() < float(logs.rewards.min()) * scaling.reward_scale  # HALT pays below r_min


@pytest.mark.parametrize("penalty, penalty_coef, inside", [("disagreement", 0.0, False), ("disagreement", 200.0, True)])
def test_mopo_stays_within_the_logged_actions_only_under_a_large_penalty(logs, penalty, penalty_coef, inside):
    """The ensemble's disagreement grows where no action was logged; without a penalty the model extrapolates
    the reward and the policy leaves the logs. (The aleatoric std need not grow there: with constant noise it
    extrapolates flat, which is why it is tested below on noise that the data show.)"""
    actions = fitted_mopo_actions(logs, penalty, penalty_coef)
    if inside:
        assert np.abs(actions).mean() < 0.3  # near the logged +-0.15, despite reward growing with the action
    else:
        assert actions.mean() > 0.4


@pytest.mark.parametrize("penalty_coef, largest", [(0.0, False), (10.0, True)])
def test_mopo_aleatoric_penalty_trades_reward_against_the_noise_the_model_predicts(penalty_coef, largest):
    """Reward a, noise std ~ 0.3 |a| on both dims: at lambda = 10 the penalty's slope (~4.2 |a|) exceeds the
    reward's (1), so the best penalised action is 0; at lambda = 0 it is the bound 1."""
    actions = fitted_mopo_actions(noisy_where_rewarding_logs(), "aleatoric", penalty_coef)
    if largest:
        assert np.abs(actions).mean() < 0.3
    else:
        assert actions.mean() > 0.4  # SAC's entropy term keeps it off the bound at this budget


def fitted_mopo_actions(logs: LoggedDataset, penalty: str, penalty_coef: float) -> np.ndarray:
    learner = MOPOConfig(**MODEL, penalty=penalty, penalty_coef=penalty_coef).create()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a penalty that drowns the reward is the point here
        learner.fit(logs, n_steps=2000, n_steps_per_epoch=2000, show_progress=False)
    return learner.predict(logs.observations[:200])[:, 0]


def test_a_penalty_that_drowns_the_reward_is_named_with_the_setting(logs):
    with pytest.warns(UserWarning, match="penalty_coef 1000.0 .* exceeds the whole range of logged rewards"):
        MOPOConfig(**{**MODEL, "model_max_steps": 500}, penalty_coef=1000.0).create().fit(
            logs, n_steps=2, n_steps_per_epoch=2, show_progress=False)


def test_discrete_actions_are_refused_by_name():
    n = 40
    discrete = LoggedDataset(observations=np.zeros((n, 2), np.float32), actions=np.zeros(n, np.int64),
                             rewards=np.zeros(n), terminations=np.zeros(n, bool),
                             truncations=(np.arange(n) % 10) == 9, episode_starts=np.arange(0, n, 10),
                             action_space=ActionSpace.discrete(2))
    with pytest.raises(DatasetError, match="mopo learns continuous actions"):
        MOPOConfig(**MODEL).create().fit(discrete, n_steps=2, show_progress=False)


@pytest.mark.parametrize("scenario", ["treatment-confounded", "fraud-narrow"])
def test_on_the_discrete_scenarios_model_based_learners_are_refused_never_sent(scenario):
    from tether.algos.registry import candidates_for
    from tether.errors import ConfigError
    from tether.workflow import RunConfig, load_data

    data = load_data(RunConfig(data=scenario, size=50)).dataset
    assert not {"mopo", "morel"} & set(candidates_for(data.action_space.kind))  # no default run trains them there
    with pytest.raises(ConfigError, match="mopo learns continuous actions"):
        RunConfig(data=scenario, candidates=["mopo"]).check_against(data)
