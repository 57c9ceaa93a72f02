"""Gradient steps per second of tether's learners against d3rlpy 2.8.1, side by side in one run.

    python bench/algos_speed.py [--steps 300] [--algos bc,td3_plus_bc,iql,cql,bcq] [--device cpu|gpu]

Both learn from the same file (HalfCheetah-shaped: 17-dim observations, 6-dim actions, 100k steps),
with the same networks, batch sizes and sampled actions. d3rlpy runs in its own virtualenv
(bench/.venv-d3rlpy, see `make bench-peers`; `TETHER_PEER_PYTHON` names another interpreter, such as
a GPU machine's own Python with torch and d3rlpy on its path). With `--device gpu` both sides train on
the first GPU and the figures go to algos_speed_gpu. tether's rate is taken from the epochs after the
first (which compiles); d3rlpy's after a warm-up fit. Two roofline columns (bench/_roofline.py): the
matmul FLOP rate tether achieves (the matmuls XLA runs per step x steps/s) over this machine's
large-matmul float32 rate, and the share of each step that its matmuls would take alone, each timed in
isolation at its own shape (1.0: nothing but the matmuls costs time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import jax
import numpy as np

from bench._results import PEER_PYTHON, RESULTS, write_results
from bench._roofline import MatmulSite, matmul_profile, time_matmul
from bench.load_formats import synthetic
from tether.algos import BCConfig, BCQConfig, CQLConfig, IQLConfig, TD3PlusBCConfig
from tether.algos.engine import update_hlo
from tether.data import save_dataset

CONFIGS = {"bc": BCConfig, "td3_plus_bc": TD3PlusBCConfig, "iql": IQLConfig, "cql": CQLConfig, "bcq": BCQConfig}


def matmul_peak_flops(sizes: tuple[int, ...] = (512, 768, 1024)) -> float:
    """Best float32 FLOP/s of a square matmul on this machine (the roofline), over a few sizes (on
    a CPU, 1024 can fall out of cache and run slower than 512), each timed as every matmul of
    bench/_roofline.py is: in a compiled loop of itself."""
    squares = [MatmulSite((n, n), (n, n), (((1,), (0,)), ((), ()))) for n in sizes]
    return max(square.flops / time_matmul(square, target_seconds=0.3) for square in squares)


def tether_rate(name: str, dataset, steps: int, device: str) -> float:
    learner = CONFIGS[name]().create(device=device)
    epoch = max(steps // 3, 1)
    history = learner.fit(dataset, n_steps=4 * epoch, n_steps_per_epoch=epoch, show_progress=False)
    return float(np.median([record["steps_per_s"] for _, record in history[1:]]))


def d3rlpy_rate(name: str, path: Path, steps: int, device: str) -> float | None:
    if not PEER_PYTHON.exists():
        return None
    out = subprocess.run([str(PEER_PYTHON), str(Path(__file__).parent / "peers" / "d3rlpy_speed.py"), name,
                          str(path), str(steps), "cuda:0" if device == "gpu" else "cpu:0"],
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--algos", default=",".join(CONFIGS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    args = parser.parse_args()
    dataset = synthetic(100_000)
    peak = matmul_peak_flops((512, 768, 1024) if args.device == "cpu" else (4096, 8192))
    previous = RESULTS / f"algos_speed_{args.device}.json"  # algorithms not re-run keep their earlier figures
    results = json.loads(previous.read_text())["results"] if previous.exists() else {}
    results["matmul_peak_gflops"] = peak / 1e9
    with tempfile.TemporaryDirectory() as tmp:
        path = save_dataset(dataset, Path(tmp) / "data.npz")
        for name in args.algos.split(","):
            ours = tether_rate(name, dataset, args.steps * (20 if name == "bc" else 1), args.device)
            peer = d3rlpy_rate(name, path, args.steps, args.device)
            profile = matmul_profile(update_hlo(CONFIGS[name]().create(device=args.device), dataset))
            flops = profile.flops_per_step
            results[name] = {"tether_steps_per_s": ours, "d3rlpy_steps_per_s": peer, "gflop_per_step": flops / 1e9,
                             "roofline_share": ours * flops / peak,
                             "matmul_alone_s_per_step": profile.seconds_per_step,
                             "matmul_alone_share": ours * profile.seconds_per_step}
            print(name, results[name], flush=True)
            save(results, args.device, args.steps, peak)


def save(results: dict, device: str, steps: int, peak: float) -> None:
    """Write the table (after every algorithm, so a cut-off run keeps what it measured)."""
    rows = []
    for name in CONFIGS:
        if name not in results:
            continue
        r = results[name]
        peer = r["d3rlpy_steps_per_s"]
        rows.append({"algorithm": name, "tether steps/s": f"{r['tether_steps_per_s']:,.0f}",
                     "d3rlpy steps/s": "-" if peer is None else f"{peer:,.0f}",
                     "ratio": "-" if peer is None else f"{r['tether_steps_per_s'] / peer:.1f}x",
                     "matmul GFLOP/step": f"{r['gflop_per_step']:.3f}",
                     "share of matmul peak": f"{r['roofline_share']:.0%}",
                     "share of its matmuls' time alone": (f"{r['matmul_alone_share']:.0%}"
                                                          if "matmul_alone_share" in r else "-")})
    kind = jax.devices(device)[0].device_kind
    write_results(f"algos_speed_{device}", {"steps": steps, "device": kind, "results": results}, rows,
                  f"Gradient steps/s on {device} ({kind}, float32 matmul peak {peak / 1e9:,.0f} GFLOP/s), "
                  "same networks and batch sizes")


if __name__ == "__main__":
    main()
