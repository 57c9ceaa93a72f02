"""LoggedDataset: boundaries, transitions, returns, splits, concatenation (with hypothesis properties)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_dataset
from tether.data import ActionSpace, LoggedDataset

lengths_strategy = st.lists(st.integers(1, 12), min_size=1, max_size=8)
ends_strategy = st.sampled_from(["mixed", "terminated", "truncated"])


@settings(max_examples=60, deadline=None)
@given(lengths=lengths_strategy, end=ends_strategy, with_next=st.booleans())
def test_transitions_never_cross_episode_boundaries(lengths, end, with_next):
    ds = make_dataset(tuple(lengths), end=end)
    if not with_next:
        ds = LoggedDataset(**{**_fields(ds), "next_observations": None})
    tr = ds.transitions()
    # successors are the episode's own next state: obs[t+1] inside, the logged final state at the end
    for obs, nxt, ep, t, term in zip(tr.observations, tr.next_observations, tr.episode_ids, tr.timesteps,
                                     tr.terminations, strict=True):
        episode = ds.episode(int(ep))
        np.testing.assert_array_equal(obs, episode.observations[t])
        if t + 1 < len(episode):
            np.testing.assert_array_equal(nxt, episode.observations[t + 1])
        else:
            assert (term == 1.0) == episode.terminated
    dropped = sum(1 for e in ds.episodes() if e.truncated) if not with_next else 0
    assert len(tr.rewards) == ds.n_steps - dropped
    is_last = tr.timesteps + 1 == ds.episode_lengths[tr.episode_ids]
    assert set(np.flatnonzero(tr.terminations)) <= set(np.flatnonzero(is_last))


@settings(max_examples=60, deadline=None)
@given(lengths=lengths_strategy, gamma=st.sampled_from([1.0, 0.9, 0.5]))
def test_episode_boundaries_and_returns_match_a_loop(lengths, gamma):
    ds = make_dataset(tuple(lengths))
    assert ds.n_episodes == len(lengths)
    np.testing.assert_array_equal(ds.episode_lengths, lengths)
    expected = [sum(r * gamma**t for t, r in enumerate(e.rewards.astype(np.float64))) for e in ds.episodes()]
    np.testing.assert_allclose(ds.episode_returns(gamma), expected, rtol=1e-9)
    assert ds.episode_ids.tolist() == sum(([i] * n for i, n in enumerate(lengths)), [])


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=2, max_size=10), seed=st.integers(0, 1000))
def test_split_partitions_whole_episodes(lengths, seed):
    ds = make_dataset(tuple(lengths), seed=seed)
    train, val = ds.split(0.3, seed=seed)
    assert train.n_episodes + val.n_episodes == ds.n_episodes
    assert train.n_steps + val.n_steps == ds.n_steps
    assert min(train.n_episodes, val.n_episodes) >= 1
    returns = sorted(ds.episode_returns().round(4))
    assert sorted(np.concatenate([train.episode_returns(), val.episode_returns()]).round(4)) == returns


def test_concatenate_then_select_recovers_parts():
    a, b = make_dataset((4, 2), seed=1), make_dataset((3,), seed=2)
    joined = LoggedDataset.concatenate([a, b])
    assert joined.n_episodes == 3 and joined.n_steps == 9
    np.testing.assert_array_equal(joined.episode_starts, [0, 4, 6])
    expected = LoggedDataset(**{**_fields(b), "metadata": joined.metadata})
    assert joined.select_episodes([2]).fingerprint() == expected.fingerprint()


def test_subsample_keeps_whole_episodes_in_order():
    ds = make_dataset((2, 3, 4, 5, 6))
    sub = ds.subsample(n_episodes=3, seed=3)
    assert sub.n_episodes == 3
    assert set(sub.episode_lengths.tolist()) <= {2, 3, 4, 5, 6}
    assert ds.subsample(fraction=0.4).n_episodes == 2


def test_fingerprint_changes_with_data():
    ds = make_dataset()
    other = LoggedDataset(**{**_fields(ds), "rewards": ds.rewards + 1})
    assert ds.fingerprint() != other.fingerprint()
    assert ds.fingerprint() == make_dataset().fingerprint()


def test_trailing_unmarked_episode_is_kept_as_truncated():
    ds = LoggedDataset(observations=np.zeros((4, 1)), actions=np.zeros((4, 1)), rewards=np.ones(4),
                       terminations=[0, 1, 0, 0], truncations=[0, 0, 0, 0], episode_starts=[0, 2],
                       action_space=ActionSpace.continuous([-1], [1]))
    assert ds.n_episodes == 2 and ds.truncations[-1] and ds.metadata["trailing_partial_episode"]
    np.testing.assert_array_equal(ds.episode_returns(), [2.0, 2.0])


def test_discrete_behavior_probs_and_episode_ids_constructor():
    ds = LoggedDataset.from_episode_ids(
        np.array(["a", "a", "b"]), observations=np.zeros((3, 2)), actions=[0, 2, 1], rewards=[1, 0, 1],
        terminations=[0, 1, 1], truncations=[0, 0, 0], action_space=ActionSpace.discrete(3),
        behavior_log_probs=np.log([0.5, 0.25, 1.0]))
    np.testing.assert_allclose(ds.behavior_probs, [0.5, 0.25, 1.0])
    assert ds.actions.dtype == np.int64 and ds.n_episodes == 2


def _fields(ds: LoggedDataset) -> dict:
    names = ("observations", "actions", "rewards", "terminations", "truncations", "episode_starts", "action_space",
             "next_observations", "behavior_log_probs", "action_probs", "extras", "metadata")
    return {n: getattr(ds, n) for n in names}


@pytest.mark.parametrize("bad_index", [0, -1])
def test_episode_index_errors(bad_index):
    ds = make_dataset((2,))
    assert len(ds.episode(bad_index)) == 2
    with pytest.raises(IndexError):
        ds.episode(5)


def test_discrete_policy_output_becomes_probabilities():
    space = ActionSpace.discrete(3)
    assert np.array_equal(space.probabilities(np.array([2, 0])), [[0, 0, 1], [1, 0, 0]])
    probs = np.array([[0.2, 0.3, 0.5]])
    assert np.array_equal(space.probabilities(probs), probs)
    with pytest.raises(ValueError, match=r"probabilities \[N, 3\], got shape \(1, 2\)"):
        space.probabilities(np.ones((1, 2)))
