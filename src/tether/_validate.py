"""Check a user's table of settings against a dataclass before any compute is spent.

`check_table(LearnerConfigClass, {"learning_rate": "high"}, "[hyperparameters.cql]")` raises a
`ConfigError` naming the table, the key and the fix: unknown keys (with the closest known name),
values of the wrong type (against the field's annotation) and values the class itself refuses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from tether.errors import ConfigError, did_you_mean


def type_problem(value: Any, annotation: Any) -> str | None:
    """Why `value` does not fit `annotation` (None when it does); ints pass as floats, lists as tuples."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        problems = [type_problem(value, option) for option in typing.get_args(annotation)]
        return None if any(p is None for p in problems) else next(p for p in problems if p)
    if annotation is type(None):
        return None if value is None else "expected nothing (None)"
    if annotation is Any:
        return None
    if annotation is bool:
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected a whole number, got {value!r}"
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if annotation is str:
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return f"expected a list, got {value!r}"
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        for item in value:
            if args and (problem := type_problem(item, args[0])):
                return f"{problem} in the list"
        return None
    if origin is dict or annotation is dict:
        return None if isinstance(value, dict) else f"expected a table, got {value!r}"
    return None


def check_table(cls: type, values: Any, table: str) -> None:
    """Refuse unknown keys, mistyped values, and values `cls(**values)` refuses, naming `table` and the key."""
    if not isinstance(values, dict):
        raise ConfigError(table, f"must be a table of settings, got {values!r}",
                          f"write it as {table} with key = value lines")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{table} {key}", f"unknown key {key!r}{did_you_mean(key, fields)}",
                              f"use one of {sorted(fields)}")
        problem = type_problem(value, hints[key])
        if problem:
            raise ConfigError(f"{table} {key}", problem, f"give {key} a value of type {_describe(hints[key])}")
    try:
        cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except ConfigError as err:
        raise ConfigError(f"{table} {err.field}", err.problem, err.fix) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(table, " ".join(str(err).split()), "change the value it names") from None


def _describe(annotation: Any) -> str:
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
