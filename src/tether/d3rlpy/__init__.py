"""Run a script written for d3rlpy 2.x on tether by changing its imports.

    import tether.d3rlpy as d3rlpy                 # was: import d3rlpy
    from tether.d3rlpy.algos import CQLConfig      # was: from d3rlpy.algos import CQLConfig

The configs take d3rlpy's arguments and defaults (encoder factories, scaler objects, d3rlpy's BCQ
target of `n_action_samples`, no observation scaling unless asked) and build tether learners;
`fit` takes d3rlpy's logging arguments and writes to `d3rlpy_logs/` as d3rlpy does. Where tether
cannot do what an argument asks, the argument raises an error that names it and says what to do.
The models it saves (`save`, `model_{step}.d3`) are
tether files: `load_learnable` reads them, d3rlpy does not.
"""

from __future__ import annotations

import random

import numpy as np

from tether.d3rlpy import algos, constants, dataset, datasets, logging, metrics, models, ope, preprocessing
from tether.d3rlpy.algos import load_learnable
from tether.d3rlpy.constants import ActionSpace, LoggingStrategy


def seed(value: int) -> None:
    """Seed Python's and NumPy's generators and the training seed of every `fit` that follows."""
    random.seed(value)
    np.random.seed(value)
    algos.set_default_seed(value)


__all__ = ["ActionSpace", "LoggingStrategy", "algos", "constants", "dataset", "datasets", "load_learnable", "logging",
           "metrics", "models", "ope", "preprocessing", "seed"]
