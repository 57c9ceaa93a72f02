"""Write a benchmark's figures to bench/results/<name>.json and a short Markdown table."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
# the interpreter with d3rlpy for side-by-side runs: bench/.venv-d3rlpy (`make bench-peers`), or TETHER_PEER_PYTHON
PEER_PYTHON = Path(os.environ.get("TETHER_PEER_PYTHON", Path(__file__).parent / ".venv-d3rlpy" / "bin" / "python"))


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux; the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}


def iqm_interval(values: np.ndarray, reps: int = 2000) -> tuple[float, float, float]:
    """The interquartile mean of per-seed `values` with rliable's 95% stratified-bootstrap interval."""
    from rliable import library, metrics

    point, interval = library.get_interval_estimates({"m": np.asarray(values).reshape(-1, 1)},
                                                     lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps)
    return float(point["m"][0]), float(interval["m"][0, 0]), float(interval["m"][1, 0])


def write_results(name: str, payload: dict, table_rows: list[dict], title: str) -> Path:
    """Save `payload` (plus machine info) as JSON and `table_rows` as a Markdown table; print the table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine(), **payload, "title": title, "rows": table_rows}  # docs/benchmarks.md reads these
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    columns = list(table_rows[0])
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in table_rows]
    text = "\n".join(lines) + "\n"
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    return RESULTS / f"{name}.json"
