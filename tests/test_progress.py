"""Progress off a terminal: plain lines, at most one every few seconds, and one at completion."""

from __future__ import annotations

from tether._progress import StageProgress


def test_plain_progress_prints_once_at_completion_and_never_past_the_total(capsys):
    with StageProgress("generating", 10, enabled=True, every=1000.0) as bar:  # pytest's stderr is no terminal
        assert bar.plain
        for _ in range(4):
            bar.advance(4, "detail")  # 16 reported for a total of 10, as a generator may
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("generating: 10/10 steps (100%)") and "detail" in lines[0]


def test_plain_progress_reports_an_unfinished_stage_when_it_ends(capsys):
    with StageProgress("training", 100, enabled=True, every=1000.0) as bar:
        bar.advance(30)
    assert capsys.readouterr().err.strip().startswith("training: 30/100 steps (30%)")


def test_disabled_progress_prints_nothing(capsys):
    with StageProgress("quiet", 5, enabled=False) as bar:
        bar.advance(5)
    assert capsys.readouterr().err == ""
