"""The training engine every learner runs on, and the `Learner` facade users hold.

- Data live on the device once, already scaled (observations standardised, actions mapped to
  [-1, 1], rewards scaled). Batch indices are drawn with `jax.random` inside the compiled step.
- `n_chunk` updates are fused in one `jit` of `lax.scan`, vmapped over seeds, with the state donated.
  Compile time does not depend on the number of steps; the host syncs once per chunk.
- The key of chunk `c` for seed `s` is `fold_in(PRNGKey(s), c)`: a resumed run draws exactly the
  keys an uninterrupted one would, so it reaches the same result.
- After each chunk, non-finite metrics or a Q estimate past `divergence_threshold` stop training
  with `TrainingDivergedError`; the learner keeps the last good state and the last checkpoint is
  never overwritten by a diverged one.
- Checkpoints and saved learners are msgpack (flax serialisation) plus JSON behind a checked
  header (`tether.algos.model_file`): loading never executes code, and refuses truncated, altered,
  non-finite or mismatched files by name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from tether.algos.base import AlgoSpec, Batch, DatasetSpec
from tether.algos.model_file import LEGACY_FORMAT, read_model_file, write_model_file
from tether.data import LoggedDataset
from tether.errors import ConfigError, DatasetError, ModelFileError

CHECKPOINT = "checkpoint.tether"
LEGACY_CHECKPOINT = "checkpoint.msgpack"  # written before checkpoints had a header; still resumable
MIN_TRAINING_STEPS = 2  # one logged step leaves nothing to standardise observations by or to learn from
if TYPE_CHECKING:
    from tether.algos.config import LearnerConfig

Evaluator = Callable[["Learner", LoggedDataset], Any]


class TrainingDivergedError(RuntimeError):
    """Training produced non-finite losses or exploding values; the learner holds the last good state."""


@dataclass(frozen=True)
class Scaling:
    """How logged data map to what the networks see (and back for actions)."""

    observation_mean: np.ndarray
    observation_std: np.ndarray
    action_low: np.ndarray | None
    action_high: np.ndarray | None
    reward_scale: float

    def observations(self, obs: np.ndarray) -> np.ndarray:
        """`[batch, obs_dim]` logged observations as the networks see them (standardised, float32)."""
        return ((np.asarray(obs, np.float32) - self.observation_mean) / self.observation_std).astype(np.float32)

    def actions_to_unit(self, actions: np.ndarray) -> np.ndarray:
        """Logged actions mapped from their bounds to [-1, 1] (unchanged for discrete actions)."""
        if self.action_low is None:
            return actions
        return (2.0 * (actions - self.action_low) / (self.action_high - self.action_low) - 1.0).astype(np.float32)

    def actions_from_unit(self, actions: np.ndarray) -> np.ndarray:
        """Network actions in [-1, 1] mapped back to the logged bounds."""
        if self.action_low is None:
            return actions
        return (self.action_low + (np.asarray(actions) + 1.0) * 0.5 * (self.action_high - self.action_low)).astype(
            np.float32)

    def to_json(self) -> dict:
        """JSON-ready form, saved with the learner."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> Scaling:
        """The scaling `to_json` wrote."""
        bound = lambda v: None if v is None else np.asarray(v, np.float32)  # noqa: E731
        return cls(np.asarray(data["observation_mean"], np.float32), np.asarray(data["observation_std"], np.float32),
                   bound(data["action_low"]), bound(data["action_high"]), float(data["reward_scale"]))


def fit_scaling(dataset: LoggedDataset, config: LearnerConfig) -> Scaling:
    """Observation statistics, action bounds and reward scale from `dataset`, as `config` asks."""
    obs = dataset.observations
    if config.observation_scaler == "standard":
        mean, std = obs.mean(axis=0, dtype=np.float64), obs.std(axis=0, dtype=np.float64) + 1e-3  # no overflow
    else:
        mean, std = np.zeros(obs.shape[1], np.float32), np.ones(obs.shape[1], np.float32)
    space = dataset.action_space
    low, high = (None, None) if space.is_discrete else space.bounds
    return Scaling(mean.astype(np.float32), std.astype(np.float32), low, high,
                   float(config.reward_scale) * return_range_factor(dataset, config.reward_scaler))


