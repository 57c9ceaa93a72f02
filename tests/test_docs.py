"""Generated documents match what they are generated from."""

from __future__ import annotations

from bench.report import DOCS, render


def test_benchmarks_doc_is_generated_from_the_results():
    assert DOCS.read_text() == render(), "regenerate: python -m bench.report"
