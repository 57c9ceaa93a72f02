"""Load time and peak memory of 1M HalfCheetah-sized transitions from each on-disk format.

    python bench/load_formats.py [--steps 1000000]

A synthetic dataset with HalfCheetah's shapes (17-dim observations, 6-dim actions, 1000-step
episodes, next observations and log-probabilities) is written once per format; each load then runs
in a fresh process, which reports its wall time and peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench._results import write_results
from tether.data import ActionSpace, LoggedDataset, save_dataset

_LOADER = """
import resource, sys, time, json
start = time.perf_counter()
from tether.data import load_dataset
imported = time.perf_counter()
ds = load_dataset(sys.argv[1])
done = time.perf_counter()
print(json.dumps({"load_s": done - imported, "import_s": imported - start, "steps": ds.n_steps,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def synthetic(n: int, episode_len: int = 1000) -> LoggedDataset:
    rng = np.random.default_rng(0)
    states = rng.normal(size=(n + 1, 17)).astype(np.float32)
    terminations = np.zeros(n, bool)
    truncations = np.zeros(n, bool)
    truncations[episode_len - 1 :: episode_len] = True
    next_obs = states[1:].copy()
    return LoggedDataset(observations=states[:-1], actions=rng.uniform(-1, 1, (n, 6)).astype(np.float32),
                         rewards=rng.normal(size=n).astype(np.float32), terminations=terminations,
                         truncations=truncations, episode_starts=np.arange(0, n, episode_len),
                         action_space=ActionSpace.continuous(-np.ones(6), np.ones(6)),
                         next_observations=next_obs, behavior_log_probs=rng.normal(size=n),
                         metadata={"name": "synthetic-halfcheetah"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args()
    dataset = synthetic(args.steps)
    raw_mb = sum(a.nbytes for a in dataset.arrays().values()) / 2**20
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        targets = {"d4rl (hdf5, gzip)": "data.hdf5", "minari (hdf5)": "minari-ds", "parquet": "data.parquet",
                   "csv": "data.csv", "npz": "data.npz"}
        for label, name in targets.items():
            path = save_dataset(dataset, Path(tmp) / name)
            size_mb = sum(p.stat().st_size for p in Path(path).rglob("*")) / 2**20 if Path(path).is_dir() \
                else Path(path).stat().st_size / 2**20
            out = subprocess.run([sys.executable, "-c", _LOADER, str(path)], capture_output=True, text=True, check=True)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            assert figures["steps"] == args.steps
            results[label] = {**figures, "file_mb": size_mb}
            rows.append({"format": label, "load s": f"{figures['load_s']:.2f}",
                         "peak RSS MB": f"{figures['peak_rss_mb']:.0f}", "file MB": f"{size_mb:.0f}"})
    write_results("load_formats", {"steps": args.steps, "raw_arrays_mb": raw_mb, "results": results}, rows,
                  f"Loading {args.steps:,} HalfCheetah-sized steps (arrays {raw_mb:.0f} MB in memory), 2-core CPU")


if __name__ == "__main__":
    main()