def return_range_factor(dataset: LoggedDataset, reward_scaler: str | None) -> float:
    """`1000 / (max - min)` of the episode returns for `"return_range"`; 1 otherwise or when returns are equal."""
    if reward_scaler != "return_range":
        return 1.0
    returns = dataset.episode_returns()
    spread = float(returns.max() - returns.min())
    return 1000.0 / spread if spread > 0 else 1.0


def device_data(dataset: LoggedDataset, scaling: Scaling, device: jax.Device) -> Batch:
    """All transitions of `dataset`, scaled, as one `Batch` of device arrays."""
    tr = dataset.transitions()
    actions = tr.actions.astype(np.int32) if dataset.action_space.is_discrete else scaling.actions_to_unit(tr.actions)
    host = {"observations": scaling.observations(tr.observations), "actions": actions,
            "rewards": (tr.rewards * scaling.reward_scale).astype(np.float32),
            "next_observations": scaling.observations(tr.next_observations),
            "terminations": tr.terminations.astype(np.float32), "action_masks": tr.action_masks,
            "next_action_masks": tr.next_action_masks,
            "next_actions": None if dataset.action_space.is_discrete or tr.next_actions is None
            else scaling.actions_to_unit(tr.next_actions)}
    return Batch(**jax.device_put(host, device))


def dataset_spec(dataset: LoggedDataset) -> DatasetSpec:
    """The shapes `dataset` gives an algorithm to build its networks."""
    space = dataset.action_space
    return DatasetSpec(dataset.observation_dim, space.action_dim, space.n if space.is_discrete else None)


def scan_updates(spec: AlgoSpec, config: LearnerConfig, state: Any, data: Batch, keys: jax.Array,
                 first_step: jax.Array):
    """Run `len(keys)` updates of one seed, sampling each batch from `data` inside the loop.

    `first_step` is the step count every seed shares. Under the seed `vmap` it stays unbatched, and
    each update sees it as `state.step`: a `lax.cond` on the step (TD3+BC's delayed actor) then stays
    a branch. On a per-seed (batched) step, `vmap` turns the `cond` into a `select` that computes both
    branches on every step.
    """
    n = data.rewards.shape[0]

    def body(carry, inputs):
        key, step = inputs
        index_key, update_key = jax.random.split(key)
        index = jax.random.randint(index_key, (config.batch_size,), 0, n)
        batch = jax.tree.map(lambda x: x[index], data)
        return spec.update(carry.replace(step=step), batch, update_key, config=config)

    steps = first_step + jnp.arange(len(keys), dtype=jnp.int32)
    state, metrics = jax.lax.scan(body, state, (keys, steps))
    return state, jax.tree.map(jnp.nanmean, metrics)  # nan marks "not updated this step" (delayed actors)


@lru_cache(maxsize=64)
def make_chunk(spec: AlgoSpec, config: LearnerConfig, n_updates: int):
    """`(states [seeds, ...], chunk_keys [seeds], data, first_step) -> (states, metrics [seeds])`,
    compiled once per (algorithm, config, chunk length) and reused by every later `fit`. Every seed is
    at step `first_step` (they train in lockstep)."""

    def one_seed(state, key, data, first_step):
        return scan_updates(spec, config, state, data, jax.random.split(key, n_updates), first_step)

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, None, None)), donate_argnums=0)


def update_hlo(learner: Learner, dataset: LoggedDataset) -> str:
    """XLA's optimised HLO text of one gradient step of one seed, batch sampling included, for
    roofline figures (`bench/_roofline.py` reads its matmuls). Builds `learner` for `dataset`."""
    spec, scaling = dataset_spec(dataset), fit_scaling(dataset, learner.config)
    learner.build(spec, scaling, [0])
    data = device_data(dataset, scaling, learner.device)
    keys = jnp.stack([jax.random.PRNGKey(0)])
    chunk = make_chunk(learner.algo, learner.config, 1)
    return chunk.lower(learner.state, keys, data, learner.state.step[0]).compile().as_text()


