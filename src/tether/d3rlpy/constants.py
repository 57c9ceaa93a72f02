"""d3rlpy's enums that scripts pass to tether.d3rlpy."""

from enum import Enum


class ActionSpace(Enum):
    CONTINUOUS = 1
    DISCRETE = 2
    BOTH = 3


class LoggingStrategy(Enum):
    STEPS = "steps"
    EPOCH = "epoch"


__all__ = ["ActionSpace", "LoggingStrategy"]
