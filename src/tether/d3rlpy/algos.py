"""d3rlpy's algorithm configs, taking d3rlpy's arguments and defaults and building tether learners.

`CQLConfig(actor_encoder_factory=VectorEncoderFactory([256, 256]), observation_scaler=
StandardObservationScaler()).create(device="cuda:0")` gives a tether CQL learner whose `fit` also
takes d3rlpy's `experiment_name`, `with_timestamp`, `logger_adapter`, `save_interval` and
`epoch_callback`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from tether.algos import BCConfig as _BC
from tether.algos import BCQConfig as _BCQ
from tether.algos import CQLConfig as _CQL
from tether.algos import DAggerConfig as _DAgger
from tether.algos import DiscreteBCConfig as _DiscreteBC
from tether.algos import DiscreteBCQConfig as _DiscreteBCQ
from tether.algos import DiscreteCQLConfig as _DiscreteCQL
from tether.algos import DiscreteDAggerConfig as _DiscreteDAgger
from tether.algos import EDACConfig as _EDAC
from tether.algos import IQLConfig as _IQL
from tether.algos import Learner, LearnerConfig, load_learner
from tether.algos import MOPOConfig as _MOPO
from tether.algos import MOReLConfig as _MOReL
from tether.algos import ReBRACConfig as _ReBRAC
from tether.algos import SACNConfig as _SACN
from tether.algos import TD3PlusBCConfig as _TD3PlusBC
from tether.algos.engine import dataset_spec, fit_scaling
from tether.d3rlpy import logging as d3logging
from tether.d3rlpy.constants import LoggingStrategy
from tether.d3rlpy.models import DefaultEncoderFactory, VectorEncoderFactory
from tether.d3rlpy.preprocessing import (
    MinMaxActionScaler,
    MultiplyRewardScaler,
    ReturnBasedRewardScaler,
    StandardObservationScaler,
)
from tether.data import LoggedDataset

_default_seed = 0
# d3rlpy's encoder arguments -> the tether field they set
_ACTOR_CRITIC = {"actor_encoder_factory": "hidden_dims", "critic_encoder_factory": "hidden_dims"}


def set_default_seed(seed: int) -> None:
    """The seed `fit` trains with when it is given none (`tether.d3rlpy.seed` sets it)."""
    global _default_seed
    _default_seed = int(seed)


def _hidden_units(name: str, factory: Any) -> tuple[int, ...]:
    if isinstance(factory, DefaultEncoderFactory):
        factory = VectorEncoderFactory(activation=factory.activation, use_batch_norm=factory.use_batch_norm,
                                       dropout_rate=factory.dropout_rate)
    if not isinstance(factory, VectorEncoderFactory):
        raise TypeError(f"{name}: tether builds MLPs from VectorEncoderFactory or DefaultEncoderFactory, got "
                        f"{type(factory).__name__}; pass VectorEncoderFactory(hidden_units=[...])")
    unsupported = {"activation": factory.activation != "relu", "use_batch_norm": factory.use_batch_norm,
                   "use_layer_norm": factory.use_layer_norm, "dropout_rate": factory.dropout_rate is not None,
                   "exclude_last_activation": factory.exclude_last_activation,
                   "last_activation": factory.last_activation is not None}
    for option, used in unsupported.items():
        if used:
            raise ValueError(f"{name}.{option}: tether's MLPs are plain ReLU layers; leave {option} at its "
                             "default")
    return tuple(int(width) for width in factory.hidden_units)


def _scalers(kwargs: dict[str, Any]) -> dict[str, Any]:
    """d3rlpy's scaler objects as tether's `observation_scaler`, `reward_scaler` and `reward_scale`."""
    out: dict[str, Any] = {}
    observation = kwargs.pop("observation_scaler", None)
    if observation is not None and not isinstance(observation, StandardObservationScaler):
        raise TypeError(f"observation_scaler: tether supports StandardObservationScaler or None, got "
                        f"{type(observation).__name__}")
    out["observation_scaler"] = "standard" if observation is not None else None
    action = kwargs.pop("action_scaler", None)
    if action is not None and not isinstance(action, MinMaxActionScaler):
        raise TypeError(f"action_scaler: tether supports MinMaxActionScaler or None, got {type(action).__name__}")
    reward = kwargs.pop("reward_scaler", None)
    out["reward_scaler"], out["reward_scale"] = None, 1.0
    if isinstance(reward, MultiplyRewardScaler):
        out["reward_scale"] = float(reward.multiplier)
    elif isinstance(reward, ReturnBasedRewardScaler):
        if reward.return_max is not None and reward.return_min is not None:
            out["reward_scale"] = float(reward.multiplier) / (reward.return_max - reward.return_min)
        else:  # tether's "return_range" multiplies by 1000 / (max - min) of the dataset's returns
            out["reward_scaler"], out["reward_scale"] = "return_range", float(reward.multiplier) / 1000.0
    elif reward is not None:
        raise TypeError(f"reward_scaler: tether supports ReturnBasedRewardScaler, MultiplyRewardScaler or None, "
                        f"got {type(reward).__name__}")
    return out


def _port(config_cls: type[LearnerConfig], encoders: dict[str, str], kwargs: dict[str, Any],
          **translated: Any) -> _PortedConfig:
    """A tether config from d3rlpy arguments: `encoders` maps d3rlpy's encoder arguments to tether's
    hidden-width fields; arguments of the same name pass through; anything else raises."""
    kwargs = dict(kwargs)
    kwargs.pop("compile_graph", None)  # tether always compiles the whole update
    translated = {**_scalers(kwargs), **translated}
    widths: dict[str, tuple[str, tuple[int, ...]]] = {}
    for argument, field_name in encoders.items():
        if argument in kwargs:
            units = _hidden_units(argument, kwargs.pop(argument))
            if field_name in widths and widths[field_name][1] != units:
                raise ValueError(f"{argument} ({list(units)}) differs from {widths[field_name][0]} "
                                 f"({list(widths[field_name][1])}): tether's {config_cls.__name__} uses one "
                                 f"hidden_dims for both; pass the same hidden_units")
            widths[field_name] = (argument, units)
    translated.update({field_name: units for field_name, (_, units) in widths.items()})
    fields = {f.name for f in dataclasses.fields(config_cls)}
    for name in list(kwargs):
        if name in fields:
            translated[name] = kwargs.pop(name)
    if kwargs:
        name = sorted(kwargs)[0]
        raise TypeError(f"{name}: tether's {config_cls.__name__} has no such argument (d3rlpy's optimizer and "
                        f"Q-function factories are not supported); remove it. Its arguments: {sorted(fields)}")
    return _PortedConfig(config_cls(**translated))


def BCConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `BCConfig`: deterministic MSE policy, learning rate 1e-3, batch 100."""
    return _port(_BC, {"encoder_factory": "hidden_dims"}, kwargs)


