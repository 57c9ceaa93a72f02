"""d3rlpy side of bench/update_crosscheck.py; runs inside bench/.venv-d3rlpy.

    python bench/peers/d3rlpy_update_trace.py ALGO BATCHES.npz OUT.npz [HIDDEN, default 256,256] [SEED, default 0]

Builds d3rlpy's ALGO (HIDDEN-wide networks, no scalers, target smoothing noise off so the update is
deterministic), writes its initial weights, applies one `update` per batch in BATCHES.npz (arrays
`[n_updates, batch, ...]`) and writes the final weights and each update's losses. Weights are
stored as `<module>/<layer>/weight|bias` with torch's `[out, in]` layout.

CQL and BCQ draw random numbers; BATCHES.npz then also holds them per update (`noise/normal_K`,
the K-th standard normal draw of an update in the order d3rlpy asks for it, `[n_updates, *shape]`,
and `noise/uniform_0` on [0, 1)), and this script hands them out in place of torch's draws
(`Normal.rsample`, `torch.randn`, `Tensor.uniform_`). CQL runs with d3rlpy's defaults, its
Lagrangian alpha included; the optional sixth argument is CQL's `soft_q_backup` (0 or 1) or BCQ's
`n_action_samples` (the target's VAE samples; its VAE has the actor's and critic's widths).
"""

import sys

import d3rlpy
import numpy as np
import torch
from d3rlpy.dataset import TransitionMiniBatch

DRAWS: dict[str, list[torch.Tensor]] = {"normal": [], "uniform": []}


def take(kind: str, shape) -> torch.Tensor:
    value = DRAWS[kind].pop(0)
    if tuple(value.shape) != tuple(shape):
        raise RuntimeError(f"{kind} draw of shape {tuple(value.shape)} given where {tuple(shape)} was asked")
    return value


def given_rsample(self, sample_shape=()):
    return self.loc + take("normal", self._extended_shape(torch.Size(sample_shape))) * self.scale


def given_randn(*size, **kwargs):
    shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
    return take("normal", shape)


def given_uniform_(self, low=0.0, high=1.0, generator=None):
    with torch.no_grad():
        return self.copy_(low + (high - low) * take("uniform", self.shape))


def export(prefix: str, module, out: dict) -> None:
    for name, value in module.state_dict().items():
        out[f"{prefix}/{name}"] = value.detach().cpu().numpy().copy()  # not a view of the live tensor


def main() -> None:
    algo_name, batches_path, out_path = sys.argv[1:4]
    hidden = [int(width) for width in (sys.argv[4] if len(sys.argv) > 4 else "256,256").split(",")]
    d3rlpy.seed(int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    enc = d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=hidden)
    with np.load(batches_path) as data:
        batches = {key: data[key].astype(np.float32) for key in data.files}
    n_updates, batch_size, obs_dim = batches["observations"].shape
    action_dim = batches["actions"].shape[-1]
    if algo_name == "td3_plus_bc":
        algo = d3rlpy.algos.TD3PlusBCConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                            batch_size=batch_size, target_smoothing_sigma=0.0).create(device="cpu:0")
    elif algo_name == "cql":
        soft = len(sys.argv) > 6 and sys.argv[6] == "1"
        algo = d3rlpy.algos.CQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, batch_size=batch_size,
                                      soft_q_backup=soft).create(device="cpu:0")
    elif algo_name == "bcq":
        n_samples = int(sys.argv[6]) if len(sys.argv) > 6 else 100
        algo = d3rlpy.algos.BCQConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      imitator_encoder_factory=enc, batch_size=batch_size,
                                      n_action_samples=n_samples).create(device="cpu:0")
    elif algo_name == "bc":
        algo = d3rlpy.algos.BCConfig(encoder_factory=enc, batch_size=batch_size).create(device="cpu:0")
    else:
        raise SystemExit(f"no update trace for {algo_name}")
    algo.create_impl((obs_dim,), action_dim)
    modules = algo.impl._modules
    names = {"td3_plus_bc": ["policy", "q_funcs", "targ_policy", "targ_q_funcs"], "bc": ["imitator"],
             "cql": ["policy", "q_funcs", "targ_q_funcs", "log_temp"],
             "bcq": ["policy", "q_funcs", "targ_policy", "targ_q_funcs", "vae_encoder", "vae_decoder"]}[algo_name]
    out: dict[str, np.ndarray] = {}
    for name in names:
        export(f"init/{name}", getattr(modules, name), out)
    if algo_name in ("cql", "bcq"):  # from here on, the draws come from BATCHES.npz
        torch.distributions.Normal.rsample = given_rsample
        torch.randn = given_randn
        torch.Tensor.uniform_ = given_uniform_
    losses: dict[str, list[float]] = {}
    for i in range(n_updates):
        batch = TransitionMiniBatch(
            observations=batches["observations"][i], actions=batches["actions"][i],
            rewards=batches["rewards"][i][:, None], next_observations=batches["next_observations"][i],
            next_actions=batches["actions"][i], terminals=batches["terminations"][i][:, None],
            intervals=np.ones((batch_size, 1), np.float32), transitions=[])
        for kind in DRAWS:
            DRAWS[kind] = [torch.from_numpy(batches[key][i]) for key in sorted(batches)
                           if key.startswith(f"noise/{kind}_")]
        for key, value in algo.update(batch).items():
            losses.setdefault(key, []).append(float(value))
        if DRAWS["normal"] or DRAWS["uniform"]:
            raise RuntimeError(f"update {i} left draws unused: {[(k, len(v)) for k, v in DRAWS.items()]}")
    for name in names:
        export(f"final/{name}", getattr(modules, name), out)
    for key, values in losses.items():
        out[f"loss/{key}"] = np.asarray(values)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main()