PREDICT_CHUNK = 4096


def _bucketed(fn, inputs: np.ndarray, extra: np.ndarray | None, axis: int) -> np.ndarray:
    """Apply a jitted `fn(inputs, extra)` in chunks of at most PREDICT_CHUNK rows, each padded to a
    power of two (at least 8), so any batch size reuses a handful of compiled shapes. `axis` is the
    batch axis of the output (1 when outputs lead with the seed axis)."""
    n = len(inputs)
    outputs = []
    for start in range(0, n, PREDICT_CHUNK):
        stop = min(start + PREDICT_CHUNK, n)
        size = max(8, 1 << (stop - start - 1).bit_length())
        out = np.asarray(fn(_pad_rows(inputs, start, stop, size), _pad_rows(extra, start, stop, size)))
        outputs.append(np.take(out, np.arange(stop - start), axis=axis))
    return np.concatenate(outputs, axis=axis)


def _pad_rows(x: np.ndarray | None, start: int, stop: int, size: int) -> np.ndarray | None:
    """Rows `start:stop` of `x`, the last one repeated up to `size` rows."""
    if x is None:
        return None
    rows = x[start:stop]
    return rows if len(rows) == size else np.concatenate([rows, np.repeat(rows[-1:], size - len(rows), axis=0)])


def resolve_device(device: str | bool | None | jax.Device) -> jax.Device:
    """The JAX device for d3rlpy's `device` argument: `False`/`None`/`"cpu"`, or `True`/`"gpu"`/`"cuda:N"`
    (or a `jax.Device` itself)."""
    if isinstance(device, jax.Device):
        return device
    if device in (False, None) or (isinstance(device, str) and device.startswith("cpu")):
        return jax.devices("cpu")[0]
    index = int(device.split(":")[1]) if isinstance(device, str) and ":" in device else 0
    try:
        return jax.devices("gpu")[index]
    except RuntimeError:
        raise ValueError(f"device {device!r}: JAX sees no GPU here; install jax[cuda12] on a GPU machine, "
                         "or use device='cpu'") from None


