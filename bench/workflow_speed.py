"""Wall time of `tether run` against the same workflow done by hand with d3rlpy, on this machine.

    python bench/workflow_speed.py [--profiles quick,seed] [--data halfcheetah-medium-v5]

Per profile, the shared workflow is: BC baseline, CQL, FQE of each, at the profile's steps (quick: BC
3,000, CQL 1,000, FQE 5,000; seed: BC 10,000, CQL 20,000, FQE 10,000). tether runs it as
`tether run --profile P` restricted to CQL (so the stages match), which also audits the data, runs
support checks and bootstrap intervals and writes the memo; its FQE trains 5 bootstrap heads where
d3rlpy's trains one. d3rlpy 2.8.1 runs BC, CQL and `d3rlpy.ope.FQE` of each with the same network
and batch sizes, in its own virtualenv, one after the other on the same cores. The ratio is d3rlpy's
wall time over tether's. The full default `tether run` (all four candidates) is timed as well.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from bench._results import PEER_PYTHON, write_results
from tether.data import save_dataset
from tether.datasets import get_dataset
from tether.workflow import PROFILES, RunConfig, run

PEER_SCRIPT = Path(__file__).parent / "peers" / "d3rlpy_workflow.py"


def tether_side(data: str, profile: str, out: Path, candidates: list[str] | None) -> dict:
    start = time.perf_counter()
    results = run(RunConfig(data=data, profile=profile, candidates=candidates), out, log=lambda *_: None)
    seconds = {"total": time.perf_counter() - start}
    for name, record in results.training.items():
        seconds[name] = record.seconds
        seconds[f"fqe {name}"] = results.evaluation[name].seconds
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", default="quick,seed")
    parser.add_argument("--data", default="halfcheetah-medium-v5")
    parser.add_argument("--full-run", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    dataset, _ = get_dataset(args.data, create_env=False)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        path = save_dataset(dataset, Path(tmp) / "data.npz")
        for profile in args.profiles.split(","):
            steps = {**PROFILES[profile]}
            ours = tether_side(args.data, profile, Path(tmp) / f"run-{profile}", ["cql"])
            print(profile, "tether", ours, flush=True)
            start = time.perf_counter()
            out = subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), str(path), str(steps["baseline"]),
                                  str(steps["cql"]), str(steps["fqe"])], capture_output=True, text=True, check=True)
            peer = json.loads(out.stdout.splitlines()[-1])
            peer["seconds"]["total"] = time.perf_counter() - start
            print(profile, "d3rlpy", peer, flush=True)
            results[profile] = {"steps": {k: steps[k] for k in ("baseline", "cql", "fqe")}, "tether": ours,
                                "d3rlpy": peer}
            for stage in ("bc", "cql", "fqe bc", "fqe cql", "total"):
                rows.append({"profile": profile, "stage": stage, "tether (s)": f"{ours[stage]:.0f}",
                             "d3rlpy (s)": f"{peer['seconds'][stage]:.0f}",
                             "ratio": f"{peer['seconds'][stage] / ours[stage]:.1f}x"})
        if args.full_run:
            full = tether_side(args.data, "quick", Path(tmp) / "run-full", None)
            results["quick, all candidates"] = {"tether": full}
            rows.append({"profile": "quick, all 4 candidates", "stage": "total", "tether (s)": f"{full['total']:.0f}",
                         "d3rlpy (s)": "-", "ratio": "-"})
    write_results("workflow_speed", {"data": args.data, "results": results}, rows,
                  f"Workflow wall time on {args.data}: tether run vs BC + CQL + FQE by hand in d3rlpy 2.8.1, "
                  "this 2-core machine (tether's total also covers audit, support checks, bootstrap and memo)")


if __name__ == "__main__":
    main()
