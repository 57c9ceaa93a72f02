"""d3rlpy side of bench/algos_speed.py; runs inside d3rlpy's own virtualenv (bench/.venv-d3rlpy).

    python bench/peers/d3rlpy_speed.py ALGO DATA.npz STEPS [DEVICE]

Same networks (256x256; BCQ's imitator 750x750), batch sizes and sampled actions as tether's
defaults. d3rlpy's BCQ draws `n_action_samples` VAE actions both to act and for the critic target;
tether draws 10 for the target (the paper's number) and 100 to act, so here d3rlpy's BCQ runs with 10,
which makes its gradient step do the same work as tether's (acting is not timed). Prints one JSON
line: gradient steps per second after a warm-up fit.
"""

import json
import sys
import time

import d3rlpy
import numpy as np
import torch


def main() -> None:
    algo_name, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu:0"
    torch.manual_seed(0)
    with np.load(path, allow_pickle=False) as data:
        dataset = d3rlpy.dataset.MDPDataset(data["observations"], data["actions"], data["rewards"],
                                            data["terminations"], timeouts=data["truncations"])
    enc = d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=[256, 256])
    algos = d3rlpy.algos
    configs = {
        "bc": lambda: algos.BCConfig(encoder_factory=enc, batch_size=100, learning_rate=1e-3),
        "td3_plus_bc": lambda: algos.TD3PlusBCConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                                     batch_size=256, update_actor_interval=2),
        "iql": lambda: algos.IQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                       value_encoder_factory=enc, batch_size=256),
        "cql": lambda: algos.CQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, batch_size=256,
                                       n_action_samples=10),
        "bcq": lambda: algos.BCQConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, batch_size=100,
                                       imitator_encoder_factory=d3rlpy.models.encoders.VectorEncoderFactory(
                                           hidden_units=[750, 750]), n_action_samples=10),
    }
    algo = configs[algo_name]().create(device=device)
    kw = {"show_progress": False, "logger_adapter": d3rlpy.logging.NoopAdapterFactory(), "save_interval": 10**9}
    algo.fit(dataset, n_steps=max(steps // 10, 5), n_steps_per_epoch=max(steps // 10, 5), **kw)
    start = time.perf_counter()
    algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, **kw)
    elapsed = time.perf_counter() - start
    print(json.dumps({"algo": algo_name, "steps": steps, "steps_per_s": steps / elapsed,
                      "torch_threads": torch.get_num_threads(), "device": device, "d3rlpy": d3rlpy.__version__}))


if __name__ == "__main__":
    main()
