"""Do tether's updates compute what d3rlpy's do? Same weights in, same batches, compare weights out.

    python bench/update_crosscheck.py [--algos td3_plus_bc,bc] [--updates 50]

For each algorithm, d3rlpy 2.8.1 (bench/.venv-d3rlpy, through bench/peers/d3rlpy_update_trace.py)
builds its networks and applies `--updates` updates to fixed random batches. tether starts from
d3rlpy's initial weights (torch `[out, in]` layouts transposed into flax kernels) and applies its own
pure `update` to the same batches. The report compares, per network, the total change of the weights
on the two sides (the L2 norm of the difference over d3rlpy's change, and the worst single weight),
and each loss the two sides log, update by update. TD3+BC runs with its target smoothing noise off
(sigma 0) on both sides, the only random part of its update, so both updates are deterministic.

Reading it: float32 rounding alone leaves an L2 difference near 1e-5 to 1e-3 after 50 updates (Adam
divides by the gradient's size, so weights whose gradient is near zero amplify rounding; the worst
single weight shows that). A different update rule shows up as 1e-1 or more.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import PEER_PYTHON, write_results  # noqa: E402

from tether.algos import bc, td3_plus_bc  # noqa: E402
from tether.algos.base import Batch, DatasetSpec  # noqa: E402

PEER_SCRIPT = Path(__file__).parent / "peers" / "d3rlpy_update_trace.py"
OBS_DIM, ACTION_DIM = 17, 6


def random_batches(n_updates: int, batch_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (n_updates, batch_size)
    return {
        "observations": rng.normal(size=(*shape, OBS_DIM)).astype(np.float32),
        "actions": rng.uniform(-0.9, 0.9, size=(*shape, ACTION_DIM)).astype(np.float32),
        "rewards": rng.normal(size=shape).astype(np.float32),
        "next_observations": rng.normal(size=(*shape, OBS_DIM)).astype(np.float32),
        "terminations": (rng.uniform(size=shape) < 0.05).astype(np.float32),
    }


def mlp_params(weights: dict[str, np.ndarray], prefix: str) -> dict:
    """A d3rlpy VectorEncoder + `_fc` head as flax `MLP` params (kernels transposed)."""
    layers = [f"{prefix}_encoder._layers.0", f"{prefix}_encoder._layers.2", f"{prefix}_fc"]
    return {f"Dense_{i}": {"kernel": jnp.asarray(weights[f"{layer}.weight"].T),
                           "bias": jnp.asarray(weights[f"{layer}.bias"])} for i, layer in enumerate(layers)}


def ensemble_params(weights: dict[str, np.ndarray], prefix: str, n_critics: int = 2) -> dict:
    members = [mlp_params(weights, f"{prefix}{k}.") for k in range(n_critics)]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *members)


def run_tether(algo: str, weights: dict[str, np.ndarray],
               batches: dict[str, np.ndarray]) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """tether's final weights per network and its per-update losses, started from d3rlpy's weights."""
    spec = DatasetSpec(OBS_DIM, ACTION_DIM)
    if algo == "td3_plus_bc":
        config = td3_plus_bc.TD3PlusBCConfig(target_smoothing_sigma=0.0)
        state = td3_plus_bc.init(config, spec, jax.random.key(0))
        actor, critic = mlp_params(weights, "init/policy/"), ensemble_params(weights, "init/q_funcs/")
        state = state.replace(
            actor=state.actor.replace(params={"MLP_0": actor}, opt_state=state.actor.tx.init({"MLP_0": actor})),
            critic=state.critic.replace(params={"VmapMLP_0": critic},
                                        opt_state=state.critic.tx.init({"VmapMLP_0": critic})),
            target_actor_params={"MLP_0": mlp_params(weights, "init/targ_policy/")},
            target_critic_params={"VmapMLP_0": ensemble_params(weights, "init/targ_q_funcs/")})
        update = jax.jit(lambda s, b: td3_plus_bc.update(s, b, jax.random.key(0), config=config))

        def final(s):
            return {"policy": s.actor.params["MLP_0"], "q_funcs": s.critic.params["VmapMLP_0"],
                    "targ_policy": s.target_actor_params["MLP_0"], "targ_q_funcs": s.target_critic_params["VmapMLP_0"]}
    elif algo == "bc":
        config = bc.BCConfig()
        state = bc.init(config, spec, jax.random.key(0))
        policy = mlp_params(weights, "init/imitator/")
        state = state.replace(policy=state.policy.replace(params={"MLP_0": policy},
                                                          opt_state=state.policy.tx.init({"MLP_0": policy})))
        update = jax.jit(lambda s, b: bc.update(s, b, jax.random.key(0), config=config))

        def final(s):
            return {"imitator": s.policy.params["MLP_0"]}
    else:
        raise SystemExit(f"no crosscheck for {algo}")
    losses: dict[str, list[float]] = {}
    for i in range(len(batches["observations"])):
        state, metrics = update(state, Batch(*(jnp.asarray(batches[key][i]) for key in
                                               ("observations", "actions", "rewards", "next_observations",
                                                "terminations"))))
        for key, value in metrics.items():
            if np.isfinite(value):  # TD3+BC's actor reports NaN on the steps it skips
                losses.setdefault(key, []).append(float(value))
    return final(state), {key: np.asarray(values) for key, values in losses.items()}


def compare(algo: str, weights: dict[str, np.ndarray], ours: dict[str, dict],
            our_losses: dict[str, np.ndarray]) -> list[dict]:
    """Per network: how far the two sides' total weight changes differ (as a share of d3rlpy's change,
    in the L2 norm over all weights, and at the single worst weight); per loss: the worst step."""
    rows = []
    for module, params in ours.items():
        build = mlp_params if module in ("policy", "targ_policy", "imitator") else ensemble_params
        init, theirs = build(weights, f"init/{module}/"), build(weights, f"final/{module}/")
        ours_moved, their_moved = (
            jnp.concatenate([(a - b).ravel() for a, b in zip(jax.tree.leaves(end), jax.tree.leaves(init), strict=True)])
            for end in (params, theirs))
        gap, moved = ours_moved - their_moved, float(jnp.linalg.norm(their_moved))
        rows.append({"algorithm": algo, "compared": f"{module} weights",
                     "d3rlpy": f"moved {moved:.3g} (L2)",
                     "relative difference (L2)": f"{float(jnp.linalg.norm(gap)) / moved:.1e}",
                     "worst single value": f"{float(jnp.max(jnp.abs(gap))):.1e} "
                                           f"of {float(jnp.max(jnp.abs(their_moved))):.1e}"})
    for key, theirs in sorted((k.removeprefix("loss/"), weights[k]) for k in weights if k.startswith("loss/")):
        if key not in our_losses:
            continue
        ours_trace = our_losses[key]
        relative = np.abs(ours_trace - theirs) / np.maximum(np.abs(theirs), 1e-12)
        rows.append({"algorithm": algo, "compared": f"{key}, {len(theirs)} updates",
                     "d3rlpy": f"{theirs[0]:.4g} to {theirs[-1]:.4g}",
                     "relative difference (L2)": f"{np.linalg.norm(ours_trace - theirs) / np.linalg.norm(theirs):.1e}",
                     "worst single value": f"{float(np.max(relative)):.1e} (relative)"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algos", default="td3_plus_bc,bc")
    parser.add_argument("--updates", type=int, default=50)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for algo in args.algos.split(","):
            batch_size = 100 if algo == "bc" else 256
            batches = random_batches(args.updates, batch_size)
            batches_path, out_path = Path(tmp) / f"{algo}_batches.npz", Path(tmp) / f"{algo}_trace.npz"
            np.savez(batches_path, **batches)
            subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), algo, str(batches_path), str(out_path)],
                           check=True, capture_output=True)
            with np.load(out_path) as data:
                weights = {key: data[key] for key in data.files}
            rows += compare(algo, weights, *run_tether(algo, weights, batches))
    for row in rows:
        print(row)
    write_results("update_crosscheck", {"updates": args.updates, "rows": rows}, rows,
                  f"tether's updates against d3rlpy's from the same weights, {args.updates} updates, same batches")


if __name__ == "__main__":
    main()
