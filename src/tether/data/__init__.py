"""Logged decision datasets: the core representation, validation, readers and writers."""

from tether.data.dataset import ActionSpace, Episode, LoggedDataset, Transitions
from tether.data.errors import DatasetError
from tether.data.io import FORMATS, load_dataset, save_dataset
from tether.data.tabular import TabularSchema

__all__ = [
    "FORMATS", "ActionSpace", "DatasetError", "Episode", "LoggedDataset", "TabularSchema", "Transitions",
    "load_dataset", "save_dataset",
]
