"""Time and peak memory of `tether audit` on 1,000,000 HalfCheetah-shaped steps (goal: under a minute).

    python bench/audit_speed.py [--steps 1000000]

The dataset is synthetic (17-dim observations, 6-dim actions, 1000-step episodes), audited with a
100k-step reference for SACo, in a fresh process so the peak resident memory is the audit's own
(plus the data: about 170 MB of arrays for 1M steps).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_results  # noqa: E402
from load_formats import synthetic  # noqa: E402

from tether.audit import audit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args()
    data = synthetic(args.steps)
    reference = synthetic(100_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    report = audit(data, reference=reference)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [{"steps": f"{args.steps:,}", "seconds": f"{seconds:.1f}", "peak RSS (MB)": f"{peak:.0f}",
             "RSS before the audit (MB)": f"{before:.0f}", "verdict": report.verdict}]
    write_results("audit_speed", {"steps": args.steps, "seconds": seconds, "peak_rss_mb": peak,
                                  "rss_before_mb": before}, rows,
                  f"tether audit on {args.steps:,} synthetic HalfCheetah-shaped steps, this machine")


if __name__ == "__main__":
    main()
