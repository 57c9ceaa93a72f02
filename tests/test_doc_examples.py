"""Every `Example:` block in the package's docstrings runs and prints what it says.

Modules are found by reading the source for `>>>`, so a new example is tested the day it is written.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import tether

PACKAGE_ROOT = Path(tether.__file__).parent


def modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if ">>> " in path.read_text():
            parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


EXPECTED = {"tether.algos", "tether.audit", "tether.data.dataset", "tether.data.io", "tether.envs.finite",
            "tether.ope.evaluate"}


def test_the_examples_are_found():
    assert EXPECTED <= set(modules_with_examples())


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run_and_print_what_they_say(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has `>>>` in its source but doctest found no example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (printed above)"
