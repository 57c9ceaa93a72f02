"""Shared test helpers: small datasets with known structure and an integrity checker."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Many tests compile the same programs (a learner of one config on data of one shape; the commands the
# CLI tests start in subprocesses): JAX's persistent cache, shared by pytest-xdist's workers and those
# subprocesses, compiles each once per machine. It only skips XLA's compilation of an identical program.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(),
                                                                f"tether-tests-jax-cache-{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 * 1024**3))

from tether.data import ActionSpace, LoggedDataset  # noqa: E402


def _fake_zoo_imports():
    import jax

    from tether.nets import TanhGaussianActor
    from tether.zoo.build import build
    from tether.zoo.policy import ZooPolicy

    return jax, TanhGaussianActor, build, ZooPolicy


def make_dataset(lengths=(5, 3, 7), obs_dim=3, action_dim=2, discrete_n=None, seed=0,
                 end="mixed", log_probs=True) -> LoggedDataset:
    """Episodes of the given lengths with successors consistent inside each episode.

    `end="mixed"` alternates terminated and truncated endings.
    """
    rng = np.random.default_rng(seed)
    obs, next_obs, terms, truncs = [], [], [], []
    for i, length in enumerate(lengths):
        states = rng.normal(size=(length + 1, obs_dim)).astype(np.float32)
        obs.append(states[:-1])
        next_obs.append(states[1:])
        flags = np.zeros(length, bool)
        flags[-1] = True
        terminated = end == "terminated" or (end == "mixed" and i % 2 == 0)
        terms.append(flags if terminated else np.zeros(length, bool))
        truncs.append(np.zeros(length, bool) if terminated else flags)
    n = sum(lengths)
    if discrete_n:
        space = ActionSpace.discrete(discrete_n)
        actions = rng.integers(0, discrete_n, n)
        probs = rng.dirichlet(np.ones(discrete_n), n).astype(np.float32)
        logp = np.log(probs[np.arange(n), actions])
    else:
        space = ActionSpace.continuous(-np.ones(action_dim), np.ones(action_dim))
        actions = rng.uniform(-1, 1, (n, action_dim)).astype(np.float32)
        probs, logp = None, rng.normal(size=n)
    return LoggedDataset(
        observations=np.concatenate(obs), actions=actions, rewards=rng.normal(size=n).astype(np.float32),
        terminations=np.concatenate(terms), truncations=np.concatenate(truncs),
        episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]), action_space=space,
        next_observations=np.concatenate(next_obs), behavior_log_probs=logp if log_probs else None,
        action_probs=probs, metadata={"name": "test", "env_id": None})


def assert_same_dataset(a: LoggedDataset, b: LoggedDataset, ignore=()) -> None:
    """Every array, boundary and the action space agree (the shared integrity check)."""
    assert a.action_space == b.action_space
    arrays_a, arrays_b = a.arrays(), b.arrays()
    keys = (set(arrays_a) | set(arrays_b)) - set(ignore)
    for key in sorted(keys):
        assert key in arrays_a and key in arrays_b, f"{key} missing on one side"
        np.testing.assert_allclose(arrays_a[key], arrays_b[key], rtol=1e-6, atol=1e-6, err_msg=key)
        if key != "behavior_log_probs":
            assert arrays_a[key].dtype == arrays_b[key].dtype, key


def isolate_homes(patch: pytest.MonkeyPatch, root) -> None:
    """Point tether's, Minari's and D4RL's homes into `root`, so nothing touches the user's caches."""
    patch.setenv("TETHER_HOME", str(root / "tether_home"))
    patch.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
    patch.setenv("D4RL_DATASET_DIR", str(root / "d4rl"))


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path, monkeypatch):
    """Never touch the user's caches: tether, Minari and D4RL homes live in the test's tmp dir."""
    isolate_homes(monkeypatch, tmp_path)


def _random_policy(obs_dim: int, action_dim: int, seed: int):
    jax, TanhGaussianActor, _, ZooPolicy = _fake_zoo_imports()
    net = TanhGaussianActor((16, 16), action_dim)
    params = net.init(jax.random.PRNGKey(seed), np.zeros((1, obs_dim), np.float32))["params"]
    return ZooPolicy.from_flax_params(jax.device_get(params))


@pytest.fixture(scope="session")
def fake_zoo(tmp_path_factory):
    """A hopper zoo: snapshots at 1k..4k steps with evaluations 10, 110, 150, 200 (medium: 2k, expert: 4k)."""
    root = tmp_path_factory.mktemp("zoo")
    run = root / "run"
    (run / "snapshots").mkdir(parents=True)
    evals = {1000: 10.0, 2000: 110.0, 3000: 150.0, 4000: 200.0}
    with open(run / "log.jsonl", "w") as log:
        for k, (step, value) in enumerate(evals.items()):
            _random_policy(11, 3, k).save(run / "snapshots" / f"step_{step:07d}.npz")
            log.write(json.dumps({"step": step, "eval_return_mean": value}) + "\n")
    (run / "config.json").write_text(json.dumps({"task": "hopper", "steps": 4000, "seed": 0, "eval_interval": 1000,
                                                 "warmup_steps": 500, "sac": {}}))
    _fake_zoo_imports()[2]("hopper", run, zoo_root=root, episodes=3, snapshot_episodes=0)  # select by the log
    return root


@pytest.fixture
def with_fake_zoo(fake_zoo, monkeypatch):
    monkeypatch.setenv("TETHER_ZOO_DIR", str(fake_zoo))
    return fake_zoo
