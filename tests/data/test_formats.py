"""Every reader and writer: round trips, D4RL's exact layout written by hand, Minari's own collector."""

from __future__ import annotations

import gymnasium as gym
import h5py
import numpy as np
import pytest

from tests.conftest import assert_same_dataset, make_dataset
from tether.data import ActionSpace, DatasetError, load_dataset, save_dataset
from tether.data.d4rl import d4rl_file_name, parse_d4rl_name

FILE_FORMATS = {"d4rl": "data.hdf5", "parquet": "data.parquet", "csv": "data.csv", "npz": "data.npz",
                "minari": "tether-test-v0"}


@pytest.mark.parametrize("fmt", sorted(FILE_FORMATS))
@pytest.mark.parametrize("discrete", [False, True])
def test_round_trip_preserves_every_array_and_boundary(tmp_path, fmt, discrete):
    if fmt == "d4rl" and discrete:
        pytest.skip("D4RL files hold continuous actions only")
    ds = make_dataset((6, 1, 4, 9), discrete_n=4 if discrete else None,
                      end="mixed")
    ds = type(ds)(**{**{k: getattr(ds, k) for k in ("observations", "actions", "rewards", "terminations",
                                                    "truncations", "episode_starts", "action_space",
                                                    "next_observations", "behavior_log_probs", "action_probs")},
                     "extras": {"timestamp": np.arange(ds.n_steps, dtype=np.float64)} if fmt != "minari" else {},
                     "metadata": {"name": "rt", "env_id": "Hopper-v5"}})
    path = save_dataset(ds, tmp_path / FILE_FORMATS[fmt], format=fmt)  # type: ignore[arg-type]
    back = load_dataset(path)
    if discrete and fmt in ("parquet", "csv", "npz"):
        masks = np.ones((ds.n_steps, 4), bool)
        masks[np.arange(ds.n_steps), (ds.actions + 1) % 4] = False  # never the logged action
        probs = np.where(masks, ds.action_probs, 0.0)
        ds = type(ds)(**{**{k: getattr(ds, k) for k in ("observations", "actions", "rewards", "terminations",
                                                        "truncations", "episode_starts", "action_space",
                                                        "next_observations", "extras", "metadata")},
                         "action_probs": probs / probs.sum(1, keepdims=True), "action_masks": masks,
                         "behavior_log_probs": np.log((probs / probs.sum(1, keepdims=True))[np.arange(ds.n_steps),
                                                                                          ds.actions])})
        path = save_dataset(ds, tmp_path / ("masked-" + FILE_FORMATS[fmt]), format=fmt)  # type: ignore[arg-type]
        back = load_dataset(path)
    ignore = ("action_probs",) if fmt in ("minari", "d4rl") else ()
    assert_same_dataset(ds, back, ignore=ignore)
    assert back.metadata["name"] == "rt"
    assert back.n_episodes == 4


def _write_d4rl_by_hand(path, n=2500, float64=False, both_flag_at=None, with_timeouts=True):
    """A file in D4RL's exact layout (collect_data.py), written without tether's writer."""
    rng = np.random.default_rng(0)
    dtype = np.float64 if float64 else np.float32
    t = np.arange(n) % 1000
    terminals = np.zeros(n, bool)
    terminals[1500] = True  # a failure mid-way: the next episode starts at 1501
    timeouts = (t == 999) & ~terminals
    if both_flag_at is not None:
        terminals[both_flag_at] = timeouts[both_flag_at] = True
    with h5py.File(path, "w") as f:
        f.create_dataset("observations", data=rng.normal(size=(n, 11)).astype(dtype), compression="gzip")
        f.create_dataset("next_observations", data=rng.normal(size=(n, 11)).astype(dtype), compression="gzip")
        f.create_dataset("actions", data=rng.uniform(-1, 1, (n, 3)).astype(dtype), compression="gzip")
        f.create_dataset("rewards", data=rng.normal(size=n).astype(dtype), compression="gzip")
        f.create_dataset("terminals", data=terminals, compression="gzip")
        if with_timeouts:
            f.create_dataset("timeouts", data=timeouts, compression="gzip")
        f.create_dataset("infos/action_log_probs", data=rng.normal(size=n).astype(np.float32))
        f.create_dataset("infos/qpos", data=rng.normal(size=(n, 6)).astype(np.float32))
        f.create_dataset("infos/qvel", data=rng.normal(size=(n, 6)).astype(np.float32))
        f.create_dataset("metadata/algorithm", data=np.bytes_("SAC"))
        f.create_dataset("metadata/iteration", data=np.int32(500))
        f.create_dataset("metadata/policy/fc0/weight", data=np.zeros((256, 11), np.float32))
    return terminals, timeouts


