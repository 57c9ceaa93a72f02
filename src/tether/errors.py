"""tether's exception types: each names what is wrong, where (a field, column or file) and the fix.

The command line prints any of them as one line, `error: <message>`, and exits with `exit_code`:
1 for bad data or files, 2 for bad usage (options, configs). They subclass `ValueError`, so code
that caught `ValueError` before keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable


class TetherError(ValueError):
    """A problem the user can fix.

    Attributes:
        field: the offending field, column, option or file.
        problem: what is wrong.
        fix: what to do about it.
        where: the row, episode or key where the problem was found, if known.
    """

    exit_code = 1

    def __init__(self, field: str, problem: str, fix: str, where: str | None = None):
        self.field, self.problem, self.fix, self.where = field, problem, fix, where
        location = f" at {where}" if where else ""
        super().__init__(f"{field}: {problem}{location}. Fix: {fix}")


class DatasetError(TetherError):
    """Invalid or unreadable logged data."""


class ConfigError(TetherError):
    """A bad option, config key or value: a usage error (exit code 2)."""

    exit_code = 2


class ModelFileError(TetherError):
    """A saved learner or checkpoint that cannot be loaded as asked: truncated, tampered, non-finite,
    another algorithm, or another layout."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest known name, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
