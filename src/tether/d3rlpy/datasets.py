"""d3rlpy's dataset getters. Nothing is downloaded: `get_d4rl` reads D4RL files already on disk
(`~/.d4rl/datasets`) or tether's regenerated `-v5` datasets, as `tether.datasets.get_d4rl` does."""

from tether.datasets import get_d4rl

__all__ = ["get_d4rl"]
