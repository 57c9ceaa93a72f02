"""Do tether's updates compute what d3rlpy's do? Same weights in, same batches, compare weights out.

    python bench/update_crosscheck.py [--algos td3_plus_bc,bc] [--updates 50]

For each algorithm, d3rlpy 2.8.1 (bench/.venv-d3rlpy, through bench/peers/d3rlpy_update_trace.py)
builds its networks and applies `--updates` updates to fixed random batches. tether starts from
d3rlpy's initial weights (torch `[out, in]` layouts transposed into flax kernels) and applies its own
pure `update` to the same batches. The report compares, per network, the total change of the weights
on the two sides (the L2 norm of the difference over d3rlpy's change, and the worst single weight),
and each loss the two sides log, update by update. TD3+BC runs with its target smoothing noise off
(sigma 0) on both sides, the only random part of its update, so both updates are deterministic.
CQL's update is random throughout (uniform and policy actions, the actor's sample): this script
draws those numbers once and hands the same ones to both sides, in the order each asks for them.
CQL runs with d3rlpy's defaults, its Lagrangian alpha included; `--cql-backup soft` compares d3rlpy's
`soft_q_backup=True` with tether's `backup="soft"` instead of the default mean-action backup.
BCQ's VAE latents are drawn the same way; it runs d3rlpy's recipe (batch 100, `n_action_samples`
target samples, `--bcq-samples`, default 100; linear decoder) on tether through
`tether.d3rlpy.algos.BCQConfig`, its VAE as wide as the other networks.

Reading it: float32 rounding alone leaves an L2 difference near 1e-5 to 1e-3 after 50 updates (Adam
divides by the gradient's size, so weights whose gradient is near zero amplify rounding; the worst
single weight shows that). A different update rule shows up as 1e-1 or more. The last column
measures rounding's share directly: tether against itself, started from its weights times
`1 + 1e-7 * noise`. CQL's critic is the sensitive one: its penalty's gradient is the difference of
two nearly equal terms (pushed down at sampled actions, up at the data's), so rounding grows from
1e-4 after one update to a few 1e-2 after 50, on either side, and the two libraries' gap with it.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict

from bench._results import PEER_PYTHON, write_results
from bench.crosscheck import draws_per_update, replay_updates
from tether.algos import BCConfig, CQLConfig, TD3PlusBCConfig
from tether.algos.base import Batch
from tether.d3rlpy import algos as ported
from tether.d3rlpy.models import VectorEncoderFactory

PEER_SCRIPT = Path(__file__).parent / "peers" / "d3rlpy_update_trace.py"
OBS_DIM, ACTION_DIM = 17, 6
BATCH_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminations")
# tether's network name: d3rlpy's module name, and whether it is an ensemble of critics
NETWORKS = {
    "td3_plus_bc": {"actor": ("policy", False), "critic": ("q_funcs", True),
                    "target_actor": ("targ_policy", False), "target_critic": ("targ_q_funcs", True)},
    "bc": {"policy": ("imitator", False)},
    "cql": {"actor": ("policy", False), "critic": ("q_funcs", True), "target_critic": ("targ_q_funcs", True),
            "log_temp": ("log_temp", False)},
    "bcq": {"actor": ("policy", False), "critic": ("q_funcs", True), "target_actor": ("targ_policy", False),
            "target_critic": ("targ_q_funcs", True), "imitator": ("vae_encoder", False)},
}
N_ACTION_SAMPLES = 10  # CQL's, d3rlpy's default
FLAX_ROOT = {False: "MLP_0", True: "VmapMLP_0"}


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


def mlp_params(weights: dict[str, np.ndarray], prefix: str, n_layers: int) -> dict:
    """A d3rlpy VectorEncoder + `_fc` head as flax `MLP` params (kernels transposed)."""
    layers = [f"{prefix}_encoder._layers.{2 * i}" for i in range(n_layers - 1)] + [f"{prefix}_fc"]
    return {f"Dense_{i}": {"kernel": jnp.asarray(weights[f"{layer}.weight"].T),
                           "bias": jnp.asarray(weights[f"{layer}.bias"])} for i, layer in enumerate(layers)}


def gaussian_actor_params(weights: dict[str, np.ndarray], prefix: str, n_layers: int) -> dict:
    """A d3rlpy `NormalPolicy` (encoder, `_mu`, `_logstd`) as tether's `TanhGaussianActor` params."""
    dense = lambda layer: {"kernel": jnp.asarray(weights[f"{prefix}{layer}.weight"].T),  # noqa: E731
                           "bias": jnp.asarray(weights[f"{prefix}{layer}.bias"])}
    return {"trunk": {f"Dense_{i}": dense(f"_encoder._layers.{2 * i}") for i in range(n_layers - 1)},
            "mean": dense("_mu"), "log_std": dense("_logstd")}