def test_d4rl_file_as_on_users_disks(tmp_path):
    path = tmp_path / "hopper_medium_replay-v2.hdf5"
    terminals, timeouts = _write_d4rl_by_hand(path, float64=True)
    ds = load_dataset(path)
    # boundaries: timeout at 999, terminal at 1500, timeout at 1999 (t resets on index, not episode), trailing cut
    np.testing.assert_array_equal(ds.episode_starts, [0, 1000, 1501, 2000])
    assert ds.metadata["trailing_partial_episode"] and ds.truncations[-1] and not ds.terminations[-1]
    assert ds.terminations[1500] and not ds.truncations[1500]
    assert ds.observations.dtype == np.float32 and ds.next_observations is not None
    assert ds.metadata["metadata/algorithm"] == "SAC" and ds.metadata["metadata/iteration"] == 500
    assert ds.metadata["name"] == "hopper-medium-replay-v2" and ds.metadata["d4rl_policy_weights_in_file"]
    assert set(ds.extras) == {"infos/qpos", "infos/qvel"} and ds.behavior_log_probs is not None
    # written back in D4RL's layout: same keys, same flags (the trailing episode unflagged again)
    out = save_dataset(ds, tmp_path / "copy.hdf5")
    with h5py.File(out) as f:
        assert {"observations", "actions", "next_observations", "rewards", "terminals", "timeouts",
                "infos/action_log_probs", "infos/qpos", "infos/qvel"} <= set(_keys(f))
        np.testing.assert_array_equal(f["terminals"][:], terminals)
        np.testing.assert_array_equal(f["timeouts"][:], timeouts)
    assert_same_dataset(ds, load_dataset(out))


def test_d4rl_step_flagged_both_is_terminal(tmp_path):
    path = tmp_path / "x.hdf5"
    _write_d4rl_by_hand(path, both_flag_at=999)
    ds = load_dataset(path)
    assert ds.terminations[999] and not ds.truncations[999]
    assert ds.transitions().terminations[999] == 1.0


def test_d4rl_without_timeouts_infers_the_1000_step_limit(tmp_path):
    path = tmp_path / "old.hdf5"
    _write_d4rl_by_hand(path, with_timeouts=False)
    ds = load_dataset(path)
    assert ds.metadata["timeouts_inferred_every"] == 1000
    assert 1000 in ds.episode_starts.tolist()


def _keys(f):
    out = []
    f.visititems(lambda name, node: out.append(name) if isinstance(node, h5py.Dataset) else None)
    return out


def test_d4rl_names():
    assert d4rl_file_name("halfcheetah-medium-replay-v2") == "halfcheetah_medium_replay-v2.hdf5"
    assert parse_d4rl_name("walker2d_medium_expert-v2") == ("walker2d", "medium-expert", "v2")


def test_tether_minari_dataset_loads_in_minari(tmp_path):
    import minari

    ds = make_dataset((5, 8), obs_dim=11, action_dim=3)
    save_dataset(ds, tmp_path / "minari" / "tether" / "hopper-test-v0")
    loaded = minari.load_dataset("tether/hopper-test-v0")
    assert loaded.total_episodes == 2 and loaded.total_steps == 13
    episodes = list(loaded.iterate_episodes())
    np.testing.assert_allclose(episodes[1].rewards, ds.episode(1).rewards)
    np.testing.assert_allclose(episodes[0].observations[1:], ds.episode(0).next_observations)
    assert bool(episodes[0].terminations[-1]) == ds.episode(0).terminated


@pytest.mark.parametrize("storage", ["hdf5", "arrow"])
def test_minari_collector_dataset_loads_in_tether(tmp_path, storage):
    import minari

    env = minari.DataCollector(gym.make("CartPole-v1", max_episode_steps=20), record_infos=False,
                               data_format=storage)
    env.action_space.seed(0)
    returns = []
    for episode in range(3):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += reward
            done = terminated or truncated
        returns.append(total)
    env.create_dataset(dataset_id="tether/cartpole-test-v0", algorithm_name="random")
    ds = load_dataset("tether/cartpole-test-v0")
    assert ds.action_space == ActionSpace.discrete(2)
    assert ds.n_episodes == 3
    np.testing.assert_allclose(ds.episode_returns(), returns)


def test_minari_refuses_next_observations_it_cannot_represent(tmp_path):
    ds = make_dataset((4,))
    broken = type(ds)(**{**{k: getattr(ds, k) for k in ("observations", "actions", "rewards", "terminations",
                                                        "truncations", "episode_starts", "action_space")},
                         "next_observations": ds.next_observations + 1})
    with pytest.raises(DatasetError, match="next_observations.*Minari's layout cannot represent"):
        save_dataset(broken, tmp_path / "m" / "x-v0")
