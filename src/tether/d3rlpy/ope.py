"""d3rlpy's `ope`: Fitted Q Evaluation with d3rlpy's arguments, defaults and evaluators.

    fqe = d3rlpy.ope.FQE(algo=cql, config=d3rlpy.ope.FQEConfig())
    fqe.fit(dataset, n_steps=10_000, evaluators={
        "init_value": d3rlpy.metrics.InitialStateValueEstimationEvaluator(),
        "soft_opc": d3rlpy.metrics.SoftOPCEvaluator(return_threshold=180.0)})

It runs `tether.ope.FQE` with d3rlpy's defaults (learning rate 1e-4, batch 100, a hard target copy
every 100 steps, one Q-network, raw rewards) and d3rlpy's estimand: `Q(s, a)` of the greedy policy,
fitted on every logged step, with no time input, bootstrap or held-out share. Differences: the
heads' inputs are always standardised; an episode's last logged step, truncated or not, ends the
backup (d3rlpy bootstraps from a timeout's successor); and targets are clipped to the discounted
returns the logged rewards allow. tether's own FQE options (`n_heads`, `bootstrap`,
`holdout_fraction`, `time_feature`, `normalize_rewards`) are accepted too; for an estimate with an
interval and a convergence check, use `tether.ope.evaluate_policy`. d3rlpy's defaults converge
slowly: on hopper-medium at 10,000 steps a target copy every 100 steps left supported candidates at
55-58% of their true value; `tether.ope.FQEConfig`'s docstring has tether's defaults and the
measurements behind them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tether.d3rlpy.algos import _hidden_units, log_dirs
from tether.d3rlpy.preprocessing import StandardObservationScaler
from tether.data import LoggedDataset
from tether.logging.tensorboard import TensorBoardWriter
from tether.ope import fqe as _fqe

_D3RLPY_DEFAULTS = {"learning_rate": 1e-4, "batch_size": 100, "target_update_interval": 100, "n_heads": 1,
                    "bootstrap": False, "holdout_fraction": 0.0, "time_feature": False, "normalize_rewards": False}


def FQEConfig(**kwargs: Any) -> _fqe.FQEConfig:  # noqa: N802
    """d3rlpy's `FQEConfig` as a `tether.ope.FQEConfig` with d3rlpy's defaults (see the module docstring)."""
    if kwargs.pop("n_critics", 1) != 1:
        raise ValueError("n_critics: d3rlpy's FQE backs up the minimum over its Q-networks; tether's FQE heads "
                         "are independent fits whose spread is the estimate's uncertainty. Leave n_critics at 1 "
                         "and set n_heads for an ensemble")
    kwargs.pop("compile_graph", None)
    observation_scaler = kwargs.pop("observation_scaler", None)
    if observation_scaler is not None and not isinstance(observation_scaler, StandardObservationScaler):
        raise TypeError(f"observation_scaler: tether's FQE standardises its inputs itself; pass "
                        f"StandardObservationScaler() or None, not {type(observation_scaler).__name__}")
    for name in ("reward_scaler", "action_scaler"):
        if kwargs.pop(name, None) is not None:
            raise ValueError(f"{name}: tether's FQE reports values in the logged reward units and takes actions "
                             f"as the evaluated learner predicts them; leave {name} at None")
    if "encoder_factory" in kwargs:
        kwargs["hidden_dims"] = _hidden_units("encoder_factory", kwargs.pop("encoder_factory"))
    fields = {field.name for field in dataclasses.fields(_fqe.FQEConfig)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TypeError(f"{unknown[0]}: tether's FQEConfig has no such argument (d3rlpy's optimizer and Q-function "
                        f"factories are not supported); remove it. Its arguments: {sorted(fields)}")
    return _fqe.FQEConfig(**{**_D3RLPY_DEFAULTS, **kwargs})


class FQE:
    """d3rlpy's `FQE(algo, config, device)`: `fit` with d3rlpy's arguments, `predict` (the evaluated
    learner's greedy action) and `predict_value` (the fitted `Q(s, a)`), so d3rlpy's evaluators
    apply to it. Continuous and discrete actions alike (`DiscreteFQE` is the same class)."""

    def __init__(self, algo: Any, config: _fqe.FQEConfig | None = None, device: str | bool | None = False,
                 seed: int | None = None):
        from tether.d3rlpy.algos import _default_seed

        self.algo = algo
        self.config = config or FQEConfig()
        self.device = device
        self.seed = _default_seed if seed is None else seed
        self.estimator: _fqe.FQE | None = None

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def fit(self, dataset: LoggedDataset, n_steps: int, n_steps_per_epoch: int = 10_000,
            experiment_name: str | None = None, with_timestamp: bool = True, logger_adapter: Any = None,
            show_progress: bool = True, evaluators: dict[str, Callable] | None = None,
            epoch_callback: Callable | None = None, **ignored_logging: Any) -> list[tuple[int, dict[str, Any]]]:
        """Fit the Q-function for `n_steps` (whole epochs of `n_steps_per_epoch`); after each epoch the
        `evaluators` run on this FQE and their values go to `d3rlpy_logs/{experiment_name}_{timestamp}/
        metrics.jsonl` (or where `logger_adapter` says). Returns `[(epoch, metrics), ...]`."""
        unknown = sorted(set(ignored_logging) - {"logging_steps", "logging_strategy", "save_interval"})
        if unknown:
            raise TypeError(f"{unknown[0]}: FQE.fit has no such argument; remove it (it takes d3rlpy's logging "
                            "arguments, evaluators and epoch_callback)")
        run_dir, tensorboard_dir = log_dirs(experiment_name or "FQE", with_timestamp, logger_adapter)
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(self.config), indent=1))
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        board = TensorBoardWriter(tensorboard_dir) if tensorboard_dir is not None else None
        self.estimator = _fqe.FQE(self.algo, self.config, seed=self.seed)
        history: list[tuple[int, dict[str, Any]]] = []
        started = time.perf_counter()

        def after_epoch(epoch: int, steps: int) -> None:
            nonlocal started
            record: dict[str, Any] = {"epoch": epoch, "step": steps,
                                      "steps_per_s": min(n_steps_per_epoch, n_steps) / (time.perf_counter() - started)}
            record.update({name: float(evaluate(self, dataset)) for name, evaluate in (evaluators or {}).items()})
            history.append((epoch, record))
            if run_dir is not None:
                with open(run_dir / "metrics.jsonl", "a") as log:
                    log.write(json.dumps(record) + "\n")
            if board is not None:
                board.scalars(steps, {k: v for k, v in record.items() if k not in ("epoch", "step")})
            if show_progress:
                print(f"FQE epoch {epoch}: " + ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch"))
            if epoch_callback is not None:
                epoch_callback(self, epoch, steps)
            started = time.perf_counter()

        self.estimator.fit(dataset, n_steps=n_steps, n_steps_per_epoch=min(n_steps_per_epoch, n_steps),
                           epoch_callback=after_epoch)
        return history

    def _fitted(self) -> _fqe.FQE:
        if self.estimator is None or self.estimator.params is None:
            raise RuntimeError("FQE has not been fitted; call fit(dataset, n_steps=...) first")
        return self.estimator

    def predict(self, observations: np.ndarray, **kwargs: Any) -> np.ndarray:
        """The evaluated learner's greedy actions."""
        return self.algo.predict(observations, **kwargs)

    def predict_value(self, observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The fitted `Q(s, a)` of the evaluated policy, `[N]`."""
        return self._fitted().predict_value(np.asarray(observations, np.float32), np.asarray(actions))

    def estimate(self) -> _fqe.FQEEstimate:
        """tether's estimate of the policy's value on the fitted data (start states of logged episodes)."""
        return self._fitted().estimate()


DiscreteFQE = FQE  # one class serves both action types, as in tether.ope

__all__ = ["DiscreteFQE", "FQE", "FQEConfig"]
