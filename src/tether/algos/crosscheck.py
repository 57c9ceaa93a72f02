"""Replay a learner's updates from given weights on given batches, to compare with another implementation.

`bench/update_crosscheck.py` starts tether and d3rlpy from the same weights and compares the
weights each side ends with; `tests/algos/test_crosscheck.py` replays a small shipped d3rlpy trace.
Weights are named per network (`actor`, `critic`, `target_actor`, `target_critic`; BC's `policy`),
each a flax parameter tree of tether's layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from flax.training.train_state import TrainState

from tether._types import Params
from tether.algos import bc, td3_plus_bc
from tether.algos.base import Batch, DatasetSpec, LearnerConfig


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


# algorithm: (module, read the networks of a state, a state with these networks)
_ALGOS: dict[str, tuple[Any, Callable, Callable]] = {
    "td3_plus_bc": (td3_plus_bc, _td3_plus_bc_networks, _td3_plus_bc_with),
    "bc": (bc, _bc_networks, _bc_with),
}
SUPPORTED = tuple(_ALGOS)


def replay_updates(algo: str, config: LearnerConfig, networks: dict[str, Params],
                   batches: Sequence[Batch]) -> tuple[dict[str, Params], dict[str, np.ndarray]]:
    """Start `algo` from `networks` (fresh Adam states, step 0) and apply one update per batch, in order.

    Returns the networks after the last update and each logged loss per update; losses an update
    skips (TD3+BC's actor on odd steps reports NaN) are left out, as d3rlpy leaves them out.
    """
    if algo not in _ALGOS:
        raise ValueError(f"no update replay for {algo!r}; supported: {', '.join(SUPPORTED)}")
    module, read, write = _ALGOS[algo]
    first = batches[0]
    spec = DatasetSpec(observation_dim=first.observations.shape[-1], action_dim=first.actions.shape[-1])
    state = write(module.init(config, spec, jax.random.key(0)), networks)
    # the key only feeds target smoothing noise; set `target_smoothing_sigma=0` to compare step by step
    update = jax.jit(lambda s, b: module.update(s, b, jax.random.key(0), config=config))
    losses: dict[str, list[float]] = {}
    for batch in batches:
        state, metrics = update(state, batch)
        for key, value in metrics.items():
            if np.isfinite(value):
                losses.setdefault(key, []).append(float(value))
    return read(state), {key: np.asarray(values) for key, values in losses.items()}
