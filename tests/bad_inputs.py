"""The catalogue of bad inputs tether must answer with one clear line: each case builds its input in a
folder, names the command, the message class expected, the exit code and a pattern of the message.

`tests/test_bad_inputs.py` runs every case through the command line; `docs/bad-inputs.md` is rendered
from this list (`python -m tests.bad_inputs > docs/bad-inputs.md`), so the table cannot drift from
what is tested.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from tests.conftest import make_dataset
from tether.data import LoggedDataset, save_dataset


@dataclass(frozen=True)
class BadInput:
    """One class of bad input and what tether answers."""

    id: str
    input: str  # what is wrong, in words
    command: str  # the command, as a user types it (paths shortened)
    expected: str  # the exception or warning class (or the verdict) the user gets
    exit_code: int
    message: str  # a regular expression the one-line message matches
    make: Callable[[Path], list[str]]  # builds the input under a folder, returns the CLI arguments


# ---------------------------------------------------------------- inputs
def logs(**changes) -> LoggedDataset:
    """Ten short continuous episodes (the shape most cases start from)."""
    return replace(make_dataset(tuple([8] * 10), obs_dim=3, action_dim=2), **changes)


def discrete_logs() -> LoggedDataset:
    return make_dataset(tuple([8] * 10), obs_dim=3, discrete_n=3)


def saved(folder: Path, name: str, dataset: LoggedDataset | None = None) -> str:
    return str(save_dataset(dataset or logs(), folder / name))


def csv_with(folder: Path, header: str, rows: list[str], sidecar: str | None = None) -> str:
    path = folder / "log.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    if sidecar is not None:
        (folder / "log.csv.tether.json").write_text(sidecar)
    return str(path)


def csv_log(folder: Path, actions=(0.0, 1.0, 2.0), rewards=None, obs: str | None = None) -> str:
    """A long-format CSV of 4 episodes x 6 steps, actions cycling through `actions`."""
    rows = []
    for episode in range(4):
        for step in range(6):
            action = actions[(episode + step) % len(actions)]
            reward = 0.5 * step if rewards is None else rewards
            first = obs if (obs is not None and episode == 2 and step == 3) else f"{0.1 * step:.2f}"
            rows.append(f"{episode},{step},{first},{0.2 * episode:.2f},{action},{reward},{step == 5},false")
    return csv_with(folder, "episode_id,step,obs_0,obs_1,action,reward,terminated,truncated", rows)


def npz_with(folder: Path, **arrays) -> str:
    base = {"observations": np.zeros((4, 2), np.float32), "actions": np.zeros((4, 1), np.float32),
            "rewards": np.arange(4, dtype=np.float32), "terminations": np.array([0, 1, 0, 1], bool)}
    path = folder / "log.npz"
    np.savez(path, **{**base, **arrays})
    return str(path)


def pickled_npz(folder: Path) -> str:
    path = folder / "log.npz"
    np.savez(path, observations=np.array([{"a": 1}], dtype=object), actions=np.zeros(1), rewards=np.zeros(1),
             terminations=np.ones(1, bool))
    return str(path)


def parquet_with_bad_metadata(folder: Path) -> str:
    import pyarrow.parquet as pq

    path = Path(saved(folder, "log.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({"tether": "{not json"}), path)
    return str(path)


def minari_with(folder: Path, edit: Callable[[dict], dict] | None = None, raw: str | None = None) -> str:
    from tether.data.minari_format import write_minari

    root = write_minari(logs(), "logs", root=folder / "minari")
    meta_path = root / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(raw if raw is not None else json.dumps(edit(meta) if edit else meta))
    return str(root)


def hdf5_with_bad_metadata(folder: Path) -> str:
    import h5py

    path = Path(saved(folder, "log.hdf5"))
    with h5py.File(path, "a") as handle:
        del handle["metadata/tether_json"]
        handle.create_dataset("metadata/tether_json", data="{broken")
    return str(path)


def truncated(path: str, keep: float = 0.5) -> str:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return path


def one_row(folder: Path) -> str:
    ds = LoggedDataset(observations=np.zeros((1, 3)), actions=np.zeros((1, 2)), rewards=np.ones(1),
                       terminations=np.ones(1, bool), truncations=np.zeros(1, bool), episode_starts=[0],
                       action_space=logs().action_space)
    return saved(folder, "one.npz", ds)


def trained(folder: Path, algo: str = "bc", data: str | None = None) -> Path:
    """A run directory with a checkpoint and a model of `algo`, trained for 4 steps."""
    from tether.algos import get_algo

    learner = get_algo(algo).config_cls(batch_size=8).create()
    learner.fit(logs() if data is None else discrete_logs(), n_steps=4, n_steps_per_epoch=2, show_progress=False,
                run_dir=folder / "runs" / algo)
    learner.save(folder / "runs" / algo / "model.tether")
    return folder / "runs" / algo


def model(folder: Path, damage: Callable[[bytes], bytes] | None = None, payload_edit=None) -> str:
    """A saved BC model, damaged as asked: bytes edited, or its payload rewritten under a fresh header."""
    from tether.algos import BCConfig
    from tether.algos.model_file import write_model_file

    learner = BCConfig(batch_size=8).create()
    learner.fit(logs(), n_steps=2, n_steps_per_epoch=2, show_progress=False)
    path = folder / "model.tether"
    if payload_edit is not None:
        write_model_file(path, "learner", "bc", payload_edit(learner._payload()))
    else:
        learner.save(path)
    if damage is not None:
        path.write_bytes(damage(path.read_bytes()))
    return str(path)


def nan_weights(payload: dict) -> dict:
    import jax

    leaves, tree = jax.tree_util.tree_flatten(payload["state"])
    i = next(i for i, leaf in enumerate(leaves) if np.asarray(leaf).dtype.kind == "f" and np.size(leaf) > 1)
    leaves[i] = np.full_like(np.asarray(leaves[i]), np.nan)
    return {**payload, "state": jax.tree_util.tree_unflatten(tree, leaves)}


def nan_scaling(payload: dict) -> dict:
    scaling = json.loads(payload["scaling"])
    scaling["observation_mean"][0] = float("nan")
    return {**payload, "scaling": json.dumps(scaling)}


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def legacy_without_state(folder: Path) -> str:
    from flax import serialization

    path = folder / "old.tether"
    path.write_bytes(serialization.msgpack_serialize({"format": "tether-learner-v1", "config": "{}"}))
    return str(path)


def toml(folder: Path, text: str, data: str | None = None) -> list[str]:
    path = folder / "run.toml"
    path.write_text((f'data = "{data}"\n' if data else "") + text)
    return ["run", "--config", str(path), "--out", str(folder / "run")]


def resumable(folder: Path) -> Path:
    from tether.workflow import RunConfig

    out = folder / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"config": asdict(RunConfig(data="fraud", profile="quick"))}))
    return out


def probe_module(folder: Path) -> str:
    """A module that leaves a file behind if anything imports it; returns the env id that names it."""
    (folder / "tether_probe_env.py").write_text(f"open({str(folder / 'IMPORTED')!r}, 'w').write('x')\n")
    return "tether_probe_env:Probe-v0"


def env_named_by_data(folder: Path) -> list[str]:
    env_id = probe_module(folder)
    path = saved(folder, "log.npz", logs(metadata={"env_id": env_id}))
    return ["train", "bc", "--dataset", path, "--steps", "2", "--steps-per-epoch", "2", "--out", str(folder / "runs")]


def human_run(folder: Path) -> Path:
    """A DAgger run on the tightrope whose round 0 waits for a person's labels (no policy fitted yet)."""
    from tether.algos.dagger import DiscreteDAggerConfig
    from tether.imitation import HumanExpert, train_dagger

    run_dir = folder / "run"
    train_dagger(DiscreteDAggerConfig(rounds=1), "tightrope", HumanExpert(), run_dir, show_progress=False)
    return run_dir


