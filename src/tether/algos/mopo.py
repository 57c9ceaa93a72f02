"""MOPO: SAC in a learned model whose rewards are penalised by the model's own uncertainty.

A Gaussian dynamics ensemble is fitted to the logs; the policy trains on short imagined rollouts from
logged states, with reward `r - penalty_coef * max_i ||sigma_i(s, a)||` (the largest predicted std of
any elite, over the change in observation and the reward, in logged units), plus a small share of
logged transitions. Yu et al. 2020, "MOPO: Model-based Offline Policy Optimization" (Algorithm 2).

Differences from the paper's code (the shared machinery is described in `tether.algos.model_based`):
rollouts are started every update (50 per update, the same rate as 50,000 every 1,000 updates) rather
than in bursts; one L2 weight decay for all of the model's layers (MOPO: 2.5e-5 to 1e-4 by layer);
the model keeps 250,000 imagined transitions by default (MOPO: 5 epochs' worth, 1.25M at h = 5), to
keep checkpoints small; observations are standardised. Defaults `rollout_horizon=5`,
`penalty_coef=1.0` are the paper's most common pair (Table 6: (h, lambda) per dataset).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tether._types import Metrics, PRNGKey
from tether.algos import model_based
from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.model_based import ModelBasedConfig, ModelBasedState
from tether.dynamics import ModelStep, aleatoric_uncertainty, ensemble_spread, predict
from tether.errors import ConfigError
from tether.nets import sac

PENALTIES = ("aleatoric", "disagreement")


@dataclass(frozen=True, kw_only=True)
class MOPOConfig(ModelBasedConfig):
    """MOPO (the shared model-based arguments: `tether.algos.model_based.ModelBasedConfig`).

    Args:
        penalty_coef: lambda, the weight of the uncertainty penalty (1.0; the paper searches 1 and 5,
            OfflineRL-Kit suggests 0.5 to 5 per dataset).
        penalty: the uncertainty `u(s, a)`: `"aleatoric"`, the largest predicted std of any elite (the
            paper's), or `"disagreement"`, the largest distance of an elite's mean from the elites'
            mean (MOPO's code without learned variance, OfflineRL-Kit's "pairwise-diff"). The
            predicted std grows away from the data only as much as the logged noise lets it; the
            elites' means fan out there whatever the noise.
    """

    TYPE = "mopo"
    penalty_coef: float = 1.0
    penalty: str = "aleatoric"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.penalty_coef < 0:
            raise ConfigError("penalty_coef", f"must be non-negative, got {self.penalty_coef}", "use 0.5 to 5")
        if self.penalty not in PENALTIES:
            raise ConfigError("penalty", f"must be one of {', '.join(PENALTIES)}, got {self.penalty!r}",
                              "use 'aleatoric' (the paper's) or 'disagreement'")


def init(config: MOPOConfig, spec: DatasetSpec, key: PRNGKey) -> ModelBasedState:
    return ModelBasedState(**model_based.init_fields(config, spec, key))


def prepare(state: ModelBasedState, dataset: Any, scaling: Any, *, config: MOPOConfig, seed: int,
            run_dir: Path | None, log: Callable[[str], None]) -> ModelBasedState:
    """Fit the ensemble (or reuse `run_dir`'s), and warn when the penalty would drown the logged rewards."""
    template = jax.tree.map(lambda x: x[0], state.dynamics)
    data = model_based.dynamics_data(dataset, scaling)
    model = model_based.fitted_dynamics(template, dataset, data, scaling, config, seed, run_dir, log)
    rows = np.random.default_rng(seed).permutation(len(data.rewards))[:20_000]
    measure = aleatoric_uncertainty if config.penalty == "aleatoric" else ensemble_spread
    uncertainty = float(jnp.mean(measure(model, predict(model, jnp.asarray(data.observations[rows]),
                                                        jnp.asarray(data.actions[rows])))))
    rewards = dataset.rewards
    spread = float(rewards.max() - rewards.min())
    if config.penalty_coef * uncertainty > max(spread, 1e-8):
        warnings.warn(f"mopo: penalty_coef {config.penalty_coef} times the model's uncertainty on the logged steps "
                      f"({uncertainty:.3g}) exceeds the whole range of logged rewards ({spread:.3g}): the penalty "
                      "removes all reward and the policy learns only to stay near the data. Lower penalty_coef, "
                      "or train the model longer (model_max_steps)", stacklevel=2)
    return model_based.with_dynamics(state, model)


def penalised(state: ModelBasedState, step: ModelStep, *, config: MOPOConfig) -> tuple[jax.Array, jax.Array, Metrics]:
    """MOPO's `r - lambda * u(s, a)`, `u` in logged reward units scaled like the learner's rewards."""
    uncertainty = step.aleatoric if config.penalty == "aleatoric" else step.spread
    penalty = config.penalty_coef * uncertainty * state.dynamics.reward_scale
    return step.rewards - penalty, step.terminations, {"model_penalty": penalty}


def update(state: ModelBasedState, batch: Batch, key: PRNGKey, *,
           config: MOPOConfig) -> tuple[ModelBasedState, Metrics]:
    return model_based.update(state, batch, key, config=config, pessimism=partial(penalised, config=config))


SPEC = AlgoSpec("mopo", MOPOConfig, init=init, update=update, act=sac.act, q_value=sac.q_value,
                prepare=prepare)
