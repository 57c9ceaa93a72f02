"""Progress of a long stage: a rich bar (stage, steps, rate, ETA) on a terminal, and a plain line every
few seconds when stderr is not a terminal (CI logs, files), so nothing sits silent for minutes."""

from __future__ import annotations

import sys
import time
from typing import Any, Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class StageProgress:
    """Context manager; `advance(n, detail)` after each chunk of work. Silent when `enabled` is False."""

    def __init__(self, label: str, total: int, enabled: bool = True, initial: int = 0, unit: str = "steps",
                 every: float = 5.0):
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.enabled = enabled
        self.done = initial
        console = Console(stderr=True)
        self.plain = enabled and not console.is_terminal
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]:>9} " + unit + "/s"),
                                 TextColumn("{task.fields[detail]}"), TimeRemainingColumn(), console=console,
                                 disable=not enabled or self.plain)
        self.task = self.progress.add_task(label, total=total, completed=initial, rate="-", detail="")
        self._started = self._last_line = time.perf_counter()
        self._initial = self._printed = initial

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)
        if self.plain and exc[0] is None and min(self.done, self.total) > self._printed:
            self._line("")

    def advance(self, n: int, detail: str = "", rate: float | None = None) -> None:
        """`n` more units done; `rate` (units/s) defaults to the average since the stage began."""
        self.done += n
        elapsed = time.perf_counter() - self._started
        rate = rate if rate is not None else (self.done - self._initial) / max(elapsed, 1e-9)
        self.progress.update(self.task, advance=n, rate=f"{rate:,.0f}", detail=detail)
        finished = self.done >= self.total > self._printed  # the line at completion, once
        if self.plain and (time.perf_counter() - self._last_line >= self.every or finished):
            self._line(detail, rate)

    def extend(self, total: int) -> None:
        """Raise the total (a stage that found it needs more work than planned, e.g. FQE not converged)."""
        self.total = max(total, self.total)
        self.progress.update(self.task, total=self.total)

    def _line(self, detail: str, rate: float | None = None) -> None:
        elapsed = time.perf_counter() - self._started
        rate = rate if rate is not None else (self.done - self._initial) / max(elapsed, 1e-9)
        done = min(self.done, self.total)  # a generator may report a few steps past its target
        left = (self.total - done) / rate if rate > 0 else float("inf")
        eta = f"ETA {left:.0f}s" if left != float("inf") else "ETA -"
        print(f"{self.label}: {done:,}/{self.total:,} {self.unit} ({done / max(self.total, 1):.0%}), "
              f"{rate:,.0f} {self.unit}/s, {eta}" + (f", {detail}" if detail else ""), file=sys.stderr, flush=True)
        self._last_line, self._printed = time.perf_counter(), self.done
