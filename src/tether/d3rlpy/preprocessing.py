"""d3rlpy's scaler objects, as tether's configs understand them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StandardObservationScaler:
    """Standardise observations by the dataset's mean and std (tether's `observation_scaler="standard"`)."""


@dataclass(frozen=True)
class MinMaxActionScaler:
    """Map actions to [-1, 1]. tether always does this, by the dataset's declared action bounds."""


@dataclass(frozen=True)
class ReturnBasedRewardScaler:
    """Multiply rewards by `multiplier / (return_max - return_min)`, the episode returns' range
    (taken from the dataset unless both bounds are given)."""

    return_max: float | None = None
    return_min: float | None = None
    multiplier: float = 1.0


@dataclass(frozen=True)
class MultiplyRewardScaler:
    """Multiply rewards by `multiplier`."""

    multiplier: float = 1.0


__all__ = ["MinMaxActionScaler", "MultiplyRewardScaler", "ReturnBasedRewardScaler", "StandardObservationScaler"]
