"""`LoggedDataset`: a logged decision dataset as columnar step arrays plus episode boundaries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np

from tether.errors import ConfigError, DatasetError


@dataclass(frozen=True)
class ActionSpace:
    """Continuous bounds (`low`, `high` per dimension) or a number of discrete actions `n`."""

    kind: Literal["continuous", "discrete"]
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    n: int | None = None

    @classmethod
    def continuous(cls, low: Sequence[float] | np.ndarray, high: Sequence[float] | np.ndarray) -> ActionSpace:
        """Bounds `[low, high]` per action dimension (raises `DatasetError` unless `low <= high`)."""
        low_arr, high_arr = np.asarray(low, np.float32).ravel(), np.asarray(high, np.float32).ravel()
        if low_arr.shape != high_arr.shape or np.any(low_arr > high_arr):
            raise DatasetError("action_space", f"bounds low={low_arr} high={high_arr} are not ordered pairs",
                               "give low and high of equal length with low <= high")
        return cls("continuous", low=low_arr, high=high_arr)

    @classmethod
    def discrete(cls, n: int) -> ActionSpace:
        """`n` discrete actions, with ids `0..n-1`."""
        if int(n) < 1:
            raise DatasetError("action_space", f"a discrete space needs n >= 1 actions, got {n}",
                               "give the number of distinct actions")
        return cls("discrete", n=int(n))

    @property
    def is_discrete(self) -> bool:
        """Whether actions are discrete ids rather than continuous vectors."""
        return self.kind == "discrete"

    @property
    def n_actions(self) -> int:
        """The number of discrete actions; a continuous space has none and raises."""
        if self.n is None:
            raise DatasetError("action_space", "is continuous and has no number of actions",
                               "use a method for continuous actions, or declare ActionSpace.discrete(n)")
        return self.n

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """`(low, high)` per action dimension; a discrete space has no bounds and raises."""
        if self.low is None or self.high is None:
            raise DatasetError("action_space", "is discrete and has no bounds",
                               "use a method for discrete actions, or declare ActionSpace.continuous(low, high)")
        return self.low, self.high

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        """A discrete policy's output as `[N, n]` probabilities: actions `[N]` become one-hot rows."""
        out = np.asarray(output)
        if out.ndim == 1:
            return np.eye(self.n_actions)[out.astype(int)]
        if out.ndim != 2 or out.shape[1] != self.n:
            raise ValueError(f"a discrete policy must return actions [N] or probabilities [N, {self.n}], "
                             f"got shape {out.shape}")
        return out.astype(np.float64)

    @property
    def action_dim(self) -> int:
        """Number of action dimensions (1 for discrete)."""
        return 1 if self.is_discrete else int(self.bounds[0].shape[0])

    def to_json(self) -> dict[str, Any]:
        """`{"kind": ..., "n": ...}` or `{"kind": ..., "low": [...], "high": [...]}`, as saved with a dataset."""
        if self.is_discrete:
            return {"kind": "discrete", "n": self.n}
        low, high = self.bounds
        return {"kind": "continuous", "low": low.tolist(), "high": high.tolist()}

    @classmethod
    def from_json(cls, data: Any) -> ActionSpace:
        """The space `to_json` wrote (raises `DatasetError` for anything else)."""
        try:
            if data.get("kind") == "discrete":
                return cls.discrete(int(data["n"]))
            if data.get("kind") == "continuous":
                return cls.continuous(data["low"], data["high"])
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            if isinstance(err, DatasetError):
                raise
            raise DatasetError("action_space", f"stored as {str(data)[:80]!r}, which is not a valid space ({err!r})",
                               "store {'kind': 'discrete', 'n': N} or {'kind': 'continuous', 'low': [...], "
                               "'high': [...]}, or declare the action space when loading") from None
        raise DatasetError("action_space", f"stored with kind {str(data)[:80]!r}",
                           "store kind 'discrete' or 'continuous', or declare the action space when loading")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActionSpace) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json()))


MAX_INFERRED_DISCRETE_ACTIONS = 256  # more distinct integral ids than this read as continuous unless declared
ActionKind = Literal["continuous", "discrete"]