def TD3PlusBCConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `TD3PlusBCConfig` (the same defaults as tether's)."""
    return _port(_TD3PlusBC, _ACTOR_CRITIC, kwargs)


def ReBRACConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `ReBRACConfig` (`actor_beta` 0.001, `critic_beta` 0.01, batch 1024, learning rates 1e-3) with
    its networks as d3rlpy builds them: 256x256 unless an encoder factory says otherwise, PyTorch's
    initialisation, observations as logged, LayerNorm where a `VectorEncoderFactory` has `use_layer_norm=True`
    (d3rlpy's ReBRAC reproduction asks it for the critics, three layers of 256)."""
    kwargs = dict(kwargs)
    norms: dict[str, bool] = {}
    for argument, field_name in (("actor_encoder_factory", "actor_layer_norm"),
                                 ("critic_encoder_factory", "critic_layer_norm")):
        factory = kwargs.get(argument)
        norms[field_name] = False
        if isinstance(factory, VectorEncoderFactory) and factory.use_layer_norm:
            norms[field_name] = True
            kwargs[argument] = dataclasses.replace(factory, use_layer_norm=False)
    kwargs.setdefault("actor_encoder_factory", DefaultEncoderFactory())
    return _port(_ReBRAC, _ACTOR_CRITIC, kwargs, network_init="torch", **norms)


def IQLConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `IQLConfig`: as tether's, but rewards are left unscaled unless `reward_scaler` is given."""
    return _port(_IQL, {**_ACTOR_CRITIC, "value_encoder_factory": "hidden_dims"}, kwargs)


def CQLConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `CQLConfig`, its Lagrangian alpha included (`alpha_learning_rate` 1e-4, threshold 10), and
    its backups: the policy's mean next action, or with `soft_q_backup=True` SAC's sampled one with the
    entropy term."""
    kwargs = dict(kwargs)
    if kwargs.pop("max_q_backup", False):
        raise ValueError("max_q_backup: tether's CQL backs up the policy's mean or a sampled next action, not "
                         "the max over samples; leave it False")
    kwargs["backup"] = "soft" if kwargs.pop("soft_q_backup", False) else "mean"
    kwargs.setdefault("alpha_learning_rate", 1e-4)
    return _port(_CQL, _ACTOR_CRITIC, kwargs)


def BCQConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `BCQConfig`: as d3rlpy, the critic target takes `n_action_samples` (100) VAE samples,
    the VAE's layers are 256x256 unless `imitator_encoder_factory` says otherwise, its decoder is
    linear, and the networks start from PyTorch's initialisation."""
    kwargs = dict(kwargs)
    for name, default in (("update_actor_interval", 1), ("rl_start_step", 0)):
        if kwargs.pop(name, default) != default:
            raise ValueError(f"{name}: tether's BCQ updates every network every step; leave it at {default}")
    kwargs.setdefault("imitator_encoder_factory", DefaultEncoderFactory())
    n_action_samples = kwargs.get("n_action_samples", 100)
    return _port(_BCQ, {**_ACTOR_CRITIC, "imitator_encoder_factory": "vae_hidden_dims"}, kwargs,
                 n_target_samples=n_action_samples, vae_decoder_tanh=False, network_init="torch")


def MOPOConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """tether's MOPO, an extension (d3rlpy 2.x has none): d3rlpy's argument style (encoder factories for the
    actor's and critics' widths, scalers), tether's defaults and model arguments (`model_*`, `penalty_coef`)."""
    return _port(_MOPO, _ACTOR_CRITIC, kwargs)


def MOReLConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """tether's MOReL, an extension (d3rlpy has none), with d3rlpy's argument style as `MOPOConfig`."""
    return _port(_MOReL, _ACTOR_CRITIC, kwargs)


def SACNConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """tether's SAC-N, an extension (d3rlpy 2.x has none), with d3rlpy's argument style as `MOPOConfig`."""
    return _port(_SACN, _ACTOR_CRITIC, kwargs)


def EDACConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """tether's EDAC, an extension (d3rlpy 2.x has none), with d3rlpy's argument style as `MOPOConfig`."""
    return _port(_EDAC, _ACTOR_CRITIC, kwargs)


def _single_critic(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(kwargs)
    if kwargs.pop("n_critics", 1) != 1:
        raise ValueError(f"n_critics: tether's {name} has one Q-network; leave n_critics at 1")
    return kwargs


def DAggerConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """tether's DAgger, an extension (d3rlpy has none): BC's arguments as `BCConfig` plus the loop's (`rounds`,
    `beta`, `label_budget`, `query`, ...). `fit` trains BC on a log; the loop is `tether.imitation.train_dagger`."""
    return _port(_DAgger, {"encoder_factory": "hidden_dims"}, kwargs)


def DiscreteDAggerConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """tether's discrete DAgger, an extension, with `DiscreteBCConfig`'s arguments plus the loop's."""
    return _port(_DiscreteDAgger, {"encoder_factory": "hidden_dims"}, kwargs)


def DiscreteBCConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `DiscreteBCConfig`: cross-entropy plus `beta` (0.5) times the mean squared logit,
    learning rate 1e-3, batch 100."""
    return _port(_DiscreteBC, {"encoder_factory": "hidden_dims"}, {"beta": 0.5, **kwargs})


def DiscreteCQLConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `DiscreteCQLConfig`: double DQN with the `alpha` (1.0) logsumexp penalty, learning rate
    6.25e-5, batch 32, target copied every 8000 steps (its Atari defaults)."""
    defaults = {"learning_rate": 6.25e-5, "batch_size": 32, "target_update_interval": 8000}
    return _port(_DiscreteCQL, {"encoder_factory": "hidden_dims"},
                 {**defaults, **_single_critic("DiscreteCQL", kwargs)})


def DiscreteBCQConfig(**kwargs: Any) -> _PortedConfig:  # noqa: N802
    """d3rlpy's `DiscreteBCQConfig`: one torso under the Q and imitation heads (`share_encoder=True`),
    `beta` 0.5, `action_flexibility` 0.3, learning rate 6.25e-5, batch 32, target every 8000 steps."""
    defaults = {"learning_rate": 6.25e-5, "batch_size": 32, "target_update_interval": 8000, "beta": 0.5,
                "share_encoder": True}
    return _port(_DiscreteBCQ, {"encoder_factory": "hidden_dims"},
                 {**defaults, **_single_critic("DiscreteBCQ", kwargs)})


def log_dirs(name: str, with_timestamp: bool, logger_adapter: Any) -> tuple[Path | None, Path | None]:
    """Where d3rlpy's `logger_adapter` puts an experiment: `(run directory, TensorBoard directory)`."""
    if with_timestamp:
        name = f"{name}_{datetime.now():%Y%m%d%H%M%S}"
    adapters = (logger_adapter.adapter_factories if isinstance(logger_adapter, d3logging.CombineAdapterFactory)
                else [logger_adapter or d3logging.FileAdapterFactory()])
    run_dir = tensorboard_dir = None
    for adapter in adapters:
        if isinstance(adapter, d3logging.FileAdapterFactory):
            run_dir = Path(adapter.root_dir) / name
        elif isinstance(adapter, d3logging.TensorboardAdapterFactory):
            tensorboard_dir = Path(adapter.root_dir) / name
        elif not isinstance(adapter, d3logging.NoopAdapterFactory):
            raise TypeError(f"logger_adapter: tether writes files, TensorBoard or nothing, got "
                            f"{type(adapter).__name__}")
    return run_dir, tensorboard_dir


class _PortedConfig:
    """A tether config whose `create` builds a learner with d3rlpy's `fit` arguments."""

    def __init__(self, config: LearnerConfig):
        self.config = config

    def __getattr__(self, name: str) -> Any:
        if name == "config":  # not yet set (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.config, name)

    def __repr__(self) -> str:
        return f"d3rlpy-style {self.config!r}"

    def create(self, device: str | bool | None = False) -> PortedLearner:
        return PortedLearner(self.config, device=device)


class PortedLearner(Learner):
    """A tether `Learner` whose `fit` and `fitter` also take d3rlpy's logging arguments."""

    # d3rlpy's argument order (logging arguments before evaluators), not the base class's: not substitutable
    def fit(  # type: ignore[override]
            self, dataset: LoggedDataset, n_steps: int, n_steps_per_epoch: int = 10_000,
            **kwargs: Any) -> list[tuple[int, dict[str, Any]]]:
        for _ in self.fitter(dataset, n_steps, n_steps_per_epoch, **kwargs):
            pass
        return self.history

    def fitter(  # type: ignore[override]
               self, dataset: LoggedDataset, n_steps: int, n_steps_per_epoch: int = 10_000,
               experiment_name: str | None = None, with_timestamp: bool = True, logging_steps: int = 500,
               logging_strategy: LoggingStrategy = LoggingStrategy.EPOCH, logger_adapter: Any = None,
               show_progress: bool = True, save_interval: int = 1, evaluators: dict | None = None,
               callback: Callable | None = None, epoch_callback: Callable | None = None,
               **tether_kwargs: Any) -> Iterator[tuple[int, dict[str, Any]]]:
        """d3rlpy's `fit` arguments: metrics, config, checkpoint and `model_{step}.d3` (every
        `save_interval` epochs) go to `d3rlpy_logs/{experiment_name}_{timestamp}` unless
        `logger_adapter` says otherwise; `epoch_callback(learner, epoch, total_step)` runs after each
        epoch. tether's own `fit` arguments (`seeds`, `resume`, ...) pass through."""
        if callback is not None:
            raise TypeError("callback: tether runs each epoch's steps as one compiled call and cannot call back "
                            "after every step; use epoch_callback (after every epoch) or a smaller "
                            "n_steps_per_epoch")
        if LoggingStrategy(logging_strategy) != LoggingStrategy.EPOCH:
            raise ValueError("logging_strategy: tether logs once per epoch; use LoggingStrategy.EPOCH or a smaller "
                             "n_steps_per_epoch")
        run_dir, tensorboard_dir = log_dirs(experiment_name or type(self.config).__name__.removesuffix("Config"),
                                            with_timestamp, logger_adapter)
        tether_kwargs.setdefault("seeds", [_default_seed] if self.state is None else None)
        tether_kwargs.setdefault("run_dir", run_dir)
        for epoch, record in super().fitter(dataset, n_steps, n_steps_per_epoch, evaluators=evaluators,
                                            show_progress=show_progress, tensorboard_dir=tensorboard_dir,
                                            **tether_kwargs):
            if tether_kwargs["run_dir"] is not None and epoch % save_interval == 0:
                self.save(Path(tether_kwargs["run_dir"]) / f"model_{record['step']}.d3")
            if epoch_callback is not None:
                epoch_callback(self, epoch, record["step"])
            yield epoch, record


    def build_with_dataset(self, dataset: LoggedDataset) -> None:
        """d3rlpy's: create the networks (and scaling) for `dataset` without training, as `load_model` needs."""
        self.build(dataset_spec(dataset), fit_scaling(dataset, self.config), [_default_seed])

    def save_model(self, path: str | Path) -> None:
        """d3rlpy's weights file: here the same safe msgpack file as `save` (d3rlpy's `.pt` files and
        tether's do not read each other)."""
        self.save(path)

    def load_model(self, path: str | Path) -> None:
        """Load weights (and scaling) written by `save_model` into this built learner, as d3rlpy does."""
        if self.state is None:
            raise RuntimeError("load_model: the learner has no networks yet; call build_with_dataset(dataset) "
                               "first, as d3rlpy requires, or use d3rlpy.load_learnable(path)")
        loaded = load_learner(path, device=self.device)
        if loaded.config.get_type() != self.config.get_type() or loaded.spec != self.spec:
            raise ValueError(f"load_model: {path} holds a {loaded.config.get_type()} for {loaded.spec}; this "
                             f"learner is a {self.config.get_type()} for {self.spec}")
        self.state, self.scaling, self.seeds, self._act_cache = loaded.state, loaded.scaling, loaded.seeds, {}


def load_learnable(path: str | Path, device: str | bool | None = False) -> PortedLearner:
    """Load a learner saved by `save` (or a `model_{step}.d3` from `fit`)."""
    return cast(PortedLearner, load_learner(path, device=device, learner_cls=PortedLearner))


__all__ = ["BCConfig", "BCQConfig", "CQLConfig", "DAggerConfig", "DiscreteBCConfig", "DiscreteBCQConfig",
           "DiscreteCQLConfig", "DiscreteDAggerConfig", "EDACConfig", "IQLConfig", "MOPOConfig", "MOReLConfig",
           "PortedLearner", "ReBRACConfig", "SACNConfig", "TD3PlusBCConfig", "load_learnable"]
