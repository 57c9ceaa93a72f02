"""Model-based evaluation: a policy's value from rollouts in a dynamics ensemble fitted to the logs.

Each elite of the ensemble (`tether.dynamics`) is a model of the world on its own: the policy is rolled
out in each from the logged episodes' first states, for as many steps as the longest logged episode,
sampling each member's Gaussian, ending where the task's known rule or the learned classifier says.
The estimate is the elites' mean discounted return; the interval spans the elites (model uncertainty)
widened by each one's sampling error over start states. Discrete actions enter the model one-hot. When
the logs visit a small set of distinct observations (a finite-state process, at most
`MAX_FINITE_STATES`), each imagined observation is snapped to the nearest logged one, so the model
stays a model of that process and a policy defined on its states can act. Otherwise imagined
observations are clipped to the logged range widened by its own width on each side (an unstable model
must not overflow; such rollouts already fail the disagreement diagnostic).

The diagnostics say when the number rests on extrapolation: the share of imagined steps where the
elites disagree more than on any logged step (MOReL's unknown states: the policy has taken the model
where it has no data), and the model's held-out error on whole held-out episodes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from tether.algos.model_file import read_model_file, write_model_file
from tether.data import LoggedDataset
from tether.dynamics import (
    DynamicsConfig,
    DynamicsData,
    DynamicsModel,
    DynamicsReport,
    disagreement_at,
    fit_dynamics,
    init_dynamics,
    rule_for,
)
from tether.dynamics.ensemble import disagreement, predict, termination_logits
from tether.dynamics.termination import terminated
from tether.ope.evaluate import Estimate, estimand_text
from tether.ope.policy import as_policy

THRESHOLDS = {"unknown_share": 0.1,  # over 10% of imagined steps beyond the logged disagreement
              "holdout_mse": 0.5}  # the model misses over half of the held-out variance of its targets
MAX_FINITE_STATES = 5000
MAX_STARTS = 500  # logged first states the rollouts start from (a random subset of more episodes)
DISAGREEMENT_ROWS = 50_000


@dataclass(frozen=True)
class EvaluationModel:
    """A dynamics ensemble fitted to a log in its own units, ready to evaluate policies on it."""

    model: DynamicsModel
    report: DynamicsReport
    discrete_actions: int | None
    logged_disagreement: float  # the largest disagreement of the elites on logged (s, a)
    finite_states: np.ndarray | None  # the distinct logged observations, when there are few

    def disagreement(self, observations: np.ndarray, encoded_actions: np.ndarray) -> np.ndarray:
        """The elites' disagreement at `[rows, obs_dim]` observations and encoded actions, `[rows]`."""
        return disagreement_at(self.model, observations, encoded_actions)

    def snap(self, observations: np.ndarray) -> np.ndarray:
        """`[..., obs_dim]` observations moved to the nearest logged one on a finite-state log (else unchanged)."""
        if self.finite_states is None:
            return observations
        flat = observations.reshape(-1, observations.shape[-1])
        distances = ((flat[:, None, :] - self.finite_states[None]) ** 2).sum(-1)
        return self.finite_states[distances.argmin(1)].reshape(observations.shape)

    def encode(self, actions: np.ndarray) -> np.ndarray:
        """Actions as the model reads them: one-hot for discrete actions."""
        if self.discrete_actions is None:
            return np.asarray(actions, np.float32)
        return np.eye(self.discrete_actions, dtype=np.float32)[np.asarray(actions, int)]


def fit_evaluation_model(dataset: LoggedDataset, config: DynamicsConfig | None = None,
                         seed: int = 0) -> EvaluationModel:
    """Fit the ensemble to `dataset` (logged units; whole episodes held out; see `tether.dynamics`)."""
    tr = dataset.transitions()
    space = dataset.action_space
    n = space.n if space.is_discrete else None
    actions = (np.eye(n, dtype=np.float32)[tr.actions.astype(int)] if n is not None
               else tr.actions.astype(np.float32))
    known = np.ones(len(tr.rewards), bool) if dataset.next_observations is not None else tr.terminations < 0.5
    data = DynamicsData(tr.observations.astype(np.float32), actions, tr.rewards.astype(np.float32),
                        tr.next_observations.astype(np.float32), tr.terminations, known, tr.episode_ids)
    model, report = fit_dynamics(data, config or DynamicsConfig(), seed=seed,
                                 termination=rule_for(dataset.metadata.get("env_id")))
    rows = np.random.default_rng(seed).permutation(len(actions))[:DISAGREEMENT_ROWS]
    fitted = EvaluationModel(model, report, n, 0.0, _finite_states(dataset))
    logged = float(fitted.disagreement(data.observations[rows], actions[rows]).max())
    return dataclasses.replace(fitted, logged_disagreement=logged)


def _finite_states(dataset: LoggedDataset) -> np.ndarray | None:
    distinct = np.unique(dataset.observations.astype(np.float32), axis=0)
    return distinct if len(distinct) <= MAX_FINITE_STATES else None


def save_evaluation_model(path: Path, model: EvaluationModel, dataset: LoggedDataset) -> Path:
    """Write `model` (fitted to `dataset`) to a checked model file, atomically (no pickle)."""
    meta = {"type": "evaluation-dynamics", "fingerprint": dataset.fingerprint(),
            "hidden_dims": list(model.model.hidden_dims),
            "members": int(jax.tree.leaves(model.model.params)[0].shape[0]),
            "elites": int(model.model.elites.shape[0]), "discrete_actions": model.discrete_actions,
            "logged_disagreement": model.logged_disagreement, "report": dataclasses.asdict(model.report)}
    return write_model_file(path, "dynamics", "evaluation-dynamics",
                            {"config": json.dumps(meta), "state": serialization.to_state_dict(model.model)})


