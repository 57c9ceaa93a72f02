"""Training progress: steps, steps/s, ETA and the latest metrics (see `tether._progress`)."""

from __future__ import annotations

from typing import Any

from tether._progress import StageProgress

_SHOWN = ("actor_loss", "critic_loss", "loss", "q_mean")


class TrainingProgress(StageProgress):
    """`epoch(steps, record)` after each epoch; a bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, enabled: bool = True, initial: int = 0, label: str = "training"):
        super().__init__(label, total, enabled, initial)

    def epoch(self, steps: int, record: dict[str, Any]) -> None:
        """`steps` more steps done; show the epoch's rate and losses."""
        shown = " ".join(f"{k}={record[k]:.3g}" for k in _SHOWN if k in record)
        self.advance(steps, shown, record.get("steps_per_s"))
