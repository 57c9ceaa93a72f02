"""A rich progress bar for training: steps, steps/s and the latest metrics."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

_SHOWN = ("actor_loss", "critic_loss", "loss", "q_mean")


class TrainingProgress:
    """Context manager; `advance(steps, record)` after each epoch. Silent when `enabled` is False."""

    def __init__(self, total: int, enabled: bool = True, initial: int = 0):
        self.enabled = enabled
        self.progress = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]:>9} steps/s"), TextColumn("{task.fields[metrics]}"),
                                 TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled)
        self.task = self.progress.add_task("train", total=total, completed=initial, rate="-", metrics="")

    def __enter__(self) -> TrainingProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def advance(self, steps: int, record: dict[str, Any]) -> None:
        shown = " ".join(f"{k}={record[k]:.3g}" for k in _SHOWN if k in record)
        self.progress.update(self.task, advance=steps, rate=f"{record['steps_per_s']:,.0f}", metrics=shown)