def infer_action_space(actions: np.ndarray, kind: ActionKind | None = None) -> tuple[ActionSpace, str]:
    """The action space logged `actions` (`[N]` or `[N, d]`) imply, and a note saying why.

    One column of integral values in `0..255` (stored as ints or as floats such as 0.0/1.0/2.0) is
    discrete with `n = max + 1`; anything else is continuous with the logged min/max as bounds.
    `kind` overrides the guess (a user's `--action-space`); discrete then needs integral ids >= 0.
    """
    values = np.asarray(actions)
    if values.ndim == 1:
        values = values[:, None]
    numeric = values.dtype.kind in "biuf" and len(values) > 0
    finite = numeric and bool(np.isfinite(values).all())
    integral = finite and values.shape[1] == 1 and bool(np.all(values == np.round(values))) and values.min() >= 0
    if kind == "discrete" or (kind is None and integral and values.max() < MAX_INFERRED_DISCRETE_ACTIONS):
        if not integral:
            raise DatasetError("actions", "are declared discrete but are not one column of whole numbers >= 0",
                               "map each action to an id 0..n-1, or declare the actions continuous")
        n = int(values.max()) + 1
        why = "declared discrete" if kind == "discrete" else (
            f"inferred discrete: one column of whole numbers 0..{n - 1}"
            + ("" if np.issubdtype(values.dtype, np.integer) else " stored as floats"))
        return ActionSpace.discrete(n), f"{why}; n={n} from the largest logged id (declare it if larger)"
    if not finite:
        raise DatasetError("actions", "must be finite numbers to infer continuous bounds",
                           "drop or impute the non-finite actions, or declare the action space")
    why = "declared continuous" if kind == "continuous" else (
        "inferred continuous: " + ("more than one dimension" if values.shape[1] > 1 else
                                   "fractional or negative values" if not integral else
                                   f"{MAX_INFERRED_DISCRETE_ACTIONS} or more distinct ids"))
    space = ActionSpace.continuous(values.min(axis=0), values.max(axis=0))
    return space, f"{why}; bounds from the logged min/max (declare the true bounds)"


def prefer_stored_space(stored: Any, declared: ActionSpace | ActionKind | None) -> ActionSpace | ActionKind | None:
    """The action space a file stores (its JSON form, or None), unless the user declared a space or the
    other kind."""
    if isinstance(declared, ActionSpace) or stored is None:
        return declared
    space = ActionSpace.from_json(stored)
    return space if declared in (None, space.kind) else declared


