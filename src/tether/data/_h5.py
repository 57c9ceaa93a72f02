"""Small HDF5 helpers shared by the D4RL and Minari readers: clean errors instead of h5py tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from tether.data.errors import DatasetError


@contextmanager
def open_h5(path: str | Path, mode: str = "r") -> Iterator[h5py.File]:
    """Open an HDF5 file; an unreadable or truncated file becomes a `DatasetError`."""
    path = Path(path)
    if mode == "r" and not path.exists():
        raise DatasetError(str(path), "file does not exist", "check the path")
    try:
        handle = h5py.File(path, mode)
    except (OSError, RuntimeError, ValueError) as err:
        raise DatasetError(str(path), f"is not a readable HDF5 file ({str(err).split(';')[0]})",
                           "the file is truncated or corrupt: copy or regenerate it") from None
    try:
        yield handle
    except DatasetError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as err:
        # a damaged file fails deep inside HDF5 in many ways; what the user needs is which file
        raise DatasetError(str(path), f"is damaged ({type(err).__name__}: {str(err).split(';')[0][:120]})",
                           "the file is truncated or corrupt: copy or regenerate it") from None
    finally:
        try:
            handle.close()
        except (OSError, RuntimeError):
            pass


def read_h5_dataset(dataset: h5py.Dataset, path: str | Path) -> np.ndarray:
    """Read a whole HDF5 dataset (scalars with `[()]`, as D4RL's metadata needs)."""
    try:
        return dataset[()]
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        raise DatasetError(str(path), f"entry {dataset.name!r} cannot be read ({err})",
                           "the file is truncated or corrupt: copy or regenerate it") from None
