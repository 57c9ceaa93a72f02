"""d3rlpy's encoder factories: the hidden layers of tether's ReLU MLPs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VectorEncoderFactory:
    """Hidden layers `hidden_units` with ReLU. tether's MLPs support no other activation, batch norm,
    dropout or last activation: setting them raises an error when the config is built."""

    hidden_units: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    use_batch_norm: bool = False
    use_layer_norm: bool = False
    dropout_rate: float | None = None
    exclude_last_activation: bool = False
    last_activation: str | None = None


@dataclass(frozen=True)
class DefaultEncoderFactory:
    """d3rlpy's default for vector observations: two hidden layers of 256."""

    activation: str = "relu"
    use_batch_norm: bool = False
    dropout_rate: float | None = None


__all__ = ["DefaultEncoderFactory", "VectorEncoderFactory"]