class Learner:
    """One facade for every algorithm: `fit`, `fitter`, `predict`, `sample_action`, `predict_value`,
    `save` and `load`, driven by the algorithm's registry entry.

    The state always carries a leading seed axis; with one seed, predictions have no seed axis,
    with several they come as `[n_seeds, batch, ...]` (see `seed_learners` to split them).
    """

    def __init__(self, config: LearnerConfig, device: str | bool | None = False):
        self.config = config
        self.algo = config.algorithm()
        self.device = resolve_device(device)
        self.state: Any = None
        self.scaling: Scaling | None = None
        self.spec: DatasetSpec | None = None
        self.seeds: list[int] = [0]
        self.history: list[tuple[int, dict[str, Any]]] = []
        self._act_cache: dict[tuple[bool, bool] | str, Callable] = {}  # (deterministic, masked) or "q"
        self._sample_key = jax.random.PRNGKey(0)

    # ---------------------------------------------------------------- building
    def build(self, spec: DatasetSpec, scaling: Scaling, seeds: Sequence[int] = (0,)) -> Learner:
        """Initialise networks for `spec` (one set per seed); `fit` calls this for you."""
        self.spec, self.scaling, self.seeds = spec, scaling, list(seeds)
        keys = jnp.stack([jax.random.PRNGKey(s) for s in self.seeds])
        with jax.default_device(self.device):
            state = jax.vmap(lambda k: self.algo.init(self.config, spec, k))(keys)
        # committed to the device like every state the compiled chunk returns; an uncommitted first
        # state is another cache key, so the second chunk of every fit used to compile again
        self.state = jax.device_put(state, self.device)
        self._act_cache = {}
        return self

    @property
    def n_seeds(self) -> int:
        """How many seeds train side by side (the leading axis of every state leaf)."""
        return len(self.seeds)

    # ---------------------------------------------------------------- training
    def fit(self, dataset: LoggedDataset, n_steps: int, n_steps_per_epoch: int = 10_000,
            evaluators: dict[str, Evaluator] | None = None, seeds: Sequence[int] | None = None,
            show_progress: bool = True, run_dir: str | Path | None = None, resume: bool = False,
            divergence_threshold: float = 1e6,
            tensorboard_dir: str | Path | None = None) -> list[tuple[int, dict[str, Any]]]:
        """Train for `n_steps` gradient steps; returns `[(epoch, metrics), ...]` as d3rlpy does.

        Args:
            dataset: the logged data.
            n_steps: total gradient steps per seed.
            n_steps_per_epoch: steps between evaluations, log lines and checkpoints.
            evaluators: `{name: callable(learner, dataset) -> float}`, run each epoch.
            seeds: train one learner per seed in one program (default `[0]`).
            show_progress: draw a progress bar with steps/s and the latest metrics.
            run_dir: where `metrics.jsonl`, `config.json` and the checkpoint go (none if None).
            resume: continue from `run_dir`'s checkpoint (same config, data and seeds required).
            divergence_threshold: stop if `|q_mean|` exceeds this.
            tensorboard_dir: also write each epoch's metrics there as TensorBoard scalars (per seed
                as `name/seed_k` when several seeds train); no TensorFlow needed.

        Raises:
            TrainingDivergedError: losses became non-finite or Q exploded (last good state kept).
        """
        for _ in self.fitter(dataset, n_steps, n_steps_per_epoch, evaluators, seeds, show_progress, run_dir,
                             resume, divergence_threshold, tensorboard_dir):
            pass
        return self.history

    def fitter(self, dataset: LoggedDataset, n_steps: int, n_steps_per_epoch: int = 10_000,
               evaluators: dict[str, Evaluator] | None = None, seeds: Sequence[int] | None = None,
               show_progress: bool = True, run_dir: str | Path | None = None, resume: bool = False,
               divergence_threshold: float = 1e6,
               tensorboard_dir: str | Path | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """Like `fit`, yielding `(epoch, metrics)` after each epoch."""
        from tether.algos.progress import TrainingProgress
        from tether.logging.tensorboard import TensorBoardWriter

        for name, value in (("n_steps", n_steps), ("n_steps_per_epoch", n_steps_per_epoch)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(name, f"must be a positive whole number of steps, got {value!r}",
                                  f"pass {name}=1 or more")
        self.algo.check_action_space(dataset.action_space.kind)
        if dataset.n_steps < MIN_TRAINING_STEPS:
            raise DatasetError("rows", f"the dataset holds {dataset.n_steps} logged step(s), too few to train on",
                               f"log at least {MIN_TRAINING_STEPS} steps")
        run_dir = Path(run_dir) if run_dir is not None else None
        seeds = list(seeds) if seeds is not None else (self.seeds if self.state is not None else [0])
        if self.state is None or self.spec != dataset_spec(dataset) or seeds != self.seeds:
            self.build(dataset_spec(dataset), fit_scaling(dataset, self.config), seeds)
            self.history = []
            if self.algo.prepare is not None and not resume:
                say = (lambda message: print(message, flush=True)) if show_progress else (lambda _: None)
                self.state = jax.device_put(self.algo.prepare(
                    self.state, dataset, self.scaling, config=self.config, seed=self.seeds[0], run_dir=run_dir,
                    log=say), self.device)
        # A second fit continues from the current weights (as in d3rlpy); epochs are numbered globally,
        # so the key schedule of fit(a) then fit(b) equals that of one longer fit.
        start_epoch = first_epoch = len(self.history)
        fingerprint = dataset.fingerprint()
        if resume:
            start_epoch = self._restore_checkpoint(run_dir, fingerprint)
            first_epoch = 0  # with resume, n_steps counts from the start of the run
        data = device_data(dataset, self._require_built()[1], self.device)
        n_epochs = -(-n_steps // n_steps_per_epoch)
        base_keys = jnp.stack([jax.random.PRNGKey(s) for s in self.seeds])
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.json").write_text(json.dumps(self.config.to_json(), indent=1))
            if start_epoch == 0:  # a new run starts a new log; resumed and continued fits append
                (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        board = TensorBoardWriter(tensorboard_dir) if tensorboard_dir is not None else None
        last_good = jax.device_get(self.state)
        done_steps = min((start_epoch - first_epoch) * n_steps_per_epoch, n_steps)
        with TrainingProgress(n_steps, show_progress, initial=done_steps,
                              label=f"training {self.config.get_type()}") as bar:
            for epoch in range(start_epoch, first_epoch + n_epochs):
                steps = min(n_steps_per_epoch, n_steps - (epoch - first_epoch) * n_steps_per_epoch)
                started = time.perf_counter()
                keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(base_keys, epoch)
                chunk = make_chunk(self.algo, self.config, steps)
                self.state, metrics = chunk(self.state, keys, data, self.state.step[0])
                metrics = {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}
                problem = _divergence(metrics, divergence_threshold)
                if problem:
                    self.state = jax.device_put(last_good, self.device)
                    raise TrainingDivergedError(
                        f"{self.config.get_type()} diverged in epoch {epoch + 1} ({problem}); training stopped "
                        "and the learner holds the last good state. Lower the learning rates, raise the "
                        "conservatism, or normalise rewards (reward_scale).")
                last_good = jax.device_get(self.state)
                record = self._epoch_record(epoch, steps, started, metrics, evaluators, dataset)
                self.history.append((epoch + 1, record))
                if run_dir is not None:
                    with open(run_dir / "metrics.jsonl", "a") as log:
                        log.write(json.dumps(record) + "\n")
                    self._write_checkpoint(run_dir, epoch + 1, fingerprint)
                if board is not None:
                    board.scalars(record["step"], _board_scalars(record))
                bar.epoch(steps, record)
                yield epoch + 1, record

    def _epoch_record(self, epoch: int, steps: int, started: float, metrics: dict, evaluators, dataset) -> dict:
        elapsed = time.perf_counter() - started
        previous_step = self.history[-1][1]["step"] if self.history else 0
        record: dict[str, Any] = {"epoch": epoch + 1, "step": previous_step + steps, "steps_per_s": steps / elapsed}
        for name, values in metrics.items():
            record[name] = float(values.mean())
            if self.n_seeds > 1:
                record[f"{name}/seeds"] = values.tolist()
        for name, evaluator in (evaluators or {}).items():
            values = [evaluator(view, dataset) for view in self.seed_learners()]
            record[name] = float(np.mean(values))
            if self.n_seeds > 1:
                record[f"{name}/seeds"] = [float(v) for v in values]
            if hasattr(evaluator, "normalized") and dataset.metadata.get("ref_max_score") is not None:
                record[f"{name}_normalized"] = float(evaluator.normalized(record[name], dataset))
        return record

    # ---------------------------------------------------------------- inference
    def _act(self, deterministic: bool, masked: bool) -> Callable:
        if (deterministic, masked) not in self._act_cache:
            act = partial(self.algo.act, config=self.config, deterministic=deterministic)
            if masked:
                fn = jax.vmap(lambda s, o, k, m: act(s, o, k, action_masks=m), in_axes=(0, None, 0, None))
            else:
                fn = jax.vmap(lambda s, o, k, m: act(s, o, k), in_axes=(0, None, 0, None))
            self._act_cache[(deterministic, masked)] = jax.jit(fn)
        return self._act_cache[(deterministic, masked)]

    def _require_built(self) -> tuple[DatasetSpec, Scaling]:
        if self.state is None or self.spec is None or self.scaling is None:
            raise RuntimeError("the learner has no networks yet: call fit(...) or load(...) first")
        return self.spec, self.scaling

    def _unseed(self, values: np.ndarray) -> np.ndarray:
        return values[0] if self.n_seeds == 1 else values

    def predict(self, observations: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray:
        """Greedy (deterministic) actions for `[batch, obs_dim]` observations.

        `action_masks` (`[batch, n_actions]` bool, discrete learners only) forbids actions per state.
        """
        return self._actions(observations, deterministic=True, key=jax.random.PRNGKey(0), action_masks=action_masks)

    def sample_action(self, observations: np.ndarray, key: jax.Array | None = None,
                      action_masks: np.ndarray | None = None) -> np.ndarray:
        """Actions sampled from the learned policy (equal to `predict` for deterministic policies).

        Without `key`, the learner's own sampling key advances on each call (no global RNG).
        """
        if key is None:
            self._sample_key, key = jax.random.split(self._sample_key)
        return self._actions(observations, deterministic=False, key=key, action_masks=action_masks)

    def _actions(self, observations: np.ndarray, deterministic: bool, key: jax.Array,
                 action_masks: np.ndarray | None = None) -> np.ndarray:
        spec, scaling = self._require_built()
        obs = scaling.observations(np.atleast_2d(observations))
        keys = jax.random.split(key, self.n_seeds)
        if action_masks is not None:
            if spec.discrete_actions is None:
                raise ValueError("action_masks apply to discrete actions only")
            action_masks = np.asarray(action_masks, bool).reshape(len(obs), spec.discrete_actions)
            if not action_masks.any(axis=1).all():
                raise ValueError("action_masks: every state must allow at least one action")
        masked = action_masks is not None
        act = self._act(deterministic, masked)
        actions = _bucketed(lambda o, m: act(self.state, o, keys, m), obs, action_masks, axis=1)
        if spec.discrete_actions is None:
            actions = scaling.actions_from_unit(actions)
        return self._unseed(actions)

    def predict_value(self, observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Q(s, a) estimates in the units of the logged rewards, `[batch]`."""
        spec, scaling = self._require_built()
        if self.algo.q_value is None:
            raise NotImplementedError(f"{self.config.get_type()} learns no value function")
        if "q" not in self._act_cache:
            q = partial(self.algo.q_value, config=self.config)
            self._act_cache["q"] = jax.jit(jax.vmap(q, in_axes=(0, None, None)))
        obs = scaling.observations(np.atleast_2d(observations))
        acts = np.asarray(actions)
        acts = acts.astype(np.int32) if spec.discrete_actions else scaling.actions_to_unit(
            np.atleast_2d(acts).astype(np.float32))
        values = _bucketed(lambda o, a: self._act_cache["q"](self.state, o, a), obs, acts, axis=1)
        values = values / scaling.reward_scale
        return self._unseed(values)

    def seed_learners(self) -> list[Learner]:
        """One single-seed learner per seed (views sharing nothing mutable with this one)."""
        self._require_built()
        if self.n_seeds == 1:
            return [self]
        views = []
        for i, seed in enumerate(self.seeds):
            view = Learner(self.config, device=False)
            view.device, view.spec, view.scaling, view.seeds = self.device, self.spec, self.scaling, [seed]
            view.state = jax.tree.map(lambda x, i=i: x[i : i + 1], self.state)
            views.append(view)
        return views

    # ---------------------------------------------------------------- persistence
    def _payload(self) -> dict[str, Any]:
        spec, scaling = self._require_built()
        return {"format": LEGACY_FORMAT, "config": json.dumps(self.config.to_json()), "spec": json.dumps(asdict(spec)),
                "scaling": json.dumps(scaling.to_json()), "seeds": json.dumps(self.seeds),
                "state": serialization.to_state_dict(jax.device_get(self.state))}

    def save(self, path: str | Path) -> Path:
        """Write config, scaling and weights to one file behind a checked header, atomically (no pickle)."""
        self._require_built()
        return write_model_file(path, "learner", self.config.get_type(), self._payload())

    def save_policy(self, path: str | Path, action_masks: bool = False) -> Path:
        """Export the greedy policy (`predict`) to an ONNX file for serving (see `tether.export.onnx`).

        `action_masks=True` gives a discrete policy a second input, `[batch, n_actions]` bool.
        """
        from tether.export.onnx import save_policy

        return save_policy(self, path, action_masks)

    def restore(self, payload: dict[str, Any], source: str | Path) -> None:
        """Build this learner's networks from a verified model-file payload (`tether.algos.load_learner`)."""
        self.build(DatasetSpec(**json.loads(payload["spec"])), Scaling.from_json(json.loads(payload["scaling"])),
                   json.loads(payload["seeds"]))
        self.state = jax.device_put(_restored(self.state, payload["state"], source, self.config), self.device)

    def _write_checkpoint(self, run_dir: Path, epoch: int, fingerprint: str) -> None:
        payload = {**self._payload(), "epoch": epoch, "dataset_fingerprint": fingerprint,
                   "history": json.dumps(self.history)}
        write_model_file(run_dir / CHECKPOINT, "checkpoint", self.config.get_type(), payload)

    def _restore_checkpoint(self, run_dir: Path | None, fingerprint: str) -> int:
        path = None if run_dir is None else checkpoint_path(run_dir)
        if path is None or not path.exists():
            raise ModelFileError(str(path) if path else "run_dir", "no checkpoint to resume from",
                                 "train without resume first (or point to the run directory that holds it)")
        payload = read_model_file(path, "checkpoint", self.config.get_type())
        if json.loads(payload["config"]) != self.config.to_json() or json.loads(payload["seeds"]) != self.seeds:
            raise ModelFileError(str(path), "was made with another config or seeds",
                                 "resume with the same config and seeds, or use a new run directory")
        if payload.get("dataset_fingerprint") != fingerprint:
            raise ModelFileError(str(path), "was trained on other data", "use a new run directory")
        self.state = jax.device_put(_restored(self.state, payload["state"], path, self.config), self.device)
        self.history = [tuple(x) for x in json.loads(payload["history"])]
        return int(payload["epoch"])


def checkpoint_path(run_dir: str | Path) -> Path:
    """`run_dir`'s checkpoint: `checkpoint.tether`, or the headerless `checkpoint.msgpack` older runs wrote."""
    path = Path(run_dir) / CHECKPOINT
    legacy = Path(run_dir) / LEGACY_CHECKPOINT
    return legacy if legacy.exists() and not path.exists() else path


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether `run_dir` holds a checkpoint that `fit(..., resume=True)` can continue from."""
    return checkpoint_path(run_dir).exists()


def _restored(template: Any, state_dict: dict, source: Path | str, config: LearnerConfig) -> Any:
    """`template` filled from a saved state dict, refused with the fix when the saved networks' layout or
    shapes are not those this version of tether builds for the same config."""
    problem = None
    try:
        state = serialization.from_state_dict(template, state_dict)
    except (ValueError, KeyError, TypeError) as err:
        problem = str(err)
    else:
        for (where, want), got in zip(jax.tree_util.tree_leaves_with_path(template), jax.tree.leaves(state),
                                      strict=True):
            if np.shape(want) != np.shape(got):
                problem = f"{jax.tree_util.keystr(where)} is {np.shape(got)}, expected {np.shape(want)}"
                break
    if problem is not None:
        raise ModelFileError(str(source), f"its {config.get_type()} weights do not fit the networks this version of "
                             f"tether builds ({problem})", "load it with the tether version that wrote it, or train "
                             "again")
    return state


def _board_scalars(record: dict[str, Any]) -> dict[str, float]:
    """An epoch record as TensorBoard tags: seed lists become `name/seed_k`, the epoch counter is dropped."""
    scalars: dict[str, float] = {}
    for name, value in record.items():
        if name in ("epoch", "step"):
            continue
        if isinstance(value, list):
            scalars.update({f"{name.removesuffix('/seeds')}/seed_{k}": float(v) for k, v in enumerate(value)})
        elif isinstance(value, (int, float)):
            scalars[name] = float(value)
    return scalars


def _divergence(metrics: dict[str, np.ndarray], threshold: float) -> str | None:
    for name, values in metrics.items():
        if not np.all(np.isfinite(values)):
            return f"{name} is not finite"
    q = metrics.get("q_mean")
    if q is not None and np.any(np.abs(q) > threshold):
        return f"|q_mean| = {float(np.max(np.abs(q))):.3g} exceeds {threshold:.3g}"
    return None
