"""Replay a learner's updates from given weights on given batches, to compare with another implementation.

`bench/update_crosscheck.py` starts tether and d3rlpy from the same weights and compares the
weights each side ends with; `tests/algos/test_crosscheck.py` replays a small shipped d3rlpy trace.
Weights are named per network (`actor`, `critic`, `target_actor`, `target_critic`; BC's `policy`,
BCQ's `imitator`), each a flax parameter tree of tether's layout.

CQL's and BCQ's updates draw random numbers (CQL's uniform and policy actions and the actor's
sample; BCQ's VAE latents). To compare them
update for update, `replay_updates` takes the draws as `noise`, one entry per update: the standard
normal arrays in the order the update asks for them, and the uniform ones likewise. They are handed
out in place of `jax.random.normal` and `jax.random.uniform` while the update is traced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax.training.train_state import TrainState

from tether._types import Params
from tether.algos import bc, bcq, cql, td3_plus_bc
from tether.algos.base import Batch, DatasetSpec
from tether.algos.config import LearnerConfig


def _restart(train_state: TrainState, params: Params) -> TrainState:
    """The same network and optimiser, with `params` and a fresh optimiser state."""
    return train_state.replace(params=params, opt_state=train_state.tx.init(params))


def _td3_plus_bc_networks(state: td3_plus_bc.TD3PlusBCState) -> dict[str, Params]:
    return {"actor": state.actor.params, "critic": state.critic.params,
            "target_actor": state.target_actor_params, "target_critic": state.target_critic_params}


def _td3_plus_bc_with(state: td3_plus_bc.TD3PlusBCState, networks: dict[str, Params]) -> td3_plus_bc.TD3PlusBCState:
    return state.replace(actor=_restart(state.actor, networks["actor"]),
                         critic=_restart(state.critic, networks["critic"]),
                         target_actor_params=networks["target_actor"], target_critic_params=networks["target_critic"])


def _bc_networks(state: bc.BCState) -> dict[str, Params]:
    return {"policy": state.policy.params}


def _bc_with(state: bc.BCState, networks: dict[str, Params]) -> bc.BCState:
    return state.replace(policy=_restart(state.policy, networks["policy"]))


def _cql_networks(state: cql.CQLState) -> dict[str, Params]:
    return {"actor": state.actor.params, "critic": state.critic.params, "target_critic": state.target_critic_params,
            "log_temp": state.log_temp.params}


def _cql_with(state: cql.CQLState, networks: dict[str, Params]) -> cql.CQLState:
    return state.replace(actor=_restart(state.actor, networks["actor"]),
                         critic=_restart(state.critic, networks["critic"]),
                         target_critic_params=networks["target_critic"],
                         log_temp=_restart(state.log_temp, networks["log_temp"]))


def _bcq_networks(state: bcq.BCQState) -> dict[str, Params]:
    return {"actor": state.actor.params, "critic": state.critic.params, "target_actor": state.target_actor_params,
            "target_critic": state.target_critic_params, "imitator": state.imitator.params}


def _bcq_with(state: bcq.BCQState, networks: dict[str, Params]) -> bcq.BCQState:
    return state.replace(actor=_restart(state.actor, networks["actor"]),
                         critic=_restart(state.critic, networks["critic"]),
                         imitator=_restart(state.imitator, networks["imitator"]),
                         target_actor_params=networks["target_actor"], target_critic_params=networks["target_critic"])


# algorithm: (module, read the networks of a state, a state with these networks)
_ALGOS: dict[str, tuple[Any, Callable, Callable]] = {
    "td3_plus_bc": (td3_plus_bc, _td3_plus_bc_networks, _td3_plus_bc_with),
    "bc": (bc, _bc_networks, _bc_with),
    "cql": (cql, _cql_networks, _cql_with),
    "bcq": (bcq, _bcq_networks, _bcq_with),
}
SUPPORTED = tuple(_ALGOS)


def draws_per_update(draws: dict[str, np.ndarray]) -> list[dict[str, list]]:
    """`replay_updates`'s `noise` from flat arrays `{"normal_K" | "uniform_K": [n_updates, ...]}`: per
    update, the K-th normal and uniform draws in order of K."""
    keys = sorted(draws)
    n_updates = len(draws[keys[0]])
    return [{kind: [jnp.asarray(draws[key][i]) for key in keys if key.startswith(f"{kind}_")]
             for kind in ("normal", "uniform")} for i in range(n_updates)]


@contextlib.contextmanager
def injected_draws(normal: list, uniform: list) -> Iterator[None]:
    """While active, `jax.random.normal` and `jax.random.uniform` return the next array of `normal` and
    `uniform` (scaled to the asked-for range) instead of drawing; each array's shape must be the one asked."""
    queues = {"normal": list(normal), "uniform": list(uniform)}
    originals = jax.random.normal, jax.random.uniform

    def take(kind: str, shape) -> jax.Array:
        if not queues[kind]:
            raise RuntimeError(f"the update asked for more {kind} draws than were given")
        value = queues[kind].pop(0)
        if tuple(value.shape) != tuple(shape):
            raise RuntimeError(f"{kind} draw of shape {tuple(value.shape)} given where {tuple(shape)} was asked")
        return value

    def normal_draw(key, shape=(), dtype=None):
        return take("normal", shape)

    def uniform_draw(key, shape=(), dtype=None, minval=0.0, maxval=1.0):
        return minval + (maxval - minval) * take("uniform", shape)

    jax.random.normal, jax.random.uniform = normal_draw, uniform_draw  # type: ignore[assignment]
    try:
        yield
        if queues["normal"] or queues["uniform"]:
            raise RuntimeError("the update used fewer draws than were given")
    finally:
        jax.random.normal, jax.random.uniform = originals


def replay_updates(algo: str, config: LearnerConfig, networks: dict[str, Params], batches: Sequence[Batch],
                   noise: Sequence[dict[str, list]] | None = None) -> tuple[dict[str, Params], dict[str, np.ndarray]]:
    """Start `algo` from `networks` (fresh Adam states, step 0) and apply one update per batch, in order.

    `noise`, one `{"normal": [...], "uniform": [...]}` per batch (uniform draws on [0, 1)), replaces
    the update's random draws (see `injected_draws`). Returns the networks after the last update and
    each logged loss per update; losses an update skips (TD3+BC's actor on odd steps reports NaN)
    are left out, as d3rlpy leaves them out.
    """
    if algo not in _ALGOS:
        raise ValueError(f"no update replay for {algo!r}; supported: {', '.join(SUPPORTED)}")
    module, read, write = _ALGOS[algo]
    first = batches[0]
    spec = DatasetSpec(observation_dim=first.observations.shape[-1], action_dim=first.actions.shape[-1])
    state = write(module.init(config, spec, jax.random.key(0)), networks)

    def update(state, batch, draws):
        with injected_draws(draws["normal"], draws["uniform"]) if draws is not None else contextlib.nullcontext():
            return module.update(state, batch, jax.random.key(0), config=config)

    update = jax.jit(update)
    losses: dict[str, list[float]] = {}
    for i, batch in enumerate(batches):
        state, metrics = update(state, batch, None if noise is None else noise[i])
        for key, value in metrics.items():
            if np.isfinite(value):
                losses.setdefault(key, []).append(float(value))
    return read(state), {key: np.asarray(values) for key, values in losses.items()}
