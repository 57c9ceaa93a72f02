"""Load-time validation of a `LoggedDataset`: canonical dtypes, then every check users need.

Each failure raises `DatasetError` naming the field, the row (with its episode and step) and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tether.data.errors import DatasetError

if TYPE_CHECKING:
    from tether.data.dataset import LoggedDataset

_BOUND_TOLERANCE = 1e-5  # float32 rounding of logged actions at the bounds
_PROB_TOLERANCE = 1e-6


def _where(row: int, starts: np.ndarray) -> str:
    episode = int(np.searchsorted(starts, row, side="right") - 1)
    return f"row {row} (episode {episode}, step {row - int(starts[episode])})"


def _as_array(name: str, value: Any, dtype: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError("ragged or non-numeric values")
        return array.astype(dtype, copy=False)
    except (TypeError, ValueError) as err:
        raise DatasetError(name, f"cannot be read as {np.dtype(dtype).name} ({err})",
                           "give a numeric array with one row per step") from None


def _check_finite(name: str, array: np.ndarray, starts: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        flat = np.flatnonzero(bad.reshape(len(array), -1).any(axis=1))
        row = int(flat[0])
        kind = "NaN" if np.isnan(array[row]).any() else "infinite"
        raise DatasetError(name, f"{kind} value ({len(flat)} rows affected)",
                           "drop or impute those steps before loading", where=_where(row, starts))


EXTREME_MAGNITUDE = 1e12  # past this, float32 sums and squares lose precision or overflow


class ExtremeValueWarning(UserWarning):
    """A column holds finite values so large that learning on them is numerically fragile."""


def _warn_extreme(name: str, array: np.ndarray, starts: np.ndarray) -> None:
    """Warn (naming the column, the largest magnitude and its row) when finite values pass `EXTREME_MAGNITUDE`."""
    if array.size == 0:
        return
    magnitude = np.abs(array.reshape(len(array), -1)).max(axis=1)
    row = int(np.argmax(magnitude))
    if magnitude[row] > EXTREME_MAGNITUDE:
        import warnings

        warnings.warn(f"{name}: values up to {float(magnitude[row]):.3g} at {_where(row, starts)}; values past "
                      f"{EXTREME_MAGNITUDE:.0e} make float32 learning fragile. Fix: rescale the column (tether keeps "
                      "its statistics in float64, so nothing overflows, but such data rarely mean what they say)",
                      ExtremeValueWarning, stacklevel=5)


def _check_length(name: str, array: np.ndarray, n: int) -> None:
    if len(array) != n:
        raise DatasetError(name, f"has {len(array)} rows but rewards has {n}",
                           "give every step array one row per logged step")


def _flags(name: str, value: Any, n: int) -> np.ndarray:
    array = np.asarray(value)
    _check_length(name, array, n)
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise DatasetError(name, "must hold only booleans or 0/1", "encode the flag as true/false")
    return array.astype(bool)


def _episode_starts(value: Any, n: int) -> np.ndarray:
    starts = _as_array("episode_starts", value, np.int64).ravel()
    if len(starts) == 0 or starts[0] != 0:
        raise DatasetError("episode_starts", "must begin with 0", "give the first step of every episode")
    if np.any(np.diff(starts) <= 0) or starts[-1] >= n:
        raise DatasetError("episode_starts", f"must increase strictly and stay below {n} steps",
                           "give each episode's first row once, in order (no empty episodes)")
    return starts


def _check_markers(terminations: np.ndarray, truncations: np.ndarray, starts: np.ndarray,
                   metadata: dict[str, Any]) -> np.ndarray:
    """Every episode but the last must end on a marker, and no marker may sit inside an episode."""
    n = len(terminations)
    ends = np.append(starts[1:], n) - 1
    marked = terminations | truncations
    is_end = np.zeros(n, bool)
    is_end[ends] = True
    inside = np.flatnonzero(marked & ~is_end)
    if len(inside):
        raise DatasetError("terminations/truncations", "a step is flagged as an episode end inside an episode",
                           "start a new episode after every terminated or truncated step",
                           where=_where(int(inside[0]), starts))
    unmarked = np.flatnonzero(~marked[ends[:-1]])
    if len(unmarked):
        e = int(unmarked[0])
        raise DatasetError("terminations/truncations",
                           f"episode {e} ends with neither flag set (episodes without an end marker: {len(unmarked)})",
                           "set truncated=true on the last step of an episode that was cut, "
                           "or terminated=true if it ended",
                           where=_where(int(ends[e]), starts))
    if not marked[-1]:
        # The end of the array is a boundary (D4RL cuts its arrays mid-episode): keep it as truncated.
        truncations = truncations.copy()
        truncations[-1] = True
        metadata["trailing_partial_episode"] = True
    return truncations


def _check_actions(ds: LoggedDataset, n: int, starts: np.ndarray) -> np.ndarray:
    space = ds.action_space
    if space.is_discrete:
        raw = np.asarray(ds.actions)
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        _check_length("actions", raw, n)
        if raw.ndim != 1:
            raise DatasetError("actions", f"discrete actions need shape [N], got {raw.shape}",
                               "give one integer action id per step")
        values = _as_array("actions", raw, np.float64)
        _check_finite("actions", values, starts)
        bad = np.flatnonzero((values != np.round(values)) | (values < 0) | (values >= space.n_actions))
        if len(bad):
            value = float(values[bad[0]])
            raise DatasetError("actions", f"value {value:g} is not in the declared set 0..{space.n_actions - 1}",
                               "map actions to ids 0..n-1 or declare a larger n", where=_where(int(bad[0]), starts))
        return values.astype(np.int64)
    actions = _as_array("actions", ds.actions, np.float32)
    if actions.ndim == 1:
        actions = actions[:, None]
    _check_length("actions", actions, n)
    if actions.ndim != 2 or actions.shape[1] != space.action_dim:
        raise DatasetError("actions", f"shape {actions.shape} does not match the action space's "
                           f"{space.action_dim} dimensions", "declare the action space that produced these actions")
    _check_finite("actions", actions, starts)
    low, high = space.bounds
    tolerance = _BOUND_TOLERANCE * np.maximum(1.0, np.abs(high - low))
    outside = (actions < low - tolerance) | (actions > high + tolerance)
    if outside.any():
        row, dim = (int(x) for x in np.argwhere(outside)[0])
        raise DatasetError("actions", f"dimension {dim} value {actions[row, dim]:.6g} is outside the declared "
                           f"bounds [{low[dim]:.6g}, {high[dim]:.6g}] ({int(outside.any(1).sum())} rows)",
                           "clip or rescale the actions, or declare the bounds the logging policy used",
                           where=_where(row, starts))
    return actions


def _check_propensities(ds: LoggedDataset, n: int, starts: np.ndarray) -> tuple[Any, Any]:
    log_probs = ds.behavior_log_probs
    if log_probs is not None:
        log_probs = _as_array("behavior_log_probs", log_probs, np.float64).ravel()
        _check_length("behavior_log_probs", log_probs, n)
        bad = np.isnan(log_probs) | (log_probs == -np.inf) | (log_probs == np.inf)
        if ds.action_space.is_discrete:
            bad |= log_probs > np.log1p(_PROB_TOLERANCE)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            rule = "(0, 1]" if ds.action_space.is_discrete else "(0, inf) (a density)"
            raise DatasetError("behavior_probs", f"propensity {np.exp(log_probs[row]):.6g} is outside {rule}",
                               "log the probability the behaviour policy gave the logged action, or leave "
                               "propensities out", where=_where(row, starts))
    probs = ds.action_probs
    if probs is not None:
        if not ds.action_space.is_discrete:
            raise DatasetError("action_probs", "is only defined for discrete actions",
                               "give behavior_log_probs for continuous actions")
        probs = _as_array("action_probs", probs, np.float32)
        _check_length("action_probs", probs, n)
        if probs.ndim != 2 or probs.shape[1] != ds.action_space.n:
            raise DatasetError("action_probs", f"shape {probs.shape} is not [N, {ds.action_space.n}]",
                               "give one probability per action per step")
        bad_rows = np.flatnonzero((probs < 0).any(1) | (np.abs(probs.sum(1) - 1.0) > 1e-4) | ~np.isfinite(probs).all(1))
        if len(bad_rows):
            raise DatasetError("action_probs", "a row is not a probability distribution",
                               "give non-negative probabilities summing to 1", where=_where(int(bad_rows[0]), starts))
    return log_probs, probs


def _check_masks(ds: LoggedDataset, actions: np.ndarray, probs: np.ndarray | None, n: int,
                 starts: np.ndarray) -> np.ndarray | None:
    if ds.action_masks is None:
        return None
    if not ds.action_space.is_discrete:
        raise DatasetError("action_masks", "are only defined for discrete actions", "drop them for continuous actions")
    masks = np.asarray(ds.action_masks)
    _check_length("action_masks", masks, n)
    if masks.ndim != 2 or masks.shape[1] != ds.action_space.n or not np.isin(masks, (0, 1)).all():
        raise DatasetError("action_masks", f"shape {masks.shape} is not a [N, {ds.action_space.n}] boolean array",
                           "give one allowed/forbidden flag per action per step")
    masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.any(axis=1))
    if len(empty):
        raise DatasetError("action_masks", "a state allows no action at all", "allow at least one action per step",
                           where=_where(int(empty[0]), starts))
    forbidden = np.flatnonzero(~masks[np.arange(n), actions])
    if len(forbidden):
        row = int(forbidden[0])
        raise DatasetError("action_masks", f"the logged action {int(actions[row])} is masked out "
                           f"({len(forbidden)} rows)", "fix the mask or the logged action: a taken action was allowed",
                           where=_where(row, starts))
    if probs is not None and np.any(probs[~masks] > 1e-6):
        row = int(np.flatnonzero(np.any((probs > 1e-6) & ~masks, axis=1))[0])
        raise DatasetError("action_probs", "give probability to a masked action", "zero the masked actions' "
                           "probabilities and renormalise", where=_where(row, starts))
    return masks


def canonicalize_and_validate(ds: LoggedDataset) -> dict[str, Any]:
    """Return the canonical arrays for `ds`'s fields, or raise `DatasetError`."""
    rewards = _as_array("rewards", ds.rewards, np.float32)
    if rewards.ndim == 2 and rewards.shape[1] == 1:
        rewards = rewards[:, 0]
    n = len(rewards)
    if n == 0:
        raise DatasetError("rewards", "the dataset has no steps", "load a file that holds logged steps")
    if rewards.ndim != 1:
        raise DatasetError("rewards", f"needs shape [N], got {rewards.shape}", "give one scalar reward per step")
    starts = _episode_starts(ds.episode_starts, n)
    observations = _as_array("observations", ds.observations, np.float32)
    if observations.ndim == 1:
        observations = observations[:, None]
    _check_length("observations", observations, n)
    if observations.ndim != 2:
        raise DatasetError("observations", f"needs shape [N, obs_dim], got {observations.shape}",
                           "flatten each observation into a vector")
    _check_finite("observations", observations, starts)
    _check_finite("rewards", rewards, starts)
    _warn_extreme("observations", observations, starts)
    _warn_extreme("rewards", rewards, starts)
    terminations = _flags("terminations", ds.terminations, n)
    metadata = dict(ds.metadata)
    truncations = _check_markers(terminations, _flags("truncations", ds.truncations, n), starts, metadata)
    out: dict[str, Any] = {"metadata": metadata,
        "observations": observations, "rewards": rewards, "terminations": terminations,
        "truncations": truncations, "episode_starts": starts, "actions": _check_actions(ds, n, starts)}
    if ds.next_observations is not None:
        next_obs = _as_array("next_observations", ds.next_observations, np.float32).reshape(observations.shape[0], -1)
        if next_obs.shape != observations.shape:
            raise DatasetError("next_observations", f"shape {next_obs.shape} differs from observations "
                               f"{observations.shape}", "give one successor observation per step")
        _check_finite("next_observations", next_obs, starts)
        out["next_observations"] = next_obs
    out["behavior_log_probs"], out["action_probs"] = _check_propensities(ds, n, starts)
    out["action_masks"] = _check_masks(ds, out["actions"], out["action_probs"], n, starts)
    extras = {}
    for key, value in ds.extras.items():
        array = np.asarray(value)
        _check_length(f"extras/{key}", array, n)
        extras[key] = array
    out["extras"] = extras
    return out