def load_evaluation_model(path: Path, dataset: LoggedDataset) -> EvaluationModel | None:
    """The model `save_evaluation_model` wrote for this very dataset, or None when the file is absent or holds
    a model of other data. Raises `ModelFileError` for a damaged file."""
    if not Path(path).exists():
        return None
    payload = read_model_file(path, "dynamics", "evaluation-dynamics")
    meta = json.loads(payload["config"])
    if meta["fingerprint"] != dataset.fingerprint():
        return None
    n = meta["discrete_actions"]
    template = init_dynamics(jax.random.PRNGKey(0), dataset.observation_dim,
                             n if n is not None else dataset.action_space.action_dim, meta["members"], meta["elites"],
                             meta["hidden_dims"])
    model = serialization.from_state_dict(template, payload["state"])
    return EvaluationModel(model, DynamicsReport(**meta["report"]), n, float(meta["logged_disagreement"]),
                           _finite_states(dataset))


@jax.jit
def _member_step(model: DynamicsModel, observations: jax.Array, actions: jax.Array, key: jax.Array):
    """One step in every elite separately: `observations [members, rows, obs_dim]`, `actions [members, rows, a]`
    -> next observations, rewards, terminations `[members, rows]` and each row's disagreement."""
    flat_obs, flat_act = observations.reshape(-1, observations.shape[-1]), actions.reshape(-1, actions.shape[-1])
    prediction = predict(model, flat_obs, flat_act)
    members, rows = observations.shape[:2]
    own = jnp.arange(members)[:, None] * rows + jnp.arange(rows)[None, :]  # member k's own rows
    mean = prediction.mean[jnp.arange(members)[:, None], own]
    std = prediction.std[jnp.arange(members)[:, None], own]
    sample = mean + std * jax.random.normal(key, mean.shape)
    next_observations = observations + sample[..., :-1]
    logged_next = next_observations * model.observation_std + model.observation_mean
    flat_next = next_observations.reshape(-1, observations.shape[-1])
    done = terminated(model.termination, logged_next.reshape(flat_next.shape),
                      termination_logits(model.termination_params, model, flat_next)).reshape(members, rows)
    return next_observations, sample[..., -1], done, disagreement(prediction).reshape(members, rows)


def model_based_estimate(policy, dataset: LoggedDataset, gamma: float = 0.99, model: EvaluationModel | None = None,
                         level: float = 0.95, seed: int = 0) -> Estimate:
    """The model-based estimate of `policy`'s value on `dataset` (see the module docstring).

    `policy` is anything `tether.ope.as_policy` accepts; `model` a fitted `EvaluationModel` to reuse
    across candidates (fitted here when None).
    """
    model = model or fit_evaluation_model(dataset, seed=seed)
    target = as_policy(policy, n_actions=model.discrete_actions)
    rng = np.random.default_rng(seed)
    starts = dataset.observations[dataset.episode_starts].astype(np.float32)
    if len(starts) > MAX_STARTS:
        starts = starts[rng.choice(len(starts), MAX_STARTS, replace=False)]
    members = int(model.model.elites.shape[0])
    observations = np.broadcast_to(starts, (members, *starts.shape)).copy()
    alive = np.ones(observations.shape[:2], bool)
    returns = np.zeros(observations.shape[:2])
    low, high = dataset.observations.min(0), dataset.observations.max(0)
    low, high = low - (high - low), high + (high - low)  # imagined states stay within the logged range widened by it
    unknown, steps = 0.0, 0.0
    key = jax.random.PRNGKey(seed)
    for t in range(int(dataset.episode_lengths.max())):
        flat = observations.reshape(-1, observations.shape[-1])
        actions = model.encode(target.actions(flat, None, rng)).reshape(members, len(starts), -1)
        key, step_key = jax.random.split(key)
        next_obs, rewards, done, disagree = (np.asarray(v) for v in _member_step(
            model.model, jnp.asarray(observations), jnp.asarray(actions), step_key))
        returns += alive * gamma**t * rewards
        unknown += float((alive * (disagree > model.logged_disagreement)).sum())
        steps += float(alive.sum())
        alive &= ~done
        observations = np.where(alive[..., None], model.snap(np.clip(next_obs, low, high)), observations)
        if not alive.any():
            break
    per_member, errors = returns.mean(axis=1), returns.std(axis=1, ddof=1) / np.sqrt(len(starts))
    z = float(jax.scipy.stats.norm.ppf(0.5 + level / 2))
    interval = (float(np.min(per_member - z * errors)), float(np.max(per_member + z * errors)))
    unknown_share = unknown / max(steps, 1.0)
    warnings = []
    if unknown_share > THRESHOLDS["unknown_share"]:
        warnings.append(f"{unknown_share:.0%} of the imagined steps go where the model's members disagree more than "
                        "on any logged step: the policy leaves what the logs show, and the model is guessing")
    if model.report.elite_mse > THRESHOLDS["holdout_mse"]:
        warnings.append(f"the dynamics model misses {model.report.elite_mse:.0%} of the held-out episodes' variance: "
                        "it is too poor a model of these logs to evaluate with")
    diagnostics = {"unknown_share": unknown_share, "member_spread": float(per_member.max() - per_member.min()),
                   "holdout_mse": model.report.elite_mse, "holdout_nll": model.report.elite_nll,
                   "starts": float(len(starts))}
    return Estimate("MB", float(per_member.mean()), interval, estimand_text(gamma, dataset), "not used",
                    diagnostics=diagnostics, warnings=warnings)
