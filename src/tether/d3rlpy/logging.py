"""d3rlpy's logger adapter factories: where `fit` writes its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileAdapterFactory:
    """Metrics (`metrics.jsonl`), config, the resumable checkpoint and saved models under
    `root_dir/EXPERIMENT`."""

    root_dir: str = "d3rlpy_logs"


@dataclass(frozen=True)
class TensorboardAdapterFactory:
    """TensorBoard scalars under `root_dir/EXPERIMENT`."""

    root_dir: str = "tensorboard_logs"


@dataclass(frozen=True)
class NoopAdapterFactory:
    """Write nothing."""


@dataclass(frozen=True)
class CombineAdapterFactory:
    """Several of the above at once."""

    adapter_factories: list = field(default_factory=list)


__all__ = ["CombineAdapterFactory", "FileAdapterFactory", "NoopAdapterFactory", "TensorboardAdapterFactory"]