def exported_labels(folder: Path, edit: Callable[[list[dict]], list[dict]]) -> list[str]:
    """`dagger import` of the run's queue exported to CSV, filled with 'stay' and then edited."""
    import csv

    from tether.imitation import current_queue

    run_dir = human_run(folder)
    queue = current_queue(run_dir)
    assert queue is not None
    path = queue.export(folder / "queue.csv")
    with open(path, newline="") as handle:
        rows = [{**row, "action": "1"} for row in csv.DictReader(handle)]
    rows = edit(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return ["dagger", "import", str(path), "--run-dir", str(run_dir)]


def onnx_with_three_outputs(folder: Path) -> str:
    """An ONNX policy for 4 observations that outputs 3 continuous numbers: no CartPole action."""
    from tether.algos import BCConfig

    data = make_dataset(tuple([8] * 10), obs_dim=4, action_dim=3)
    learner = BCConfig(batch_size=8, hidden_dims=(8,)).create()
    learner.fit(data, n_steps=2, n_steps_per_epoch=2, show_progress=False)
    return str(learner.save_policy(folder / "policy.onnx"))


def zip_without_arrays(folder: Path) -> str:
    path = folder / "log.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no arrays here")
    return str(path)


TRAIN = ["--steps", "4", "--steps-per-epoch", "2"]
D = "DATA"  # how the docs show a data path

