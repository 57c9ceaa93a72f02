"""Where one gradient step's matmul time goes: every distinct matmul, timed alone at its shape.

    python bench/matmul_sites.py [--algos td3_plus_bc,iql,bc]

For each algorithm (default networks and batch sizes, the synthetic HalfCheetah-shaped data of
`bench/algos_speed.py`): operand shapes, runs per step, microseconds per run alone, GFLOP/s, and
share of the step's matmul time (bench/_roofline.py counts and times them). Prints them and writes
`bench/results/matmul_sites_cpu.{json,md}`.
"""

from __future__ import annotations

import argparse

from bench._results import write_results
from bench._roofline import matmul_profile
from bench.algos_speed import CONFIGS, matmul_peak_flops
from bench.load_formats import synthetic
from tether.algos.engine import update_hlo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algos", default="td3_plus_bc,iql,bc")
    args = parser.parse_args()
    data = synthetic(100_000)
    peak = matmul_peak_flops()
    print(f"square matmul peak: {peak / 1e9:.0f} GFLOP/s")
    rows: list[dict] = []
    for name in args.algos.split(","):
        profile = matmul_profile(update_hlo(CONFIGS[name]().create(device="cpu"), data))
        alone = profile.seconds_per_step
        print(f"{name}: {profile.flops_per_step / 1e9:.3f} GFLOP/step, matmuls alone {alone * 1e6:.0f} us/step "
              f"({profile.flops_per_step / alone / 1e9:.0f} GFLOP/s)")
        for site in sorted(profile.counts, key=lambda s: -profile.seconds[s] * profile.counts[s]):
            runs, seconds = profile.counts[site], profile.seconds[site]
            print(f"  {site.lhs_shape!s:16} x {site.rhs_shape!s:16} {site.dimension_numbers!s:40} x{runs:<4} "
                  f"{seconds * 1e6:7.1f} us {site.flops / seconds / 1e9:6.1f} GFLOP/s {seconds * runs / alone:6.1%}")
            rows.append({"algorithm": name, "lhs": str(site.lhs_shape), "rhs": str(site.rhs_shape),
                         "dimension numbers": str(site.dimension_numbers), "runs per step": runs,
                         "us alone": round(seconds * 1e6, 1), "GFLOP/s": round(site.flops / seconds / 1e9, 1),
                         "share of matmul time": f"{seconds * runs / alone:.1%}"})
    write_results("matmul_sites_cpu", {"matmul_peak_gflops": peak / 1e9, "sites": rows}, rows,
                  f"Matmuls of one gradient step, each timed alone (square peak {peak / 1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
