"""MOReL: optimise the policy in a pessimistic MDP where the model's unknown states end the episode in HALT.

A Gaussian dynamics ensemble is fitted to the logs. An imagined step is unknown when the elites'
mean next observations disagree more than the logs' own transitions ever make them disagree
(`threshold_coef` times the largest disagreement over the logged `(s, a)`); the episode then ends in
an absorbing HALT state paid `r_min - halt_penalty * (r_max - r_min)`. Kidambi et al. 2020, "MOReL:
Model-Based Offline Reinforcement Learning" (Algorithm 1, the practical version of section 4).

Differences from the paper, each with its reason:
- The policy optimiser is SAC with N critics on short branched rollouts (as Unifloral's JAX MOReL),
  not model-based NPG on full-horizon rollouts: it shares tether's engine and MOPO's machinery
  (`tether.algos.model_based`). `python -m bench.morel_npg` compares the two in one pessimistic MDP
  (bench/NOTES.md: on hopper SAC loses to the paper's BC-started NPG; the optimiser is open).
- The threshold is a multiple of the maximum logged disagreement (the official code's
  `pessimism_coef * max`; the paper's Table 7 finds 1x best), not `mean + beta * std`.
- HALT pays its reward once and ends the episode (the official code truncates with
  `truncate_reward`; an absorbing state paying `r_min - kappa` forever would add
  `gamma / (1 - gamma)` times as much). The penalty is in units of the logged rewards' range, so
  the default means the same on any task (the paper: 30 to 200 on MuJoCo, about 5 to 30 ranges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tether._types import Metrics, PRNGKey
from tether.algos import model_based
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.model_based import ModelBasedConfig, ModelBasedState
from tether.dynamics import ModelStep, disagreement_at
from tether.errors import ConfigError
from tether.nets import sac

DISAGREEMENT_ROWS = 100_000  # logged (s, a) the threshold is measured on (a random subset of bigger logs)


@dataclass(frozen=True, kw_only=True)
class MOReLConfig(ModelBasedConfig):
    """MOReL (the shared model-based arguments: `tether.algos.model_based.ModelBasedConfig`).

    Args:
        threshold_coef: an imagined step is unknown when the elites disagree more than this times the
            largest disagreement on the logged steps (1.0).
        halt_penalty: HALT pays `r_min - halt_penalty * (r_max - r_min)` of the logged rewards (10).
    """

    TYPE = "morel"
    threshold_coef: float = 1.0
    halt_penalty: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold_coef <= 0 or self.halt_penalty < 0:
            raise ConfigError("threshold_coef", f"must be positive with halt_penalty non-negative, got "
                              f"{self.threshold_coef} and {self.halt_penalty}", "use 1.0 and 10")


class MOReLState(ModelBasedState):
    halt_threshold: jax.Array  # scalar: disagreement above it is unknown
    halt_reward: jax.Array  # scalar, in the learner's reward units


def init(config: MOReLConfig, spec: DatasetSpec, key: PRNGKey) -> MOReLState:
    return MOReLState(**model_based.init_fields(config, spec, key), halt_threshold=jnp.float32(jnp.inf),
                      halt_reward=jnp.float32(0.0))


def prepare(state: MOReLState, dataset: Any, scaling: Any, *, config: MOReLConfig, seed: int,
            run_dir: Path | None, log: Callable[[str], None]) -> MOReLState:
    """Fit the ensemble (or reuse `run_dir`'s), then set the unknown-state threshold and HALT's reward."""
    template = jax.tree.map(lambda x: x[0], state.dynamics)
    data = model_based.dynamics_data(dataset, scaling)
    model = model_based.fitted_dynamics(template, dataset, data, scaling, config, seed, run_dir, log)
    rows = np.random.default_rng(seed).permutation(len(data.rewards))[:DISAGREEMENT_ROWS]
    logged = disagreement_at(model, data.observations[rows], data.actions[rows])
    threshold = config.threshold_coef * float(logged.max())
    low, high = float(data.rewards.min()), float(data.rewards.max())
    halt_reward = low - config.halt_penalty * (high - low)
    log(f"morel: unknown beyond disagreement {threshold:.3g} (logged steps: mean {logged.mean():.3g}, max "
        f"{logged.max():.3g}); HALT pays {halt_reward / scaling.reward_scale:.3g}")
    state = model_based.with_dynamics(state, model)
    n_seeds = state.step.shape[0]
    return state.replace(halt_threshold=jnp.full(n_seeds, threshold, jnp.float32),
                         halt_reward=jnp.full(n_seeds, halt_reward, jnp.float32))


def halting(state: MOReLState, step: ModelStep) -> tuple[jax.Array, jax.Array, Metrics]:
    """Unknown steps go to HALT: its reward, and the episode ends."""
    unknown = step.disagreement > state.halt_threshold
    rewards = jnp.where(unknown, state.halt_reward, step.rewards)
    return rewards, step.terminations | unknown, {"halt_rate": unknown.astype(jnp.float32)}


def update(state: MOReLState, batch: Batch, key: PRNGKey, *, config: MOReLConfig) -> tuple[MOReLState, Metrics]:
    return model_based.update(state, batch, key, config=config, pessimism=halting)


SPEC = AlgoSpec("morel", MOReLConfig, init=init, update=update, act=sac.act, q_value=sac.q_value,
                prepare=prepare)