def acrobot_demos(folder: Path) -> str:
    """One acrobot episode of the scripted controller, saved: demonstrations of another task than CartPole."""
    from tether.envs.classic import make_classic_logs

    return str(save_dataset(make_classic_logs("acrobot", epsilon=0.0, n_episodes=1, seed=0), folder / "acrobot.npz"))


def cartpole_reward(folder: Path) -> str:
    """An AIRL reward file for CartPole's 4 observation fields (untrained: only its shape matters here)."""
    from tether.algos.airl import AIRLConfig
    from tether.imitation.airl import AIRLDiscriminator

    discriminator = AIRLDiscriminator(4, AIRLConfig(), np.zeros((2, 4), np.float32), 0.99, absorbing=True)
    return str(discriminator.save_reward(folder / "reward.tether"))


CASES: list[BadInput] = [
    # ------------------------------------------------------------ files that cannot be read
    BadInput("npz-garbage", "an .npz that is not a zip archive", f"tether info {D}.npz", "DatasetError", 1,
             r"cannot be read as \.npz", lambda f: ["info", str(_write(f / "x.npz", b"junk"))]),
    BadInput("npz-pickle", "an .npz holding pickled objects", f"tether info {D}.npz", "DatasetError", 1,
             r"pickled objects, which tether never loads", lambda f: ["info", pickled_npz(f)]),
    BadInput("npz-no-arrays", "an .npz without observations/actions/rewards", f"tether info {D}.npz",
             "DatasetError", 1, r"observations: missing", lambda f: ["info", zip_without_arrays(f)]),
    BadInput("npz-bad-metadata", "an .npz whose __metadata__ is not JSON", f"tether info {D}.npz", "DatasetError", 1,
             r"log\.npz: its __metadata__ is not valid JSON \(line 1",
             lambda f: ["info", npz_with(f, __metadata__=np.array("{oops"))]),
    BadInput("npz-metadata-not-string", "an .npz whose __metadata__ is a number array", f"tether info {D}.npz",
             "DatasetError", 1, r"where a JSON string belongs",
             lambda f: ["info", npz_with(f, __metadata__=np.arange(3))]),
    BadInput("csv-bad-sidecar", "a CSV whose .tether.json sidecar is not JSON", f"tether info {D}.csv",
             "DatasetError", 1, r"log\.csv\.tether\.json: its sidecar is not valid JSON",
             lambda f: ["info", _with_sidecar(csv_log(f), "{,}")]),
    BadInput("csv-sidecar-bad-space", "a CSV sidecar whose action_space is not a space", f"tether info {D}.csv",
             "DatasetError", 1, r"action_space: stored with kind",
             lambda f: ["info", _with_sidecar(csv_log(f), json.dumps({"action_space": {"kind": "weird"}}))]),
    BadInput("csv-text-in-obs", "text in an observation column", f"tether info {D}.csv", "DatasetError", 1,
             r"obs_0: holds text 'high', not a number at row 15", lambda f: ["info", csv_log(f, obs="high")]),
    BadInput("csv-missing-reward", "a CSV without a reward column", f"tether info {D}.csv", "DatasetError", 1,
             r"reward: no such column .*TabularSchema\(reward='your_column'\)",
             lambda f: ["info", csv_with(f, "episode_id,obs,action,terminated,truncated", ["0,1,0,true,false"])]),
    BadInput("csv-nan-reward", "NaN rewards (a column of 'nan')", f"tether info {D}.csv", "DatasetError", 1,
             r"rewards: NaN value .* at row 0 \(episode 0, step 0\)", lambda f: ["info", csv_log(f, rewards="nan")]),
    BadInput("parquet-bad-metadata", "Parquet whose tether schema metadata is not JSON", f"tether info {D}.parquet",
             "DatasetError", 1, r"its 'tether' schema metadata is not valid JSON",
             lambda f: ["info", parquet_with_bad_metadata(f)]),
    BadInput("parquet-truncated", "a truncated Parquet file", f"tether info {D}.parquet", "DatasetError", 1,
             r"cannot be read as parquet", lambda f: ["info", truncated(saved(f, "log.parquet"))]),
    BadInput("hdf5-truncated", "a truncated D4RL HDF5 file", f"tether info {D}.hdf5", "DatasetError", 1,
             r"log\.hdf5: is not a readable HDF5 file", lambda f: ["info", truncated(saved(f, "log.hdf5"))]),
    BadInput("hdf5-bad-metadata", "D4RL HDF5 whose metadata/tether_json is not JSON", f"tether info {D}.hdf5",
             "DatasetError", 1, r"its metadata/tether_json is not valid JSON",
             lambda f: ["info", hdf5_with_bad_metadata(f)]),
    BadInput("minari-bad-metadata", "a Minari metadata.json that is not JSON", f"tether info {D}/", "DatasetError",
             1, r"metadata\.json: its metadata is not valid JSON", lambda f: ["info", minari_with(f, raw="{")]),
    BadInput("minari-no-spaces", "a Minari dataset without stored spaces (Minari would build its env_spec)",
             f"tether info {D}/", "DatasetError", 1, r"has no observation_space/action_space",
             lambda f: ["info", minari_with(f, lambda m: {k: v for k, v in m.items() if k != "action_space"})]),
    BadInput("unknown-suffix", "a file of an unknown type", f"tether info {D}.txt", "DatasetError", 1,
             r"unknown file type '\.txt'", lambda f: ["info", str(_write(f / "x.txt", b"1,2"))]),
    BadInput("no-such-data", "a name that is neither a path nor a dataset", "tether info nosuch.csv", "DatasetError",
             1, r"nosuch\.csv: is neither an existing path", lambda f: ["info", "nosuch.csv"]),
    # ------------------------------------------------------------ data that cannot support the command
    BadInput("one-row-train", "a one-step dataset, trained on", f"tether train bc --dataset {D}.npz", "DatasetError",
             1, r"holds 1 logged step\(s\), too few to train on", lambda f: ["train", "bc", "--dataset", one_row(f),
                                                                              "--out", str(f / "r"), *TRAIN]),
    BadInput("one-row-audit", "a one-step dataset, audited", f"tether audit {D}.npz --json --fail-on do-not-train",
             "verdict do-not-train", 1, r"only 1 steps in 1 episodes",
             lambda f: ["audit", one_row(f), "--json", "--fail-on", "do-not-train"]),
    BadInput("constant-rewards", "every reward the same (nothing to learn from)",
             f"tether audit {D}.csv --json --fail-on do-not-train", "verdict do-not-train", 1,
             r"every logged reward is 1: outcomes do not tell any policy",
             lambda f: ["audit", csv_log(f, rewards=1.0), "--json", "--fail-on", "do-not-train"]),
    BadInput("float-discrete-actions", "discrete actions stored as floats 0.0/1.0/2.0, given to a continuous learner",
             f"tether train bc --dataset {D}.csv", "DatasetError", 1,
             r"bc learns continuous actions but this dataset's actions are discrete.*discrete_bc",
             lambda f: ["train", "bc", "--dataset", csv_log(f), "--out", str(f / "r"), *TRAIN]),
    BadInput("declared-discrete-fractional", "--action-space discrete on fractional actions",
             f"tether info {D}.csv --action-space discrete", "DatasetError", 1,
             r"actions: are declared discrete but are not one column of whole numbers",
             lambda f: ["info", csv_log(f, actions=(0.5, -0.25)), "--action-space", "discrete"]),
    BadInput("continuous-learner-discrete-data", "a continuous learner on discrete data",
             f"tether train iql --dataset {D}.npz", "DatasetError", 1, r"iql learns continuous actions",
             lambda f: ["train", "iql", "--dataset", saved(f, "d.npz", discrete_logs()), "--out", str(f / "r"),
                        *TRAIN]),
    BadInput("model-based-discrete-data", "a model-based learner on discrete data",
             f"tether train mopo --dataset {D}.npz", "DatasetError", 1, r"mopo learns continuous actions",
             lambda f: ["train", "mopo", "--dataset", saved(f, "d.npz", discrete_logs()), "--out", str(f / "r"),
                        *TRAIN]),
    BadInput("model-based-one-episode", "a model-based learner on one episode (nothing to hold out)",
             f"tether train morel --dataset {D}.npz", "DatasetError", 1,
             r"episodes: 1 episode\(s\): the dynamics model holds out whole episodes",
             lambda f: ["train", "morel", "--dataset", saved(f, "d.npz", make_dataset((40,), obs_dim=3, action_dim=2)),
                        "--out", str(f / "r"), *TRAIN]),
    BadInput("discrete-learner-continuous-data", "a discrete learner on continuous data",
             f"tether train discrete_cql --dataset {D}.npz", "DatasetError", 1,
             r"discrete_cql learns discrete actions but this dataset's actions are continuous",
             lambda f: ["train", "discrete_cql", "--dataset", saved(f, "d.npz"), "--out", str(f / "r"), *TRAIN]),
    BadInput("extreme-values", "finite but extreme rewards (1e30)", f"tether info {D}.npz", "ExtremeValueWarning",
             0, r"warning: rewards: values up to 1e\+30",
             lambda f: ["info", saved(f, "big.npz", logs(rewards=np.full(80, 1e30)))]),
    BadInput("env-id-names-a-module", "metadata env_id 'module:Env' (would import the module)",
             f"tether train bc --dataset {D}.npz", "UntrustedMetadataWarning", 0,
             r"warning: metadata field 'env_id' names 'tether_probe_env:Probe-v0'.* no environment is built from data",
             env_named_by_data),
    # ------------------------------------------------------------ options
    BadInput("unknown-algorithm", "a misspelt algorithm", f"tether train cqll --dataset {D}.npz", "ConfigError", 2,
             r"unknown algorithm 'cqll' \(did you mean 'cql'\?\)",
             lambda f: ["train", "cqll", "--dataset", saved(f, "d.npz")]),
    BadInput("steps-zero", "--steps 0", f"tether train bc --dataset {D}.npz --steps 0", "ConfigError", 2,
             r"--steps: must be a positive number", lambda f: ["train", "bc", "--dataset", saved(f, "d.npz"),
                                                               "--steps", "0"]),
    BadInput("steps-negative", "--steps -5", f"tether train bc --dataset {D}.npz --steps -5", "ConfigError", 2,
             r"--steps: must be a positive number, got -5|--steps: must be a positive number of gradient steps, got -5",
             lambda f: ["train", "bc", "--dataset", saved(f, "d.npz"), "--steps", "-5"]),
    BadInput("steps-per-epoch-zero", "--steps-per-epoch 0", f"tether train bc --dataset {D}.npz --steps-per-epoch 0",
             "ConfigError", 2, r"--steps-per-epoch: must be a positive number",
             lambda f: ["train", "bc", "--dataset", saved(f, "d.npz"), "--steps-per-epoch", "0"]),
    BadInput("seeds-not-numbers", "--seeds a,b", f"tether train bc --dataset {D}.npz --seeds a,b", "ConfigError", 2,
             r"--seeds: 'a,b' is not a comma-separated list",
             lambda f: ["train", "bc", "--dataset", saved(f, "d.npz"), "--seeds", "a,b"]),
    BadInput("action-space-unknown", "--action-space weird", f"tether info {D}.npz --action-space weird",
             "ConfigError", 2, r"unknown action space 'weird'",
             lambda f: ["info", saved(f, "d.npz"), "--action-space", "weird"]),
    BadInput("resume-without-checkpoint", "--resume where nothing was trained",
             f"tether train bc --dataset {D}.npz --resume", "ConfigError", 2, r"holds no checkpoint to resume from",
             lambda f: ["train", "bc", "--dataset", saved(f, "d.npz"), "--out", str(f / "r"), "--resume"]),
    BadInput("datasets-size-zero", "datasets make --size 0", "tether datasets make hopper-random-v5 --size 0",
             "ConfigError", 2, r"--size: must be a positive whole number",
             lambda f: ["datasets", "make", "hopper-random-v5", "--size", "0"]),
    BadInput("datasets-size-negative", "datasets make --size -10", "tether datasets make hopper-random-v5 --size -10",
             "ConfigError", 2, r"--size: must be a positive whole number .*, got -10",
             lambda f: ["datasets", "make", "hopper-random-v5", "--size", "-10"]),
    BadInput("run-size-negative", "run --size -10", "tether run --data fraud --size -10", "ConfigError", 2,
             r"size: must be a positive number", lambda f: ["run", "--data", "fraud", "--size", "-10", "--out",
                                                             str(f / "run")]),
    BadInput("audit-fail-on-unknown", "audit --fail-on a verdict that does not exist",
             f"tether audit {D}.npz --fail-on bad", "ConfigError", 2, r"--fail-on: unknown verdict 'bad'",
             lambda f: ["audit", saved(f, "d.npz"), "--fail-on", "bad"]),
    BadInput("audit-stream-not-parquet", "audit --stream on a CSV", f"tether audit {D}.csv --stream", "ConfigError",
             2, r"--stream: reads Parquet files", lambda f: ["audit", csv_log(f), "--stream"]),
    # ------------------------------------------------------------ run.toml
    BadInput("toml-syntax", "a run.toml with a syntax error", "tether run --config run.toml", "ConfigError", 2,
             r"run\.toml: is not valid TOML \(.*line 1", lambda f: toml(f, "gamma = = 2\n")),
    BadInput("toml-missing", "--config naming no file", "tether run --config nosuch.toml", "ConfigError", 2,
             r"nosuch\.toml: does not exist", lambda f: ["run", "--config", str(f / "nosuch.toml")]),
    BadInput("toml-gamma-range", "gamma = 1.5", "tether run --config run.toml", "ConfigError", 2,
             r"gamma: must lie in \(0, 1\], got 1\.5", lambda f: toml(f, "gamma = 1.5\n")),
    BadInput("toml-gamma-type", 'gamma = "high"', "tether run --config run.toml", "ConfigError", 2,
             r"gamma: expected a number, got 'high'", lambda f: toml(f, 'gamma = "high"\n')),
    BadInput("toml-unknown-key", "a top-level key that RunConfig lacks", "tether run --config run.toml",
             "ConfigError", 2, r"unknown key 'profil' \(did you mean 'profile'\?\)",
             lambda f: toml(f, 'profil = "full"\n')),
    BadInput("toml-steps-typo", "[steps] baselin = 100 (a typo)", "tether run --config run.toml", "ConfigError", 2,
             r"\[steps\] baselin: unknown key 'baselin' \(did you mean 'baseline'\?\)",
             lambda f: toml(f, "[steps]\nbaselin = 100\n")),
    BadInput("toml-steps-not-table", "steps = 5 (not a table)", "tether run --config run.toml", "ConfigError", 2,
             r"steps: expected a table, got 5", lambda f: toml(f, "steps = 5\n")),
    BadInput("toml-steps-zero", "[steps] cql = 0", "tether run --config run.toml", "ConfigError", 2,
             r"\[steps\] cql: must be a positive number of steps", lambda f: toml(f, "[steps]\ncql = 0\n")),
    BadInput("toml-candidates-string", 'candidates = "discrete_cql" (a string, not a list)',
             "tether run --config run.toml", "ConfigError", 2, r"candidates: expected a list, got 'discrete_cql'",
             lambda f: toml(f, 'candidates = "discrete_cql"\n')),
    BadInput("toml-candidates-unknown", "a candidate that is not an algorithm", "tether run --config run.toml",
             "ConfigError", 2, r"unknown algorithm 'sac'", lambda f: toml(f, 'candidates = ["sac"]\n')),
    BadInput("toml-candidates-wrong-kind", "a discrete candidate for continuous data",
             "tether run --config run.toml", "ConfigError", 2,
             r"candidates discrete_cql: discrete_cql learns discrete actions but .* holds continuous ones",
             lambda f: toml(f, 'candidates = ["discrete_cql"]\n', data=saved(f, "d.npz"))),
    BadInput("toml-fqe-not-table", 'fqe = "many"', "tether run --config run.toml", "ConfigError", 2,
             r"fqe: expected a table, got 'many'", lambda f: toml(f, 'fqe = "many"\n')),
    BadInput("toml-fqe-range", "[fqe] n_heads = 0", "tether run --config run.toml", "ConfigError", 2,
             r"\[fqe\] n_heads: FQEConfig\.n_heads = 0 is out of range", lambda f: toml(f, "[fqe]\nn_heads = 0\n")),
    BadInput("toml-fqe-unknown-key", "[fqe] heads = 3", "tether run --config run.toml", "ConfigError", 2,
             r"\[fqe\] heads: unknown key 'heads'", lambda f: toml(f, "[fqe]\nheads = 3\n")),
    BadInput("toml-hyperparameter-typo", "[hyperparameters.cql] learning_rat = 1e-4",
             "tether run --config run.toml", "ConfigError", 2,
             r"\[hyperparameters\.cql\] learning_rat: unknown key .*did you mean",
             lambda f: toml(f, "[hyperparameters.cql]\nlearning_rat = 1e-4\n")),
    BadInput("toml-hyperparameter-type", '[hyperparameters.cql] batch_size = "big"', "tether run --config run.toml",
             "ConfigError", 2, r"\[hyperparameters\.cql\] batch_size: expected a whole number, got 'big'",
             lambda f: toml(f, '[hyperparameters.cql]\nbatch_size = "big"\n')),
    BadInput("resume-nothing", "run --resume on a directory with no run", "tether run --resume DIR", "ConfigError",
             2, r"holds no config\.json: there is no run to resume", lambda f: ["run", "--resume", str(f)]),
    BadInput("resume-conflict", "run --resume with another --profile than the run started with",
             "tether run --resume DIR --profile full", "ConfigError", 2,
             r"--profile: the run in .* started with profile = 'quick', not 'full'",
             lambda f: ["run", "--resume", str(resumable(f)), "--profile", "full"]),
    BadInput("resume-config-conflict", "run --resume with a run.toml that disagrees with the run",
             "tether run --resume DIR --config run.toml", "ConfigError", 2,
             r"--config: the run in .* started with profile = 'quick', not 'full'",
             lambda f: ["run", "--resume", str(resumable(f)), "--config",
                        toml(f, 'data = "fraud"\nprofile = "full"\n')[2]]),
    # ------------------------------------------------------------ DAgger and its labels
    BadInput("dagger-unknown-env", "a DAgger task nobody knows", "tether dagger --env hoper", "ConfigError", 2,
             r"unknown task 'hoper' \(did you mean 'hopper'\?\)", lambda f: ["dagger", "--env", "hoper"]),
    BadInput("dagger-expert-wrong-shape", "an ONNX expert whose actions do not fit the task",
             "tether dagger --env cartpole --expert onnx:policy.onnx", "DatasetError", 1,
             r"expert: onnx:policy\.onnx returned actions of shape \(\d+, 3\), expected \(\d+,\)",
             lambda f: ["dagger", "--env", "cartpole", "--expert", f"onnx:{onnx_with_three_outputs(f)}",
                        "--run-dir", str(f / "d")]),
    BadInput("dagger-other-settings", "a DAgger run resumed with another expert", "tether dagger --env tightrope "
             "--expert optimal --run-dir RUN", "ConfigError", 2, r"holds a DAgger run with another expert",
             lambda f: ["dagger", "--env", "tightrope", "--expert", "optimal", "--run-dir", str(human_run(f))]),
    BadInput("dagger-no-run", "the labelling page for a directory without a run", "tether dagger label --run-dir RUN",
             "ConfigError", 2, r"holds no DAgger run", lambda f: ["dagger", "label", "--run-dir", str(f)]),
    BadInput("labels-duplicate-row", "a label file with a row twice", "tether dagger import queue.csv",
             "DatasetError", 1, r"queue row 0 appears twice", lambda f: exported_labels(f, lambda r: r + r[:1])),
    BadInput("labels-missing-row", "a label file without some queued rows", "tether dagger import queue.csv",
             "DatasetError", 1, r"lacks 1 queued row.*use --partial", lambda f: exported_labels(f, lambda r: r[1:])),
    BadInput("labels-bad-action", "a label that is no action of the task", "tether dagger import queue.csv",
             "DatasetError", 1, r"returned action 7, outside 0\.\.2",
             lambda f: exported_labels(f, lambda r: [{**r[0], "action": "7"}, *r[1:]])),
    BadInput("labels-other-run", "labels of another run's queue", "tether dagger import queue.csv", "DatasetError", 1,
             r"belongs to run elsewhere round 0, not to this queue",
             lambda f: exported_labels(f, lambda r: [{**row, "run_id": "elsewhere"} for row in r])),
    BadInput("dagger-in-train", "DAgger trained from a log alone", f"tether train dagger {D}.npz", "ConfigError", 2,
             r"learns by asking an expert.*tether dagger --env", lambda f: ["train", "dagger", saved(f, "d.npz")]),
    # ------------------------------------------------------------ GAIL and AIRL
    BadInput("gail-demos-other-task", "demonstrations of another task than the environment",
             "tether gail --env cartpole --demos acrobot.npz", "DatasetError", 1,
             r"demonstrations: observations have 6 fields, cartpole's have 4",
             lambda f: ["gail", "--env", "cartpole", "--demos", acrobot_demos(f), "--run-dir", str(f / "g")]),
    BadInput("gail-unknown-env", "an environment that cannot be built", "tether gail --env CartPol-v1",
             "ConfigError", 2, r"unknown task 'CartPol-v1' \(did you mean 'CartPole-v1'\?\)",
             lambda f: ["gail", "--env", "CartPol-v1"]),
    BadInput("airl-transfer-other-task", "a saved AIRL reward used on another task",
             "tether airl transfer reward.tether --env acrobot", "ConfigError", 2,
             r"reward: .*reward\.tether scores 4 observation fields, acrobot has 6",
             lambda f: ["airl", "transfer", cartpole_reward(f), "--env", "acrobot"]),
    BadInput("airl-in-train", "AIRL trained from a log alone", f"tether train airl {D}.npz", "ConfigError", 2,
             r"airl learns by acting in an environment.*tether airl --env",
             lambda f: ["train", "airl", saved(f, "d.npz")]),
    # ------------------------------------------------------------ model files and checkpoints
    BadInput("model-missing", "export of a model file that does not exist", "tether export nosuch.tether",
             "ModelFileError", 1, r"nosuch\.tether: does not exist", lambda f: ["export", str(f / "nosuch.tether")]),
    BadInput("model-garbage", "a model file of random bytes", "tether export model.tether", "ModelFileError", 1,
             r"cannot be decoded .*truncated, corrupt or not a tether model file",
             lambda f: ["export", str(_write(f / "m.tether", bytes(range(256)) * 4))]),
    BadInput("model-truncated", "a truncated model file", "tether export model.tether", "ModelFileError", 1,
             r"is truncated: \d+ of \d+ payload bytes", lambda f: ["export", truncated(model(f), 0.7)]),
    BadInput("model-flipped", "a model file with one bit flipped", "tether export model.tether", "ModelFileError", 1,
             r"does not match its SHA-256 checksum", lambda f: ["export", model(f, damage=flip_last_byte)]),
    BadInput("model-nan-weights", "a model whose weights hold NaN", "tether export model.tether", "ModelFileError",
             1, r"weight .* holds NaN or infinite values", lambda f: ["export", model(f, payload_edit=nan_weights)]),
    BadInput("model-nan-scaling", "a model whose observation scaling holds NaN", "tether export model.tether",
             "ModelFileError", 1, r"scaling observation_mean holds NaN",
             lambda f: ["export", model(f, payload_edit=nan_scaling)]),
    BadInput("model-missing-field", "an old-layout model file without weights", "tether export old.tether",
             "ModelFileError", 1, r"lacks the field\(s\) \['spec', 'scaling', 'seeds', 'state'\]",
             lambda f: ["export", legacy_without_state(f)]),
    BadInput("model-seed-index", "export --seed-index past the seeds held", "tether export model.tether --seed-index 5",
             "ConfigError", 2, r"--seed-index: 5 is out of range", lambda f: ["export", model(f), "--seed-index", "5"]),
    BadInput("checkpoint-foreign", "--resume on a checkpoint of another algorithm",
             f"tether train cql --dataset {D}.npz --resume", "ModelFileError", 1, r"holds a bc learner, not cql",
             lambda f: _foreign_checkpoint(f)),
    BadInput("checkpoint-truncated", "--resume on a truncated checkpoint",
             f"tether train bc --dataset {D}.npz --resume", "ModelFileError", 1, r"checkpoint\.tether: is truncated",
             lambda f: _truncated_checkpoint(f)),
]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _with_sidecar(csv: str, text: str) -> str:
    Path(csv + ".tether.json").write_text(text)
    return csv


