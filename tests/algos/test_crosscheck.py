"""tether's updates against an independent implementation: d3rlpy 2.8.1's, replayed from shipped traces.

Each fixture (written by `python bench/update_crosscheck.py --updates 10 --hidden 16,16 --batch-size 16
--fixture-dir tests/algos/fixtures`) holds d3rlpy's initial weights in tether's layout, the batches,
the weights d3rlpy ended with after one update per batch, and its logged losses. TD3+BC's target
smoothing noise is off in the trace, so both updates are deterministic. CQL's updates are random:
its traces also hold the numbers d3rlpy drew (uniform and policy actions, the actor's sample), which
the replay hands to tether's update in place of its own draws (`--algos cql`, and `--cql-backup soft`
for `d3rlpy_cql_soft_trace.npz`, d3rlpy's `soft_q_backup=True`). BCQ's trace holds its VAE latents
and runs d3rlpy's recipe as `tether.d3rlpy` builds it (`--algos bcq --bcq-samples 4 --batch-size 20`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bench.crosscheck import draws_per_update, replay_updates
from flax.traverse_util import unflatten_dict

from tether.algos import BCConfig, CQLConfig, TD3PlusBCConfig
from tether.algos.base import Batch
from tether.algos.config import LearnerConfig
from tether.d3rlpy import algos as ported
from tether.d3rlpy.models import VectorEncoderFactory

FIXTURES = Path(__file__).parent / "fixtures"
FIELDS = ("observations", "actions", "rewards", "next_observations", "terminations")


def load_trace(algo: str) -> dict:
    with np.load(FIXTURES / f"d3rlpy_{algo}_trace.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    draws = {key.removeprefix("noise/"): value for key, value in arrays.items() if key.startswith("noise/")}
    return {
        "noise": draws_per_update(draws) if draws else None,
        "hidden": tuple(int(width) for width in arrays["hidden_dims"]),
        "batches": [Batch(*(jnp.asarray(arrays[f"batch/{field}"][i]) for field in FIELDS))
                    for i in range(len(arrays["batch/observations"]))],
        "init": unflatten_dict({tuple(k.split("/")[1:]): v for k, v in arrays.items() if k.startswith("init/")}),
        "final": unflatten_dict({tuple(k.split("/")[1:]): v for k, v in arrays.items() if k.startswith("final/")}),
        "losses": {k.removeprefix("loss/"): v for k, v in arrays.items() if k.startswith("loss/")},
    }


def relative_gap(ours, theirs, init) -> float:
    """|our change - their change| / |their change|, in the L2 norm over all weights."""
    flat = lambda tree, base: jnp.concatenate([(a - b).ravel() for a, b in  # noqa: E731
                                               zip(jax.tree.leaves(tree), jax.tree.leaves(base), strict=True)])
    theirs_moved = flat(theirs, init)
    return float(jnp.linalg.norm(flat(ours, init) - theirs_moved) / jnp.linalg.norm(theirs_moved))


BCQ_TARGET_SAMPLES = 4  # the trace's d3rlpy n_action_samples


def ported_bcq(hidden: tuple[int, ...], **changes) -> LearnerConfig:
    """d3rlpy's BCQ recipe (linear VAE decoder, its log-std clip, target over n_action_samples) as
    `tether.d3rlpy` builds it, its VAE as wide as the other networks, with `changes` on top."""
    enc = VectorEncoderFactory(hidden_units=list(hidden))
    config = ported.BCQConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, imitator_encoder_factory=enc,
                              n_action_samples=BCQ_TARGET_SAMPLES).config
    return dataclasses.replace(config, **changes)


CONFIGS = {
    "td3_plus_bc": lambda hidden, **kw: TD3PlusBCConfig(hidden_dims=hidden, target_smoothing_sigma=0.0, **kw),
    "bc": lambda hidden, **kw: BCConfig(hidden_dims=hidden, **kw),
    # tether's defaults are d3rlpy's: the mean-action backup and the Lagrangian alpha
    "cql": lambda hidden, **kw: CQLConfig(hidden_dims=hidden, **kw),
    "cql_soft": lambda hidden, **kw: CQLConfig(hidden_dims=hidden, backup="soft", **kw),
    "bcq": ported_bcq,
}
ALGO = {"cql_soft": "cql"}  # fixture name: the algorithm it replays


@pytest.mark.parametrize("algo", ["td3_plus_bc", "bc", "cql", "cql_soft", "bcq"])
def test_updates_reproduce_d3rlpy_from_the_same_weights(algo):
    trace = load_trace(algo)
    ours, losses = replay_updates(ALGO.get(algo, algo), CONFIGS[algo](trace["hidden"]), trace["init"],
                                  trace["batches"], trace["noise"])
    assert set(ours) == set(trace["final"])
    for network, theirs in trace["final"].items():
        # float32 rounding through Adam leaves 1e-5 to 1e-4 here; a different rule gives 1e-1 or more
        assert relative_gap(ours[network], theirs, trace["init"][network]) < 1e-3, network
    for key, their_losses in trace["losses"].items():
        # d3rlpy steps SAC's temperature before it computes the actor loss, tether (as softlearning and
        # CORL) after; the loss then differs by log pi times one temperature step (1e-4 of it)
        rtol = 3e-4 if key == "actor_loss" and ALGO.get(algo, algo) == "cql" else 1e-5
        np.testing.assert_allclose(losses[key], their_losses, rtol=rtol, err_msg=key)


@pytest.mark.parametrize(("algo", "change"), [("td3_plus_bc", {"alpha": 2.0}), ("td3_plus_bc", {"tau": 0.01}),
                                              ("td3_plus_bc", {"update_actor_interval": 1}),
                                              ("bc", {"learning_rate": 1.1e-3}),
                                              ("cql", {"conservative_weight": 4.5}), ("cql", {"tau": 0.01}),
                                              ("cql", {"actor_learning_rate": 1.2e-4}),
                                              ("cql", {"initial_alpha": 1.2}), ("cql_soft", {"backup": "sample"}),
                                              ("bcq", {"vae_decoder_tanh": True}), ("bcq", {"lam": 0.7}),
                                              ("bcq", {"beta": 0.6}), ("bcq", {"action_flexibility": 0.06})])
def test_the_replay_notices_a_changed_hyperparameter(algo, change):
    """The comparison above can fail: a small change of one hyperparameter moves some network far past it."""
    trace = load_trace(algo)
    config = CONFIGS[algo](trace["hidden"], **{key: value for key, value in change.items() if key != "backup"})
    if "backup" in change:
        config = CQLConfig(hidden_dims=trace["hidden"], backup=change["backup"])
    ours, _ = replay_updates(ALGO.get(algo, algo), config, trace["init"], trace["batches"], trace["noise"])
    gaps = [relative_gap(ours[n], trace["final"][n], trace["init"][n]) for n in trace["final"]]
    assert max(gaps) > 1e-2, change