def metadata_entry(stored: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    """`stored[key]` (default `{}`) when it is a JSON object, else a `DatasetError` naming the file and key."""
    entry = stored.get(key, {})
    if not isinstance(entry, dict):
        raise DatasetError(source, f"its {key!r} entry is JSON {type(entry).__name__}, not an object",
                           f"store {key} as a JSON object, or delete the entry")
    return entry


def parse_metadata_json(text: str | bytes, source: str, what: str = "metadata") -> dict[str, Any]:
    """A file's JSON metadata as a dict, or a `DatasetError` naming the file and where the JSON breaks."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(source, f"its {what} is not valid JSON (line {err.lineno} column {err.colno}: {err.msg})",
                           f"repair or delete the {what} (tether rewrites it when it saves the dataset)") from None
    except UnicodeDecodeError as err:
        where = str(err)
        raise DatasetError(source, f"its {what} is not valid JSON ({where})",
                           f"repair or delete the {what} (tether rewrites it when it saves the dataset)") from None
    if not isinstance(value, dict):
        raise DatasetError(source, f"its {what} is JSON {type(value).__name__}, not an object",
                           f"store the {what} as a JSON object, or delete it")
    return value


def parse_action_kind(text: str | None) -> ActionKind | None:
    """`"discrete"`, `"continuous"` or None (infer), as a user writes it after `--action-space`."""
    if text is None or text == "auto":
        return None
    if text not in ("discrete", "continuous"):
        raise ConfigError("--action-space", f"unknown action space {text!r}",
                          "use 'discrete', 'continuous' or 'auto' (infer from the logged actions)")
    return text  # type: ignore[return-value]


class Transitions(NamedTuple):
    """`(s, a, r, s', terminated)` tuples that never cross an episode boundary.

    `terminations` is the bootstrap mask's complement: a truncated (time-limit) step has
    `terminations == 0` and bootstraps from `next_observations`.
    """

    observations: np.ndarray  # [n, obs_dim]
    actions: np.ndarray  # [n, action_dim] or [n]
    rewards: np.ndarray  # [n]
    next_observations: np.ndarray  # [n, obs_dim]
    terminations: np.ndarray  # [n] float32
    episode_ids: np.ndarray  # [n] index of each transition's episode
    timesteps: np.ndarray  # [n] step index within the episode
    action_masks: np.ndarray | None = None  # [n, n_actions] actions allowed in the state (discrete)
    next_action_masks: np.ndarray | None = None  # [n, n_actions] allowed in the successor (all at an episode end)
    next_actions: np.ndarray | None = None  # [n, ...] the action logged at the successor (ReBRAC's critic
    #   penalty); at an episode's last step, where none was logged, the step's own action


@dataclass(frozen=True)
class Episode:
    """A view of one episode: step arrays of length `T` (`next_observations` may be None)."""

    index: int
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool
    next_observations: np.ndarray | None

    def __len__(self) -> int:
        return len(self.rewards)

    def discounted_return(self, gamma: float = 1.0) -> float:
        """`sum_t gamma^t r_t` over the episode's logged rewards."""
        return float(np.sum(self.rewards * gamma ** np.arange(len(self.rewards))))


@dataclass(frozen=True, eq=False)
class LoggedDataset:
    """A logged decision dataset: columnar step arrays plus episode boundaries.

    Every step array has length `N` (the number of steps). Episode `e` covers steps
    `episode_starts[e]` up to (not including) `episode_starts[e + 1]`; its last step is flagged
    `terminations` (the environment ended it: no bootstrap) or `truncations` (cut by a time limit or
    by the log: bootstrap). Construction validates everything and raises `DatasetError` naming the
    field, the row or episode, and the fix.

    Attributes:
        observations: `[N, obs_dim]` float32.
        actions: `[N, action_dim]` float32 (continuous) or `[N]` int64 (discrete).
        rewards: `[N]` float32.
        terminations: `[N]` bool.
        truncations: `[N]` bool.
        episode_starts: `[E]` int64, strictly increasing, first entry 0.
        action_space: continuous bounds or number of discrete actions.
        next_observations: optional `[N, obs_dim]`: the true successor of each step (needed to
            bootstrap the last step of a truncated episode).
        behavior_log_probs: optional `[N]` log-propensity of the logged action under the behaviour
            policy (a log-density for continuous actions).
        action_probs: optional `[N, n]` behaviour distribution over discrete actions per step.
        action_masks: optional `[N, n]` bool, the discrete actions allowed in each state; learners
            never choose a masked action.
        extras: other per-step arrays (`infos/qpos`, timestamps, ...), each with leading length N.
        metadata: JSON-serialisable facts: `source`, `env_id`, `ref_min_score`, `ref_max_score`, ...

    Example:
        Two episodes in D4RL's flat layout: the first ends in a termination, the second is cut.

        >>> import numpy as np
        >>> from tether.data import ActionSpace, DatasetError, LoggedDataset
        >>> logs = LoggedDataset.from_end_flags(
        ...     observations=np.arange(10, dtype=np.float32).reshape(5, 2), actions=np.array([0, 1, 1, 0, 1]),
        ...     rewards=np.array([0.0, 1.0, 0.0, 0.0, 1.0]), terminations=np.array([0, 1, 0, 0, 0]),
        ...     truncations=np.array([0, 0, 0, 0, 1]), action_space=ActionSpace.discrete(2))
        >>> logs.n_episodes, logs.episode_lengths.tolist(), logs.episode_returns().tolist()
        (2, [2, 3], [1.0, 1.0])

        Bad input is refused with the field, the place and the fix:

        >>> try:
        ...     LoggedDataset.from_end_flags(
        ...         observations=np.zeros((3, 2)), actions=np.array([0, 1, 5]), rewards=np.zeros(3),
        ...         terminations=np.array([0, 0, 1]), truncations=np.zeros(3), action_space=ActionSpace.discrete(2))
        ... except DatasetError as error:
        ...     print(error)
        actions: value 5 is not in the declared set 0..1 at row 2 (episode 0, step 2).
        Fix: map actions to ids 0..n-1 or declare a larger n
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    episode_starts: np.ndarray
    action_space: ActionSpace
    next_observations: np.ndarray | None = None
    behavior_log_probs: np.ndarray | None = None
    action_probs: np.ndarray | None = None
    action_masks: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tether.data.validation import canonicalize_and_validate

        for name, value in canonicalize_and_validate(self).items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_episode_ids(cls, episode_ids: np.ndarray, **fields: Any) -> LoggedDataset:
        """Build from a per-step episode id column (rows must be grouped by episode, in step order)."""
        ids = np.asarray(episode_ids)
        if ids.ndim != 1 or len(ids) == 0:
            raise DatasetError("episode_id", "needs one id per step and at least one step",
                               "pass a 1-D column of episode ids")
        change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        starts = np.concatenate([[0], change]).astype(np.int64)
        if len(np.unique(ids[starts])) != len(starts):
            seen: set = set()
            for s in starts:
                if ids[s] in seen:
                    raise DatasetError("episode_id", f"episode {ids[s]!r} is split into several runs of rows",
                                       "sort rows by episode id then step index", where=f"row {s}")
                seen.add(ids[s])
        return cls(episode_starts=starts, **fields)

    @classmethod
    def from_end_flags(cls, *, terminations: np.ndarray, truncations: np.ndarray, **fields: Any) -> LoggedDataset:
        """Build from flat step arrays whose episodes end at every `terminations | truncations` step
        (D4RL's and d3rlpy's layout); steps after the last flag form a truncated episode."""
        terminations, truncations = np.ravel(terminations).astype(bool), np.ravel(truncations).astype(bool)
        if len(terminations) != len(truncations):
            raise DatasetError("terminations/truncations", f"have {len(terminations)}/{len(truncations)} rows",
                               "give one end flag of each kind per step")
        ends = np.flatnonzero(terminations | truncations)
        n = len(terminations)
        starts = np.unique(np.concatenate([[0], ends[ends < n - 1] + 1])).astype(np.int64)
        return cls(terminations=terminations, truncations=truncations, episode_starts=starts, **fields)

    # ------------------------------------------------------------------ sizes
    @property
    def n_steps(self) -> int:
        """Number of logged steps `N`."""
        return int(len(self.rewards))

    def __len__(self) -> int:
        return self.n_steps

    @property
    def n_episodes(self) -> int:
        """Number of episodes `E`."""
        return int(len(self.episode_starts))

    @property
    def observation_dim(self) -> int:
        """Width of an observation vector."""
        return int(self.observations.shape[1])

    @property
    def episode_ends(self) -> np.ndarray:
        """`[E]` exclusive end index of each episode."""
        return np.append(self.episode_starts[1:], self.n_steps).astype(np.int64)

    @property
    def episode_lengths(self) -> np.ndarray:
        """`[E]` number of steps in each episode."""
        return self.episode_ends - self.episode_starts

    @property
    def episode_ids(self) -> np.ndarray:
        """`[N]` episode index of each step."""
        return np.repeat(np.arange(self.n_episodes), self.episode_lengths)

    @property
    def timesteps(self) -> np.ndarray:
        """`[N]` step index within its episode."""
        return np.arange(self.n_steps) - np.repeat(self.episode_starts, self.episode_lengths)

    @property
    def behavior_probs(self) -> np.ndarray | None:
        """Propensity of each logged action (probability for discrete, density for continuous)."""
        return None if self.behavior_log_probs is None else np.exp(self.behavior_log_probs)

    def logged_log_propensities(self) -> np.ndarray | None:
        """`[N]` float64 log pi_b(a_t|s_t) as logged: `behavior_log_probs`, else read off the logged behaviour
        distribution `action_probs` at the logged actions; None when the log holds neither."""
        if self.behavior_log_probs is not None:
            return self.behavior_log_probs.astype(np.float64)
        if self.action_probs is not None:
            chosen = self.action_probs[np.arange(self.n_steps), self.actions.astype(np.int64)].astype(np.float64)
            return np.log(np.maximum(chosen, 1e-300))
        return None

    # ------------------------------------------------------------------ statistics
    def episode_returns(self, gamma: float = 1.0) -> np.ndarray:
        """`[E]` return of each episode, discounted by `gamma` (1.0: undiscounted)."""
        rewards = self.rewards.astype(np.float64)
        if gamma != 1.0:
            rewards = rewards * gamma ** self.timesteps
        return np.add.reduceat(rewards, self.episode_starts)

    def episode_terminated(self) -> np.ndarray:
        """`[E]` whether each episode ended by termination (not truncation)."""
        return self.terminations[self.episode_ends - 1]

    # ------------------------------------------------------------------ views
    def episode(self, index: int) -> Episode:
        """Episode `index` (negative counts from the end) as a view of its step arrays."""
        if not -self.n_episodes <= index < self.n_episodes:
            raise IndexError(f"episode {index} out of range for {self.n_episodes} episodes")
        index %= self.n_episodes
        s, e = int(self.episode_starts[index]), int(self.episode_ends[index])
        return Episode(index, self.observations[s:e], self.actions[s:e], self.rewards[s:e],
                       bool(self.terminations[e - 1]), bool(self.truncations[e - 1]),
                       None if self.next_observations is None else self.next_observations[s:e])

    def episodes(self) -> Iterator[Episode]:
        """Iterate over episodes in order."""
        for index in range(self.n_episodes):
            yield self.episode(index)

    def transitions(self) -> Transitions:
        """All transitions whose successor is known, never crossing an episode boundary.

        With `next_observations` every step is a transition. Without it, the successor of step
        `t` is `observations[t + 1]` inside the episode; an episode's last step is kept when it
        terminated (its successor is never used) and dropped when it was truncated (its successor
        is unknown and bootstrapping from the next episode's first state would be wrong).
        """
        last = np.zeros(self.n_steps, bool)
        last[self.episode_ends - 1] = True
        if self.next_observations is not None:
            keep = np.ones(self.n_steps, bool)
            next_obs = self.next_observations
        else:
            keep = ~last | self.terminations
            next_obs = np.empty_like(self.observations)
            next_obs[:-1] = self.observations[1:]
            next_obs[last] = self.observations[last]  # terminal: masked by (1 - terminations)
        index = np.flatnonzero(keep)
        masks = next_masks = None
        if self.action_masks is not None:
            masks = self.action_masks[index]
            following = np.ones_like(self.action_masks)  # unknown after an episode's end: allow all
            following[:-1] = self.action_masks[1:]
            following[last] = True
            next_masks = following[index]
        next_actions = self.actions.copy()
        next_actions[:-1][~last[:-1]] = self.actions[1:][~last[:-1]]
        return Transitions(
            self.observations[index], self.actions[index], self.rewards[index], next_obs[index],
            self.terminations[index].astype(np.float32), self.episode_ids[index], self.timesteps[index],
            masks, next_masks, next_actions[index])

    def select_episodes(self, indices: Sequence[int] | np.ndarray) -> LoggedDataset:
        """A new dataset of the given episodes, in the given order."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0:
            raise DatasetError("episodes", "selection is empty", "select at least one episode")
        lengths = self.episode_lengths[indices]
        rows = np.concatenate([np.arange(self.episode_starts[i], self.episode_ends[i]) for i in indices])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return self._take_rows(rows, starts)

    def _take_rows(self, rows: np.ndarray, starts: np.ndarray) -> LoggedDataset:
        opt = lambda a: None if a is None else a[rows]  # noqa: E731
        return replace(
            self, observations=self.observations[rows], actions=self.actions[rows],
            rewards=self.rewards[rows], terminations=self.terminations[rows],
            truncations=self.truncations[rows], episode_starts=starts,
            next_observations=opt(self.next_observations), behavior_log_probs=opt(self.behavior_log_probs),
            action_probs=opt(self.action_probs), action_masks=opt(self.action_masks),
            extras={k: v[rows] for k, v in self.extras.items()},
            metadata=dict(self.metadata))

    def split(self, validation_fraction: float = 0.2, seed: int = 0) -> tuple[LoggedDataset, LoggedDataset]:
        """Split by episode into `(train, validation)`; both keep at least one episode."""
        if not 0.0 < validation_fraction < 1.0:
            raise DatasetError("validation_fraction", f"must lie in (0, 1), got {validation_fraction}",
                               "pass e.g. 0.2")
        if self.n_episodes < 2:
            raise DatasetError("episodes", f"cannot split {self.n_episodes} episode",
                               "log at least two episodes")
        order = np.random.default_rng(seed).permutation(self.n_episodes)
        n_val = min(max(1, round(validation_fraction * self.n_episodes)), self.n_episodes - 1)
        return self.select_episodes(np.sort(order[n_val:])), self.select_episodes(np.sort(order[:n_val]))

    def subsample(self, n_episodes: int | None = None, fraction: float | None = None,
                  seed: int = 0) -> LoggedDataset:
        """A random subset of whole episodes (kept in their original order)."""
        if (n_episodes is None) == (fraction is None):
            raise DatasetError("subsample", "give exactly one of n_episodes or fraction",
                               "e.g. subsample(fraction=0.1)")
        count = max(1, round(fraction * self.n_episodes)) if fraction is not None else n_episodes or 0
        if not 1 <= count <= self.n_episodes:
            raise DatasetError("n_episodes", f"{count} is outside 1..{self.n_episodes}",
                               "ask for at most the number of episodes logged")
        chosen = np.random.default_rng(seed).choice(self.n_episodes, size=count, replace=False)
        return self.select_episodes(np.sort(chosen))

    @classmethod
    def concatenate(cls, datasets: Sequence[LoggedDataset]) -> LoggedDataset:
        """Join datasets episode-wise (same spaces; optional fields kept only if all have them)."""
        if not datasets:
            raise DatasetError("datasets", "nothing to concatenate", "pass at least one dataset")
        first = datasets[0]
        for i, ds in enumerate(datasets[1:], start=1):
            if ds.action_space != first.action_space or ds.observation_dim != first.observation_dim:
                raise DatasetError("datasets", f"dataset {i} has other observation or action spaces",
                                   "concatenate only datasets of the same task")
        def cat(name: str):
            values = [getattr(ds, name) for ds in datasets]
            return None if any(v is None for v in values) else np.concatenate(values)
        offsets = np.cumsum([0] + [ds.n_steps for ds in datasets[:-1]])
        extras = {k: np.concatenate([ds.extras[k] for ds in datasets])
                  for k in first.extras if all(k in ds.extras for ds in datasets)}
        return cls(
            observations=cat("observations"), actions=cat("actions"), rewards=cat("rewards"),
            terminations=cat("terminations"), truncations=cat("truncations"),
            episode_starts=np.concatenate([ds.episode_starts + o for ds, o in zip(datasets, offsets, strict=True)]),
            action_space=first.action_space, next_observations=cat("next_observations"),
            behavior_log_probs=cat("behavior_log_probs"), action_probs=cat("action_probs"),
            action_masks=cat("action_masks"), extras=extras,
            metadata={**first.metadata, "combined_from": [ds.metadata.get("name") for ds in datasets]})

    # ------------------------------------------------------------------ identity
    def fingerprint(self) -> str:
        """SHA-256 over every array and the action space: equal data, equal fingerprint."""
        digest = hashlib.sha256(json.dumps(self.action_space.to_json(), sort_keys=True).encode())
        for name, array in sorted(self.arrays().items()):
            digest.update(name.encode())
            digest.update(str(array.dtype).encode() + str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the dataset by name (optional ones only when present; extras as `extras/<k>`)."""
        names = ("observations", "actions", "rewards", "terminations", "truncations", "episode_starts",
                 "next_observations", "behavior_log_probs", "action_probs", "action_masks")
        out = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        out.update({f"extras/{k}": v for k, v in self.extras.items()})
        return out
