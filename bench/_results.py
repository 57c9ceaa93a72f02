"""Write a benchmark's figures to bench/results/<name>.json and a short Markdown table."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# the interpreter with d3rlpy for side-by-side runs: bench/.venv-d3rlpy (`make bench-peers`), or TETHER_PEER_PYTHON
PEER_PYTHON = Path(os.environ.get("TETHER_PEER_PYTHON", Path(__file__).parent / ".venv-d3rlpy" / "bin" / "python"))


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


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
