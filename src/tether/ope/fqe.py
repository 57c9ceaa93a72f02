"""Fitted Q Evaluation (Le et al. 2019) with an ensemble of heads, in d3rlpy's shape.

    fqe = FQE(algo=policy, config=FQEConfig())
    fqe.fit(dataset, n_steps=10_000)
    estimate = fqe.estimate(dataset)      # value, interval, spread, convergence, held-out Bellman error

Each head regresses `Q(s, t, a)` onto `r + gamma (1 - end) sum_a' pi(a'|s') Q_target(s', t+1, a')`
(continuous: `Q_target(s', t+1, pi(s'))`), with a hard target copy every `target_update_interval`
steps. The heads fit values in units of `mean|r| x min(T_max, 1/(1-gamma))` (`normalize_rewards`), so
they regress onto numbers near 1 whatever the reward scale; estimates are reported in reward units.
Targets are clipped to the values the logged rewards allow (at most `T_max` steps of rewards
in `[r_min, r_max]`): the Bellman fixed point always lies inside, so a correct fit is never changed,
while extrapolation on actions the data never took cannot run away; a head that ends at a bound
beyond every logged episode's return is reported (`at_bound`) as the sign of that extrapolation.
`end` marks both terminations and the last logged step of an episode: the estimand is the expected
discounted return of an episode as logged, and the normalised time step `t / T_max` is an input
(`time_feature`) so that value is Markov in what the heads see. The estimate is the mean over
logged episodes of `V(s_0) = E_pi Q(s_0, 0, .)`.

With `bootstrap=True` (the default) every head trains on its own resample of episodes (drawn with
replacement) and is evaluated on that resample's start states, so the spread of the heads is a
bootstrap distribution that includes refitting, not only the sampling of start states (Hao et al.
2021; Kostrikov & Nachum 2020 on when it is valid). A held-out share of episodes is never trained
on; its Bellman error against the training error says whether the fit generalises. `fit` records the
estimate after every epoch; the fit counts as converged when the least-squares trend through the
second half of that trace moved less than half the heads' spread (or the standard error of the mean
logged return): SGD jitter from one epoch to the next averages out, a steady climb does not. Given
`max_steps`, the fit trains on until that check passes (a budget set by convergence, not a count).
All heads train in one program: `vmap` over heads, `lax.scan` over steps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from tether._progress import StageProgress
from tether.algos.engine import TrainingDivergedError
from tether.algos.model_file import read_model_file, write_model_file
from tether.data import LoggedDataset
from tether.errors import ConfigError, ModelFileError
from tether.nets.mlp import MLP
from tether.ope.policy import EvaluationPolicy, as_policy


@dataclass(frozen=True)
class FQEConfig:
    """FQE hyperparameters (d3rlpy's names where they exist: `learning_rate`, `batch_size`, `gamma`,
    `target_update_interval`).

    Attributes:
        n_heads: ensemble size (bootstrap replicates when `bootstrap`).
        bootstrap: each head fits its own resample of episodes.
        holdout_fraction: share of episodes kept out of training for the held-out Bellman error.
        time_feature: give the heads `t / T_max`.
        normalize_rewards: fit values in units of `mean|r| x min(T_max, 1/(1-gamma))` (see below).
        level: coverage of the reported interval.

    Every hard copy is one Bellman backup and gamma=0.99 needs hundreds of them, so the copy comes every
    10 steps (d3rlpy: 100) and the values are normalised (`normalize_rewards`): Adam's steps have a fixed
    size in parameter space, so at the raw scale (values in the hundreds) a head spends thousands of
    steps only reaching the magnitude of its targets, while normalised it tracks a new target within a few
    steps (the measurements behind these defaults: bench/NOTES.md, offline evaluation).
    """

    learning_rate: float = 6e-4
    batch_size: int = 256
    gamma: float = 0.99
    target_update_interval: int = 10
    normalize_rewards: bool = True
    hidden_dims: tuple[int, ...] = (256, 256)
    n_heads: int = 5
    bootstrap: bool = True
    holdout_fraction: float = 0.2
    time_feature: bool = True
    level: float = 0.95

    def __post_init__(self) -> None:
        checks = {"learning_rate": self.learning_rate > 0, "batch_size": self.batch_size >= 1,
                  "gamma": 0 < self.gamma <= 1, "target_update_interval": self.target_update_interval >= 1,
                  "hidden_dims": len(self.hidden_dims) > 0 and min(self.hidden_dims) >= 1,
                  "n_heads": self.n_heads >= 1, "holdout_fraction": 0 <= self.holdout_fraction < 1,
                  "level": 0 < self.level < 1}
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(name, f"FQEConfig.{name} = {getattr(self, name)!r} is out of range",
                                  "keep learning_rate > 0, batch_size >= 1, 0 < gamma <= 1, n_heads >= 1, "
                                  "0 <= holdout_fraction < 1, 0 < level < 1")


@dataclass
class FQEEstimate:
    """An FQE estimate with what it rests on."""

    value: float
    interval: tuple[float, float]
    head_values: list[float]
    spread: float
    converged: bool
    train_bellman_error: float
    heldout_bellman_error: float
    estimand: str
    history: list[float] = field(default_factory=list)
    at_bound: bool = False
    drift: float = float("nan")  # change of the fitted trend over the second half of the trace
    tolerance: float = float("nan")  # the largest drift that still counts as converged

    @property
    def generalises(self) -> bool:
        """Held-out Bellman error within 2x the training error (otherwise the fit is memorising)."""
        return self.heldout_bellman_error <= 2.0 * self.train_bellman_error + 1e-8


class FQE:
    """Fitted Q Evaluation of `algo` (a tether learner, or anything `tether.ope.as_policy` accepts)."""

    def __init__(self, algo, config: FQEConfig | None = None, n_actions: int | None = None, seed: int = 0):
        self.policy: EvaluationPolicy = as_policy(algo, n_actions=n_actions)
        self.config = config or FQEConfig()
        self.seed = seed
        self.params: Any = None
        self.history: list[float] = []

    # ------------------------------------------------------------------ data
    def _inputs(self, observations: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
        x = (observations - self._mean) / self._std
        if self.config.time_feature:
            x = np.concatenate([x, (timesteps / self._t_max)[:, None]], axis=1)
        return x.astype(np.float32)

    def _policy_next(self, observations: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        if self.policy.discrete:
            return self.policy.action_probs(observations, masks).astype(np.float32)
        return np.asarray(self.policy.actions(observations), np.float32)

    def _prepare(self, dataset: LoggedDataset):
        """Every logged step (the last of each episode ends the estimand, truncated or not)."""
        self.discrete = dataset.action_space.is_discrete
        self.n_actions = dataset.action_space.n_actions if self.discrete else None
        self._mean = dataset.observations.mean(0, dtype=np.float64).astype(np.float32)
        self._std = (dataset.observations.std(0, dtype=np.float64) + 1e-3).astype(np.float32)
        self._t_max = float(max(dataset.episode_lengths.max(), 1))
        last = np.zeros(dataset.n_steps, bool)
        last[dataset.episode_ends - 1] = True
        if dataset.next_observations is not None:
            next_obs = dataset.next_observations
        else:
            next_obs = np.concatenate([dataset.observations[1:], dataset.observations[-1:]])  # unused at ends
        next_masks = None
        if dataset.action_masks is not None:
            next_masks = np.concatenate([dataset.action_masks[1:], np.ones_like(dataset.action_masks[:1])])
            next_masks[last] = True
        t = dataset.timesteps.astype(np.float64)
        self._bounds = value_bounds(dataset.rewards, int(self._t_max), self.config.gamma)
        normalize = self.config.normalize_rewards
        self._scale = value_scale(dataset.rewards, int(self._t_max), self.config.gamma) if normalize else 1.0
        return {
            "x": self._inputs(dataset.observations, t),
            "actions": dataset.actions.astype(np.int32) if self.discrete else dataset.actions.astype(np.float32),
            "rewards": (dataset.rewards / self._scale).astype(np.float32),
            "next_x": self._inputs(next_obs, t + 1),
            "next_pi": self._policy_next(next_obs, next_masks),
            "done": last.astype(np.float32),
        }

    # ------------------------------------------------------------------ network
    def _q(self, params, x, actions_or_none=None):
        if self.discrete:
            return self._net.apply(params, x)  # [B, A]
        return self._net.apply(params, jnp.concatenate([x, actions_or_none], -1))[..., 0]

    def _value_next(self, params, batch):
        if self.discrete:
            return jnp.sum(batch["next_pi"] * self._q(params, batch["next_x"]), -1)
        return self._q(params, batch["next_x"], batch["next_pi"])

    def _q_logged(self, params, batch):
        if self.discrete:
            return jnp.take_along_axis(self._q(params, batch["x"]), batch["actions"][:, None], 1)[:, 0]
        return self._q(params, batch["x"], batch["actions"])

    # ------------------------------------------------------------------ training
    def fit(self, dataset: LoggedDataset, n_steps: int = 10_000, n_steps_per_epoch: int = 1_000,
            show_progress: bool = False, epoch_callback: Callable[[int, int], None] | None = None,
            run_dir: str | Path | None = None, resume: bool = False, max_steps: int | None = None) -> list[float]:
        """Train all heads; returns the estimate after each epoch (a convergence trace).

        With `max_steps` above `n_steps` the budget is set by the convergence check (`convergence`):
        after `n_steps`, training goes on an epoch at a time until the estimate has converged or
        `max_steps` is reached.

        `epoch_callback(epoch, steps_done)` runs after each epoch (epochs count from 1); `show_progress`
        draws a bar (plain lines when stderr is not a terminal). With `run_dir`, a checkpoint is written
        after every epoch, as the learners' engine does; `resume=True` continues from it and, since the
        keys of epoch `e` are `fold_in(key, e)`, reaches the estimate an uninterrupted fit would.

        Raises:
            TrainingDivergedError: the heads' weights became non-finite (the last finite ones are kept).
            ModelFileError: `resume` without a checkpoint, or one made for other data, policy or settings.
        """
        cfg = self.config
        if n_steps < 1 or n_steps_per_epoch < 1:
            raise ConfigError("n_steps", f"n_steps ({n_steps}) and n_steps_per_epoch ({n_steps_per_epoch}) must be "
                              "positive", "pass 1 or more")
        data = self._prepare(dataset)
        self._dataset = dataset
        rng = np.random.default_rng(self.seed)
        episodes = rng.permutation(dataset.n_episodes)
        n_hold = int(round(cfg.holdout_fraction * dataset.n_episodes)) if dataset.n_episodes >= 5 else 0
        self._holdout = np.sort(episodes[:n_hold])
        train_eps = np.sort(episodes[n_hold:])
        # per-head multiplicity of each training episode (1 each without bootstrap)
        counts = np.zeros((cfg.n_heads, dataset.n_episodes))
        for h in range(cfg.n_heads):
            picks = rng.choice(train_eps, len(train_eps)) if cfg.bootstrap else train_eps
            np.add.at(counts[h], picks, 1.0)
        self._episode_counts = counts
        step_weights = counts[:, dataset.episode_ids]  # [H, N]
        cdf = np.cumsum(step_weights, 1)
        cdf = (cdf / cdf[:, -1:]).astype(np.float32)  # inverse-CDF sampling of each head's resample
        input_dim = data["x"].shape[1] + (0 if self.discrete else data["actions"].shape[1])
        self._net = MLP(cfg.hidden_dims, self.n_actions or 1)  # a value per action, or Q(s, a) for continuous
        keys = jax.random.split(jax.random.PRNGKey(self.seed), cfg.n_heads)
        params = jax.vmap(lambda k: self._net.init(k, jnp.zeros((1, input_dim))))(keys)
        tx = optax.adam(cfg.learning_rate)
        opt_state = jax.vmap(tx.init)(params)
        device_data = jax.tree.map(jnp.asarray, data)
        chunk = _make_chunk(self, tx, n_steps_per_epoch)
        state = (params, params, opt_state, jnp.zeros(cfg.n_heads, jnp.int32))
        self.history = []
        self._dataset_data = data
        checkpoint = None if run_dir is None else Path(run_dir) / FQE_CHECKPOINT
        fingerprint = self._fingerprint(data, n_steps_per_epoch)
        epoch = 0
        if resume:
            state, epoch = self._restore(checkpoint, state, fingerprint)
            self.params = state[0]
        done = epoch * n_steps_per_epoch
        head_keys = jax.random.split(jax.random.PRNGKey(self.seed + 1), cfg.n_heads)
        with StageProgress(f"FQE ({cfg.n_heads} heads)", n_steps, show_progress, initial=min(done, n_steps)) as bar:
            while done < n_steps or (max_steps is not None and done < max_steps and not self.convergence()[2]):
                if done >= n_steps:
                    bar.extend(done + n_steps_per_epoch)
                epoch_keys = jax.vmap(lambda k, e=epoch: jax.random.fold_in(k, e))(head_keys)
                new_state = chunk(state, epoch_keys, device_data, jnp.asarray(cdf))
                if not all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(new_state[0])):
                    raise TrainingDivergedError(f"FQE diverged in epoch {epoch + 1}: its heads' weights are not "
                                                "finite (the last finite ones are kept). Lower the learning rate, "
                                                "or keep normalize_rewards on.")
                state = new_state
                done += n_steps_per_epoch
                epoch += 1
                self.params = state[0]
                self.history.append(float(np.mean(self._head_values(dataset))))
                if checkpoint is not None:
                    write_model_file(checkpoint, "fqe-checkpoint", "fqe", {
                        "config": json.dumps({"type": "fqe", "params": asdict(cfg)}), "epoch": epoch,
                        "history": json.dumps(self.history), "fingerprint": fingerprint,
                        "state": serialization.to_state_dict(jax.device_get(state))})
                bar.advance(n_steps_per_epoch, f"estimate {self.history[-1]:.4g}")
                if epoch_callback is not None:
                    epoch_callback(epoch, done)
        return self.history

    def _fingerprint(self, data: dict[str, np.ndarray], n_steps_per_epoch: int) -> str:
        """What a resumed fit must share with the interrupted one: inputs, the policy's next actions, settings."""
        digest = hashlib.sha256(json.dumps([asdict(self.config), self.seed, n_steps_per_epoch]).encode())
        for name in sorted(data):
            digest.update(name.encode() + np.ascontiguousarray(data[name]).tobytes())
        return digest.hexdigest()

    def _restore(self, checkpoint: Path | None, template: tuple, fingerprint: str) -> tuple[tuple, int]:
        if checkpoint is None or not checkpoint.exists():
            raise ModelFileError(str(checkpoint) if checkpoint else "run_dir", "no FQE checkpoint to resume from",
                                 "fit without resume first (or pass the run_dir that holds it)")
        payload = read_model_file(checkpoint, "fqe-checkpoint", "fqe")
        if payload["fingerprint"] != fingerprint:
            raise ModelFileError(str(checkpoint), "was made for other data, another policy or other settings",
                                 "resume with the same ones, or use a new run_dir")
        self.history = [float(v) for v in json.loads(payload["history"])]
        return serialization.from_state_dict(template, payload["state"]), int(payload["epoch"])

    # ------------------------------------------------------------------ predictions
    def predict_value(self, observations: np.ndarray, actions: np.ndarray,
                      timesteps: np.ndarray | None = None) -> np.ndarray:
        """`[N]` Q(s, t, a), averaged over heads (`timesteps` default 0), within the value bounds."""
        t = np.zeros(len(observations)) if timesteps is None else np.asarray(timesteps, np.float64)
        x = jnp.asarray(self._inputs(np.asarray(observations, np.float32), t))
        a = jnp.asarray(actions, jnp.int32 if self.discrete else jnp.float32)
        batch = {"x": x, "actions": a}
        q = np.asarray(jax.vmap(lambda p: self._q_logged(p, batch))(self.params)) * self._scale
        return np.clip(q, *self._bounds).mean(0)

    def _state_values(self, observations, timesteps, masks) -> np.ndarray:
        """`[H, N]` V(s, t) = E_pi Q(s, t, .) for every head, within the value bounds."""
        batch = {"next_x": jnp.asarray(self._inputs(observations, timesteps)),
                 "next_pi": jnp.asarray(self._policy_next(observations, masks))}
        values = np.asarray(jax.vmap(lambda p: self._value_next(p, batch))(self.params)) * self._scale
        return np.clip(values, *self._bounds)

    def _head_values(self, dataset: LoggedDataset) -> np.ndarray:
        starts = dataset.episode_starts
        masks = None if dataset.action_masks is None else dataset.action_masks[starts]
        v0 = self._state_values(dataset.observations[starts], np.zeros(len(starts)), masks)  # [H, E]
        weights = self._episode_counts if dataset is self._dataset else np.ones_like(v0)
        return (v0 * weights).sum(1) / np.maximum(weights.sum(1), 1e-12)

    def step_values(self, dataset: LoggedDataset) -> tuple[np.ndarray, np.ndarray]:
        """`(Q(s_t, t, a_t), V(s_t, t))` for every logged step, averaged over heads (for doubly robust)."""
        t = dataset.timesteps.astype(np.float64)
        q = self.predict_value(dataset.observations, dataset.actions, t)
        v = self._state_values(dataset.observations, t, dataset.action_masks).mean(0)
        return q, v

    def bellman_error(self, episodes: np.ndarray) -> float:
        """Mean squared Bellman error (reward units squared) over the steps of `episodes`, averaged over heads."""
        data = self._dataset_data
        rows = np.isin(self._dataset.episode_ids, episodes)
        if not rows.any():
            return float("nan")
        batch = jax.tree.map(lambda x: jnp.asarray(x[rows]), data)
        gamma = self.config.gamma

        def per_head(p):
            target = batch["rewards"] + gamma * (1.0 - batch["done"]) * self._value_next(p, batch)
            return jnp.mean((self._q_logged(p, batch) - target) ** 2)

        return float(np.mean(np.asarray(jax.vmap(per_head)(self.params)))) * self._scale**2

    def convergence(self, spread: float | None = None) -> tuple[float, float, bool]:
        """`(drift, tolerance, converged)` of the fit so far (`spread`: the heads' spread on the fitted
        data, when the caller has it already).

        Converged: the trend through the second half of the trace (`trace_drift`) moved the estimate by
        less than the larger of half the heads' own (bootstrap) spread and the standard error of the mean
        logged return, the resolution the data give the behaviour's value that every improvement is
        measured against. Further training then stays within the uncertainty already reported, while
        epoch-to-epoch SGD jitter averages out of the trend.
        """
        logged = self._dataset.episode_returns(self.config.gamma)
        spread = float(self._head_values(self._dataset).std()) if spread is None else spread
        tolerance = max(float(np.std(logged)) / np.sqrt(len(logged)) + 1e-8, 0.5 * spread)
        drift = trace_drift(self.history)
        return drift, tolerance, bool(np.isfinite(drift) and abs(drift) < tolerance)

    def estimate(self, dataset: LoggedDataset | None = None) -> FQEEstimate:
        """The estimate on the fitted dataset: mean of the heads, percentile interval over heads."""
        dataset = dataset or self._dataset
        heads = self._head_values(dataset)
        alpha = (1 - self.config.level) / 2
        logged = self._dataset.episode_returns(self.config.gamma)
        spread = float(heads.std())
        trace = self.history
        drift, tolerance, converged = self.convergence(spread if dataset is self._dataset else None)
        train_eps = np.setdiff1d(np.arange(self._dataset.n_episodes), self._holdout)
        low, high = self._bounds
        margin = 0.02 * (high - low)
        # a bound only signals extrapolation where it lies beyond every logged episode's return (a
        # perfect CartPole policy legitimately sits at its bound, which its best logged episodes reach too)
        at_high = high > logged.max() + margin and np.any(heads >= high - margin)
        at_low = low < logged.min() - margin and np.any(heads <= low + margin)
        return FQEEstimate(
            value=float(heads.mean()),
            interval=(float(np.quantile(heads, alpha)), float(np.quantile(heads, 1 - alpha))),
            head_values=heads.tolist(), spread=spread, converged=converged, drift=drift, tolerance=tolerance,
            train_bellman_error=self.bellman_error(train_eps), heldout_bellman_error=self.bellman_error(self._holdout),
            estimand=f"expected discounted return (gamma={self.config.gamma}) of an episode as logged "
                     f"(up to {int(self._t_max)} steps)", history=list(trace),
            at_bound=bool(at_high or at_low))


