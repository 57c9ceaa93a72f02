"""Time and peak memory of `tether audit`, in memory and streamed from Parquet (goal: 1M steps under a minute).

    python bench/audit_speed.py [--steps 1000000] [--stream-steps 1000000,5000000]

The data are synthetic (17-dim observations, 6-dim actions, 1000-step episodes), audited with a
100k-step reference for SACo. Each case runs in a fresh process, so its peak resident memory is its
own. In memory, the peak includes the data (about 170 MB of arrays per 1M steps). Streamed, the
Parquet file is written piece by piece and read in one pass; the peak should stay flat as the file grows,
which is what lets a log larger than memory be audited.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._results import write_results
from bench.load_formats import synthetic
from tether.audit import audit, audit_parquet

PIECE = 200_000


def write_big_parquet(path: Path, steps: int) -> float:
    """Write `steps` synthetic steps to `path` in pieces (bounded memory); returns the file's size in MB."""
    import pyarrow.parquet as pq

    from tether.data.tabular import _sidecar_json, dataset_to_table

    writer = None
    for start in range(0, steps, PIECE):
        piece = synthetic(min(PIECE, steps - start))
        table = dataset_to_table(piece)
        table = table.set_column(0, "episode_id", [np.asarray(table["episode_id"]) + start // 1000])
        table = table.replace_schema_metadata({"tether": _sidecar_json(piece)})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path.stat().st_size / 2**20


def worker(mode: str, steps: int, path: str | None) -> None:
    reference = synthetic(100_000)
    data = synthetic(steps) if mode == "memory" else None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    report = audit(data, reference=reference) if mode == "memory" else audit_parquet(path, reference=reference)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": before, "verdict": report.verdict,
                      "audited_steps": report.diagnostics["size"]["steps"]}))


def run_worker(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--stream-steps", default="1000000,5000000")
    parser.add_argument("--worker", nargs="+")
    args = parser.parse_args()
    if args.worker:
        mode, steps, *path = args.worker
        return worker(mode, int(steps), path[0] if path else None)
    cases = {f"in memory, {args.steps:,} steps": run_worker("memory", str(args.steps))}
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for steps in [int(s) for s in args.stream_steps.split(",") if s]:
            path = Path(tmp) / f"log{steps}.parquet"
            sizes[steps] = write_big_parquet(path, steps)
            cases[f"streamed Parquet, {steps:,} steps"] = {**run_worker("stream", str(steps), str(path)),
                                                           "file_mb": sizes[steps]}
            path.unlink()
    rows = [{"case": name, "seconds": f"{r['seconds']:.1f}", "peak RSS (MB)": f"{r['peak_rss_mb']:.0f}",
             "RSS before the audit (MB)": f"{r['rss_before_mb']:.0f}",
             "file (MB)": f"{r['file_mb']:.0f}" if "file_mb" in r else "-", "verdict": r["verdict"]}
            for name, r in cases.items()]
    for row in rows:
        print(row)
    write_results("audit_speed", {"cases": cases}, rows,
                  "tether audit on synthetic HalfCheetah-shaped steps, this machine (each case in a fresh process)")


if __name__ == "__main__":
    main()
