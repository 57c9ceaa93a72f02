"""The error type bad data raises (defined with tether's other errors in `tether.errors`)."""

from tether.errors import DatasetError

__all__ = ["DatasetError"]
