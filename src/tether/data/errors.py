"""The one error type bad data raises: it names the field, where the problem is, and the fix."""

from __future__ import annotations


class DatasetError(ValueError):
    """Invalid or unreadable logged data.

    Attributes:
        field: the offending field or column (`"actions"`, `"rewards"`, a file path...).
        where: the row, episode or key where the problem was found, if known.
        fix: what the user should do about it.
    """

    def __init__(self, field: str, problem: str, fix: str, where: str | None = None):
        self.field, self.problem, self.fix, self.where = field, problem, fix, where
        location = f" at {where}" if where else ""
        super().__init__(f"{field}: {problem}{location}. Fix: {fix}")