def vae_params(weights: dict[str, np.ndarray], stage: str, n_layers: int) -> dict:
    """d3rlpy's `VAEEncoder` (encoder, `_mu`, `_logstd`) and `VAEDecoder` as tether's `ConditionalVAE` params."""
    dense = lambda layer: {"kernel": jnp.asarray(weights[f"{stage}/vae_encoder/{layer}.weight"].T),  # noqa: E731
                           "bias": jnp.asarray(weights[f"{stage}/vae_encoder/{layer}.bias"])}
    return {"encoder": {f"Dense_{i}": dense(f"_encoder._layers.{2 * i}") for i in range(n_layers - 1)},
            "encoder_mean": dense("_mu"), "encoder_log_std": dense("_logstd"),
            "decoder": mlp_params(weights, f"{stage}/vae_decoder/", n_layers)}


def flax_networks(algo: str, weights: dict[str, np.ndarray], stage: str, n_layers: int) -> dict[str, dict]:
    """d3rlpy's `init` or `final` weights as tether's networks (critic ensembles stacked on axis 0)."""
    networks = {}
    for ours, (theirs, ensemble) in NETWORKS[algo].items():
        if ours == "log_temp":
            networks[ours] = {"log_temp": jnp.asarray(weights[f"{stage}/{theirs}/_parameter"]).reshape(())}
            continue
        if ours == "imitator":
            networks[ours] = vae_params(weights, stage, n_layers)
            continue
        if algo == "cql" and ours == "actor":
            networks[ours] = gaussian_actor_params(weights, f"{stage}/{theirs}/", n_layers)
            continue
        if ensemble:
            members = [mlp_params(weights, f"{stage}/{theirs}/{k}.", n_layers) for k in range(2)]
            params = jax.tree.map(lambda *leaves: jnp.stack(leaves), *members)
        else:
            params = mlp_params(weights, f"{stage}/{theirs}/", n_layers)
        networks[ours] = {FLAX_ROOT[ensemble]: params}
    return networks


def random_draws(n_updates: int, batch_size: int, backup: str, seed: int = 1) -> dict[str, np.ndarray]:
    """CQL's random numbers, `[n_updates, ...]` each, in the order both sides ask for them: the target's
    next action (sampled backups only), the policy's actions at s and at s', the actor's sample; and
    the uniform actions (on [0, 1), in tether's `[sample, batch, action]` layout)."""
    rng = np.random.default_rng(seed)
    samples = (n_updates, N_ACTION_SAMPLES, batch_size, ACTION_DIM)
    single = (n_updates, batch_size, ACTION_DIM)
    normal = ([single] if backup != "mean" else []) + [samples, samples, single]
    draws = {f"normal_{k}": rng.normal(size=shape).astype(np.float32) for k, shape in enumerate(normal)}
    draws["uniform_0"] = rng.uniform(size=samples).astype(np.float32)
    return draws


def bcq_draws(n_updates: int, batch_size: int, n_samples: int, seed: int = 1) -> dict[str, np.ndarray]:
    """BCQ's VAE latents, in the order both sides ask for them: the VAE loss's reparameterised sample,
    the critic target's `n_samples` latents per next state (`[batch * sample]`, batch-major on both
    sides), the actor's latent; standard normal, each side clips the last two to [-0.5, 0.5] itself."""
    rng = np.random.default_rng(seed)
    latent = 2 * ACTION_DIM
    shapes = [(n_updates, batch_size, latent), (n_updates, batch_size * n_samples, latent),
              (n_updates, batch_size, latent)]
    return {f"normal_{k}": rng.normal(size=shape).astype(np.float32) for k, shape in enumerate(shapes)}