DiscreteFQE = FQE  # d3rlpy's name for the discrete variant; FQE handles both


def trace_drift(trace: list[float]) -> float:
    """How much the estimate moved over the second half of a convergence trace, robust to SGD noise.

    With 4 or more points: the least-squares slope through the last half (at least 3 points) times the
    span it covers, so epoch-to-epoch jitter averages out while a steady climb still shows. With 2 or 3
    points: the last change. With fewer: NaN (nothing to judge convergence by).
    """
    values = np.asarray(trace, np.float64)
    if len(values) < 2:
        return float("nan")
    if len(values) < 4:
        return float(values[-1] - values[-2])
    tail = values[-max(3, (len(values) + 1) // 2):]
    x = np.arange(len(tail), dtype=np.float64)
    slope = np.polyfit(x, tail, 1)[0]
    return float(slope * (len(tail) - 1))


FQE_CHECKPOINT = "fqe_checkpoint.tether"


def value_bounds(rewards: np.ndarray, horizon: int, gamma: float) -> tuple[float, float]:
    """Smallest and largest discounted return of at most `horizon` steps with rewards in the logged range."""
    r_min, r_max = float(np.min(rewards)), float(np.max(rewards))
    span = (1.0 - gamma**horizon) / (1.0 - gamma) if gamma < 1.0 else float(horizon)
    return (r_min * span if r_min < 0 else r_min), (r_max * span if r_max > 0 else r_max)


def value_scale(rewards: np.ndarray, horizon: int, gamma: float) -> float:
    """A typical magnitude of discounted values: `mean|r|` times the effective horizon `min(T, 1/(1-gamma))`."""
    horizon_steps = min(float(horizon), 1.0 / (1.0 - gamma)) if gamma < 1.0 else float(horizon)
    return max(float(np.mean(np.abs(rewards))) * horizon_steps, 1e-6)


def _make_chunk(fqe: FQE, tx, n_updates: int):
    cfg = fqe.config
    bounds = (fqe._bounds[0] / fqe._scale, fqe._bounds[1] / fqe._scale)  # in the heads' units

    def head_update(carry, key, data, cdf):
        params, target, opt_state, step = carry
        key_idx, _ = jax.random.split(key)
        index = jnp.minimum(jnp.searchsorted(cdf, jax.random.uniform(key_idx, (cfg.batch_size,))), cdf.shape[0] - 1)
        batch = jax.tree.map(lambda x: x[index], data)
        target_values = batch["rewards"] + cfg.gamma * (1.0 - batch["done"]) * fqe._value_next(target, batch)
        target_values = jnp.clip(target_values, *bounds)

        def loss(p):
            return jnp.mean((fqe._q_logged(p, batch) - jax.lax.stop_gradient(target_values)) ** 2)

        grads = jax.grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        step = step + 1
        target = jax.tree.map(lambda t, p: jnp.where(step % cfg.target_update_interval == 0, p, t), target, params)
        return (params, target, opt_state, step), None

    def one_head(carry, key, data, cdf):
        carry, _ = jax.lax.scan(partial(head_update, data=data, cdf=cdf), carry, jax.random.split(key, n_updates))
        return carry

    return jax.jit(jax.vmap(one_head, in_axes=((0, 0, 0, 0), 0, None, 0)))
