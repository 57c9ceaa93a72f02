"""Every bad-input class in `tests/bad_inputs.py` gets its one line, its exit code and its exception type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tether.errors
from tests.bad_inputs import CASES, BadInput, markdown
from tether.cli.main import app

runner = CliRunner()
DOCS = Path(__file__).parents[1] / "docs" / "bad-inputs.md"


def test_the_catalogue_holds_at_least_forty_distinct_classes():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_one_clear_line(case: BadInput, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # the env-id case's probe module is importable: it must not be
    args = case.make(tmp_path)
    result = runner.invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == case.exit_code, result.output + result.stderr
    assert not (tmp_path / "IMPORTED").exists(), "a module named by data was imported"
    if case.expected.endswith("Error"):
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1 and errors == lines[-1:], lines  # one line, the last thing printed
        assert re.search(case.message, errors[0]), errors[0]
        assert "Traceback" not in result.output + result.stderr
        again = runner.invoke(app, ["--debug", *args])  # the Python exception behind the line
        assert type(again.exception) is getattr(tether.errors, case.expected), repr(again.exception)
    else:
        assert re.search(case.message, result.output + result.stderr), result.output + result.stderr


def test_docs_table_is_generated_from_the_catalogue():
    assert DOCS.read_text() == markdown(), "regenerate: python -m tests.bad_inputs > docs/bad-inputs.md"