def peer_draws(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same draws in d3rlpy's layout: CQL's uniform actions come as `[batch * sample, action]`."""
    if "uniform_0" not in draws:
        return draws
    uniform = draws["uniform_0"]
    n_updates, n, batch_size, action_dim = uniform.shape
    return {**draws, "uniform_0": uniform.transpose(0, 2, 1, 3).reshape(n_updates, batch_size * n, action_dim)}


def cql_losses_as_tether_logs_them(losses: dict[str, np.ndarray], config: CQLConfig) -> dict[str, np.ndarray]:
    """d3rlpy logs CQL's penalty as `alpha * weight * sum_critics(logsumexp' - Q(s, a_data) - threshold)`,
    its logsumexp' without tether's `- log(3 n)` normalisation, and the critic loss with that penalty
    in it; tether logs the bare `sum_critics(logsumexp - Q(s, a_data))`. With the alpha both log, one
    converts exactly into the other. d3rlpy's other logs (temperature after its step, timings) are left out."""
    n_critics, weight = config.n_critics, config.conservative_weight
    penalty = (losses["conservative_loss"] / (losses["alpha"] * weight) + n_critics * config.alpha_threshold
               - n_critics * np.log(3 * config.n_action_samples))
    critic = losses["critic_loss"] - losses["conservative_loss"] + losses["alpha"] * weight * penalty
    return {"actor_loss": losses["actor_loss"], "alpha": losses["alpha"],
            "conservative_loss": penalty.astype(np.float32), "critic_loss": critic.astype(np.float32)}


def config_for(algo: str, hidden: tuple[int, ...], cql_backup: str = "mean", bcq_samples: int = 100,
               batch_size: int = 100):
    if algo == "bcq":  # d3rlpy's recipe, as tether's d3rlpy front end builds it
        enc = VectorEncoderFactory(hidden_units=list(hidden))
        return ported.BCQConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, imitator_encoder_factory=enc,
                                batch_size=batch_size, n_action_samples=bcq_samples).config
    if algo == "td3_plus_bc":
        return TD3PlusBCConfig(hidden_dims=hidden, target_smoothing_sigma=0.0)
    if algo == "cql":  # tether's defaults, d3rlpy's Lagrangian alpha included
        return CQLConfig(hidden_dims=hidden, backup=cql_backup)
    return BCConfig(hidden_dims=hidden)


def perturbed(networks: dict, seed: int = 0) -> dict:
    """`networks` with every weight multiplied by `1 + 1e-7 * N(0, 1)`: float32 rounding's size."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: x * (1 + 1e-7 * rng.standard_normal(np.shape(x))).astype(np.float32), networks)


def moved(end: dict, start: dict) -> jax.Array:
    return jnp.concatenate([(a - b).ravel() for a, b in zip(jax.tree.leaves(end), jax.tree.leaves(start),
                                                            strict=True)])


def compare(algo: str, init: dict, theirs: dict, ours: dict, ours_perturbed: dict,
            their_losses: dict[str, np.ndarray], our_losses: dict[str, np.ndarray]) -> list[dict]:
    """Per network: how far the two sides' total weight changes differ (as a share of d3rlpy's change,
    in the L2 norm over all weights, and at the single worst weight), next to how far tether's own
    run moves from rounding-sized changes of its initial weights; per loss: the worst step."""
    rows = []
    for network in theirs:
        ours_moved, their_moved = moved(ours[network], init[network]), moved(theirs[network], init[network])
        gap, size = ours_moved - their_moved, float(jnp.linalg.norm(their_moved))
        rounding = moved(ours_perturbed[network], ours[network])
        rows.append({"algorithm": algo, "compared": f"{network} weights",
                     "d3rlpy": f"moved {size:.3g} (L2)",
                     "relative difference (L2)": f"{float(jnp.linalg.norm(gap)) / size:.1e}",
                     "worst single value": f"{float(jnp.max(jnp.abs(gap))):.1e} "
                                           f"of {float(jnp.max(jnp.abs(their_moved))):.1e}",
                     "tether against itself, start x (1 + 1e-7 noise)":
                         f"{float(jnp.linalg.norm(rounding)) / size:.1e}"})
    for key, their_trace in sorted(their_losses.items()):
        if key not in our_losses:
            continue
        our_trace = our_losses[key]
        relative = np.abs(our_trace - their_trace) / np.maximum(np.abs(their_trace), 1e-12)
        trace_gap = np.linalg.norm(our_trace - their_trace) / np.linalg.norm(their_trace)
        rows.append({"algorithm": algo, "compared": f"{key}, {len(their_trace)} updates",
                     "d3rlpy": f"{their_trace[0]:.4g} to {their_trace[-1]:.4g}",
                     "relative difference (L2)": f"{trace_gap:.1e}",
                     "worst single value": f"{float(np.max(relative)):.1e} (relative)",
                     "tether against itself, start x (1 + 1e-7 noise)": "-"})
    return rows


def write_fixture(path: Path, hidden: tuple[int, ...], batches: dict[str, np.ndarray], init: dict, final: dict,
                  losses: dict[str, np.ndarray], draws: dict[str, np.ndarray]) -> None:
    """One flat npz a test can replay without d3rlpy: batches, random draws (tether's layout), both weight
    sets (tether's layout), losses (as tether logs them)."""
    arrays = {f"batch/{key}": value for key, value in batches.items()}
    arrays.update({f"noise/{key}": value for key, value in draws.items()})
    arrays["hidden_dims"] = np.asarray(hidden)
    for stage, networks in (("init", init), ("final", final)):
        for key, value in flatten_dict(networks, sep="/").items():
            arrays[f"{stage}/{key}"] = np.asarray(value)
    arrays.update({f"loss/{key}": value for key, value in losses.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algos", default="td3_plus_bc,bc,cql")
    parser.add_argument("--cql-backup", choices=("mean", "soft"), default="mean",
                        help="CQL's target action: d3rlpy's default (mean) or its soft_q_backup=True (soft)")
    parser.add_argument("--bcq-samples", type=int, default=100, help="BCQ's n_action_samples (target samples)")
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--hidden", default="256,256", help="hidden widths of every network")
    parser.add_argument("--batch-size", type=int, default=0, help="default: BC and BCQ 100, others 256")
    parser.add_argument("--fixture-dir", type=Path, default=None,
                        help="also write each trace as <dir>/d3rlpy_<algo>_trace.npz for tests to replay")
    args = parser.parse_args()
    hidden = tuple(int(width) for width in args.hidden.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for algo in args.algos.split(","):
            batch_size = args.batch_size or (100 if algo in ("bc", "bcq") else 256)
            batches = random_batches(args.updates, batch_size)
            draws = (random_draws(args.updates, batch_size, args.cql_backup) if algo == "cql" else
                     bcq_draws(args.updates, batch_size, args.bcq_samples) if algo == "bcq" else {})
            batches_path, out_path = Path(tmp) / f"{algo}_batches.npz", Path(tmp) / f"{algo}_trace.npz"
            peer_noise = {f"noise/{key}": value for key, value in peer_draws(draws).items()} if draws else {}
            np.savez(batches_path, **batches, **peer_noise)
            option = str(args.bcq_samples) if algo == "bcq" else "1" if args.cql_backup == "soft" else "0"
            out = subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), algo, str(batches_path), str(out_path),
                                  args.hidden, "0", option], capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"d3rlpy's {algo} trace failed:\n{out.stderr[-3000:]}")
            with np.load(out_path) as data:
                weights = {key: data[key] for key in data.files}
            init, theirs = (flax_networks(algo, weights, stage, len(hidden) + 1) for stage in ("init", "final"))
            their_losses = {key.removeprefix("loss/"): value for key, value in weights.items()
                            if key.startswith("loss/")}
            config = config_for(algo, hidden, args.cql_backup, args.bcq_samples, batch_size)
            if algo == "cql":
                their_losses = cql_losses_as_tether_logs_them(their_losses, config)
            if algo == "bcq":  # the same loss under tether's name
                their_losses["imitator_loss"] = their_losses.pop("vae_loss")
            batch_list = [Batch(*(jnp.asarray(batches[key][i]) for key in BATCH_FIELDS)) for i in range(args.updates)]
            noise = draws_per_update(draws) if draws else None
            ours, our_losses = replay_updates(algo, config, init, batch_list, noise)
            ours_perturbed, _ = replay_updates(algo, config, perturbed(init), batch_list, noise)
            rows += compare(algo, init, theirs, ours, ours_perturbed, their_losses, our_losses)
            if args.fixture_dir:
                suffix = "_soft" if algo == "cql" and args.cql_backup == "soft" else ""
                write_fixture(args.fixture_dir / f"d3rlpy_{algo}{suffix}_trace.npz", hidden, batches, init, theirs,
                              their_losses, draws)
    for row in rows:
        print(row)
    if not args.fixture_dir:
        write_results("update_crosscheck", {"updates": args.updates, "hidden": hidden, "rows": rows}, rows,
                      f"tether's updates against d3rlpy's from the same weights, {args.updates} updates, same batches")


if __name__ == "__main__":
    main()