def _foreign_checkpoint(folder: Path) -> list[str]:
    import shutil

    run = trained(folder, "bc")
    (folder / "runs" / "cql").mkdir()
    shutil.copy(run / "checkpoint.tether", folder / "runs" / "cql" / "checkpoint.tether")
    return ["train", "cql", "--dataset", saved(folder, "d.npz"), "--out", str(folder / "runs"), "--resume", *TRAIN]


def _truncated_checkpoint(folder: Path) -> list[str]:
    run = trained(folder, "bc")
    truncated(str(run / "checkpoint.tether"), 0.6)
    return ["train", "bc", "--dataset", saved(folder, "d.npz"), "--out", str(folder / "runs"), "--resume", *TRAIN]


def markdown() -> str:
    """The docs table of every case (docs/bad-inputs.md)."""
    lines = ["# Bad inputs and what tether answers", "",
             "Every failure of the command line is one line, `error: <field>: <what is wrong> [at <row>]. Fix: <what "
             "to do>`, with exit code 2 for usage errors (options, run.toml) and 1 for data, model-file and training "
             "errors; `tether --debug ...` shows the traceback. The Python API raises the same text as "
             "`DatasetError`, `ConfigError` or `ModelFileError` (all in `tether.errors`, all `ValueError`s). "
             "Warnings print as `warning: ...` and the command goes on.", "",
             "This table is generated from `tests/bad_inputs.py` (`python -m tests.bad_inputs > docs/bad-inputs.md`), "
             "and `tests/test_bad_inputs.py` runs every row; the fuzzed readers (`tests/data/test_fuzz_readers.py`) "
             "and the metadata test (`tests/test_data_never_chooses_code.py`) cover the rest.", "",
             f"{len(CASES)} classes.", "",
             "| id | input | command | answer | exit |", "|---|---|---|---|---|"]
    for case in CASES:
        lines.append(f"| `{case.id}` | {case.input.replace('|', '/')} | `{case.command}` | {case.expected} | "
                     f"{case.exit_code} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
