"""`tether`: the command line. Each command calls the same public API a user would.

Every failure is one line, `error: <what is wrong, where, and the fix>`, with exit code 2 for usage
errors (options, run.toml) and 1 for data, model-file and training errors; `tether --debug ...`
shows the traceback instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from tether.algos.registry import ALGORITHMS
from tether.cli._common import _command, _debug, console, progress_console
from tether.cli.adversarial import airl_app, gail_app
from tether.cli.dagger import dagger_app
from tether.errors import ConfigError

app = typer.Typer(help="Learn decision policies from logged data, tethered to the evidence.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
datasets_app = typer.Typer(help="Built-in D4RL-style datasets, regenerated locally.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(dagger_app, name="dagger")
app.add_typer(gail_app, name="gail")
app.add_typer(airl_app, name="airl")
ALGO_HELP = "The algorithm: " + "; ".join(f"{name} ({spec.action_space})" for name, spec in ALGORITHMS.items())
DATA_HELP = "A file (.parquet, .csv, .npz, D4RL .hdf5), a Minari dataset, a built-in name or a scenario."
ACTION_SPACE_HELP = "discrete, continuous, or auto (infer: one column of whole numbers 0..255 is discrete)."


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False
         ) -> None:
    """Learn decision policies from logged data, tethered to the evidence."""
    _debug["on"] = debug


def _action_space(text: str | None):
    from tether.data.dataset import parse_action_kind

    return parse_action_kind(text)


def _resolve(data: str, action_space: str | None = None, **options: Any):
    """The `Source` behind what the user named, generating a built-in dataset with progress if needed."""
    from tether.sources import resolve

    return resolve(data, action_space=_action_space(action_space), show_progress=True, **options)


@app.command()
@_command
def info(
    data: Annotated[str, typer.Argument(help=DATA_HELP, show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the card as JSON.")] = False,
    action_space: Annotated[str | None, typer.Option("--action-space", help=ACTION_SPACE_HELP)] = None,
) -> None:
    """Print a dataset card: sizes, episodes, horizons, returns, action space, propensities."""
    from tether.data.summary import summarize

    card = summarize(_resolve(data, action_space).dataset)
    if as_json:
        typer.echo(json.dumps(card, indent=1))
        return
    table = Table(title=f"dataset card: {card['name'] or data}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    space = card["action_space"]
    space_text = f"discrete, {space['n']} actions" if space["kind"] == "discrete" else (
        f"continuous, {len(space['low'])} dims in [{min(space['low']):g}, {max(space['high']):g}]")
    ret, length = card["episode_return"], card["episode_length"]
    rows = [
        ("source", f"{card['source']} ({card['env_id'] or 'no env'})"),
        ("steps / episodes", f"{card['steps']:,} / {card['episodes']:,}"),
        ("observation dim", str(card["observation_dim"])),
        ("action space", space_text + (f" ({card['action_space_inferred']})" if card.get("action_space_inferred")
                                       else "")),
        ("episode length", f"mean {length['mean']:.1f}, min {length['min']:.0f}, max {length['max']:.0f}"),
        ("episode ends", f"{card['terminated_share']:.1%} terminated, {card['truncated_share']:.1%} truncated"
                         + (" (last one cut by the log)" if card["trailing_partial_episode"] else "")),
        ("return", f"mean {ret['mean']:.2f} ± {ret['std']:.2f}; p25 {ret['p25']:.2f}, median {ret['median']:.2f}, "
                   f"p75 {ret['p75']:.2f}"),
        ("reward", f"mean {card['reward']['mean']:.4f}, zero on {card['reward']['zero_share']:.1%} of steps"),
        ("propensities", "logged (importance sampling possible)" if card["propensities_logged"]
         else "not logged (IS needs a fitted behaviour model)"),
        ("fingerprint", card["fingerprint"]),
    ]
    if "normalized_return" in card:
        rows.insert(7, ("normalized return", f"mean {card['normalized_return']['mean']:.1f} "
                                             f"(0 = random, 100 = reference expert)"))
    for row in rows:
        table.add_row(*row)
    console.print(table)


@datasets_app.command("list")
@_command
def datasets_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the built-in datasets, whether they are cached, and the zoo behind them."""
    from tether import datasets
    from tether.zoo.registry import load_manifest

    tasks = load_manifest()["tasks"]
    rows: list[dict[str, Any]] = []
    for name in datasets.dataset_names():
        task, level, _ = datasets.parse_name(name)
        cached = (datasets.tether_home() / "datasets" / name / "data" / "metadata.json").exists()
        available = level == "random" or task in tasks
        rows.append({"name": name, "available": available, "cached": cached})
    from tether.envs.scenarios import get_scenario, scenario_names

    scenarios = [{"name": n, "failure_mode": get_scenario(n).failure_mode, "description": get_scenario(n).description}
                 for n in scenario_names()]
    if as_json:
        typer.echo(json.dumps(rows + scenarios, indent=1))
        return
    table = Table(title=f"built-in datasets (cache: {datasets.tether_home() / 'datasets'})")
    for column in ("name", "zoo policy", "cached"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], "yes" if row["available"] else "[red]not trained[/]", "yes" if row["cached"] else "")
    console.print(table)
    table = Table(title="decision-simulator scenarios (generated on use, exact ground truth)")
    for column in ("name", "failure mode", "logging"):
        table.add_column(column)
    for row in scenarios:
        table.add_row(row["name"], row["failure_mode"], row["description"])
    console.print(table)


@datasets_app.command("make")
@_command
def datasets_make(
    name: Annotated[str, typer.Argument(help="A built-in name, e.g. halfcheetah-medium-v5.")],
    size: Annotated[Optional[int], typer.Option(help="Number of steps (default: D4RL's).")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option(help="Generation seed.")] = 0,
) -> None:
    """Generate (or reuse) a built-in dataset in the cache, with a progress bar."""
    from tether.datasets import check_size, parse_name

    check_size(size, "--size")
    parse_name(name)  # only built-in names are made
    dataset = _resolve(name, size=size, seed=seed).dataset
    returns = dataset.episode_returns()
    console.print(f"{name}: {dataset.n_steps:,} steps, {dataset.n_episodes:,} episodes, "
                  f"return {returns.mean():.1f} ± {returns.std():.1f}")


@app.command()
@_command
def train(
    algo: Annotated[str, typer.Argument(help=ALGO_HELP, show_default=False)],
    data: Annotated[str | None, typer.Argument(help=DATA_HELP, show_default=False)] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", hidden=True, help="Same as DATA (older spelling).")
                       ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Gradient steps per seed.")] = 100_000,
    steps_per_epoch: Annotated[int, typer.Option(help="Steps between evaluations and checkpoints.")] = 10_000,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, trained together.")] = "0",
    out: Annotated[Path, typer.Option(help="Run directory (metrics.jsonl, checkpoint, model).")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="Continue from the run directory's checkpoint.")] = False,
    evaluate_env: Annotated[bool, typer.Option(help="Roll the policy out in an environment each epoch: --env, or "
                                                    "the dataset's env_id when it is a registered Gymnasium id.")
                            ] = True,
    env: Annotated[str | None, typer.Option("--env", help="Gymnasium id to evaluate in (may be module:Id; tether "
                                                          "never imports a module a data file names).")] = None,
    action_space: Annotated[str | None, typer.Option("--action-space", help=ACTION_SPACE_HELP)] = None,
    tensorboard: Annotated[bool, typer.Option(help="Also write TensorBoard scalars to OUT/ALGO/tensorboard.")] = False,
) -> None:
    """Train an offline learner with its default config and save it to OUT/ALGO/model.tether."""
    from tether.algos import EnvironmentEvaluator, TDErrorEvaluator, TrainingDivergedError, get_algo
    from tether.algos.engine import has_checkpoint
    from tether.algos.registry import check_action_space

    spec = get_algo(algo)
    if spec.needs_environment:
        raise ConfigError("algo", f"{algo} learns by asking an expert while it acts, not from a log alone",
                          "run `tether dagger --env TASK --expert ...`")
    seed_list = _seeds(seeds)
    for name, value in (("--steps", steps), ("--steps-per-epoch", steps_per_epoch)):
        if value < 1:
            raise ConfigError(name, f"must be a positive number of gradient steps, got {value}",
                              f"pass {name} 1 or more")
    run_dir = out / algo
    if resume and not has_checkpoint(run_dir):
        raise ConfigError("--resume", f"{run_dir} holds no checkpoint to resume from",
                          "drop --resume to start training, or pass the --out of the run to continue")
    logs = _resolve(_one_data(data, dataset, "--dataset"), action_space).dataset
    check_action_space(algo, logs.action_space.kind)
    evaluators: dict = {}
    if spec.q_value is not None:
        evaluators["td_error"] = TDErrorEvaluator()
    if evaluate_env:
        environment = _evaluation_env(env, logs.metadata)
        if environment is not None:
            evaluators["environment"] = EnvironmentEvaluator(environment, n_trials=5)
    learner = spec.config_cls().create(device="cpu")
    try:
        learner.fit(logs, n_steps=steps, n_steps_per_epoch=steps_per_epoch, evaluators=evaluators,
                    seeds=seed_list, run_dir=run_dir, resume=resume,
                    tensorboard_dir=run_dir / "tensorboard" if tensorboard else None)
    except TrainingDivergedError:
        learner.save(run_dir / "model.tether")
        raise
    path = learner.save(run_dir / "model.tether")
    last = learner.history[-1][1]
    shown = {k: round(v, 3) for k, v in last.items() if isinstance(v, float) and "/" not in k}
    console.print(f"saved {path}; last epoch: {shown}")


def _one_data(data: str | None, alias: str | None, option: str) -> str:
    """DATA, or the older option spelling of it; exactly one of the two."""
    if data is not None and alias is not None and data != alias:
        raise ConfigError(option, f"names {alias!r} while DATA names {data!r}", "give the data once, as DATA")
    if data is None and alias is None:
        raise ConfigError("DATA", "is missing", "name a file, a Minari dataset, a built-in name or a scenario")
    return data if data is not None else str(alias)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError("--seeds", f"{text!r} is not a comma-separated list of whole numbers",
                          "pass e.g. --seeds 0,1,2") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError("--seeds", f"{text!r} repeats a seed or holds a negative one", "pass distinct seeds >= 0")
    return seeds


def _evaluation_env(env_id: str | None, metadata: dict):
    """The environment to evaluate in: the one the user named, or the data's env_id when it is trusted."""
    import gymnasium as gym

    from tether.envs import env_from_metadata

    if env_id is None:
        return env_from_metadata(metadata)
    try:
        return gym.make(env_id)
    except gym.error.Error as err:
        raise ConfigError("--env", f"{env_id!r} cannot be made ({err})", "pass a registered Gymnasium id") from None


@app.command()
@_command
def export(
    model: Annotated[Path, typer.Argument(help="A learner saved by `tether train` or `save` (model.tether).")],
    out: Annotated[Path, typer.Option("--out", help="The ONNX file to write.")] = Path("policy.onnx"),
    seed_index: Annotated[int, typer.Option(help="Which seed of a multi-seed learner to export.")] = 0,
    action_masks: Annotated[bool, typer.Option(help="Discrete policies: add an action_masks input.")] = False,
) -> None:
    """Export a saved learner's greedy policy as ONNX, to serve with onnxruntime (no Python needed)."""
    from tether.algos import load_learner

    learner = load_learner(model)
    seeds = learner.seed_learners()
    if not 0 <= seed_index < len(seeds):
        raise ConfigError("--seed-index", f"{seed_index} is out of range: the learner holds {len(seeds)} seeds",
                          f"pass 0..{len(seeds) - 1}")
    path = seeds[seed_index].save_policy(out, action_masks=action_masks)
    inputs = "'observations' and 'action_masks'" if action_masks else "'observations'"
    console.print(f"wrote {path}: inputs {inputs}, output 'actions'")


@app.command("run")
@_command
def run_command(
    data: Annotated[str | None, typer.Argument(help=DATA_HELP + " Default: halfcheetah-medium-v5, or run.toml's "
                                               "data.", show_default=False)] = None,
    data_option: Annotated[str | None, typer.Option("--data", hidden=True, help="Same as DATA (older spelling).")
                           ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="run.toml with RunConfig fields.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/<data>).")] = None,
    profile: Annotated[str | None, typer.Option(help="quick (default), seed or full.")] = None,
    size: Annotated[int | None, typer.Option(help="Steps (episodes for scenarios) of a built-in dataset.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the interrupted run in this "
                                                                 "directory.")] = None,
    action_space: Annotated[str | None, typer.Option("--action-space", help=ACTION_SPACE_HELP)] = None,
) -> None:
    """Audit, BC baseline, candidates, offline evaluation, support checks, the gate and the memo."""
    from tether.report.memo import write_memo
    from tether.workflow import RunConfig, resume_config, run

    data = _one_data(data, data_option, "--data") if data is not None or data_option is not None else None
    if resume is not None:
        run_config = resume_config(resume, data=data, config=config, profile=profile, size=size,
                                   action_space=action_space)
        out_dir = resume
    else:
        given: dict[str, Any] = {"data": data, "profile": profile, "size": size, "action_space": action_space}
        run_config = (RunConfig.from_toml(config, **given) if config is not None
                      else RunConfig.from_mapping({k: v for k, v in given.items() if v is not None}))
        out_dir = out or Path("runs") / Path(run_config.data).name
    results = run(run_config, out_dir, resume=resume is not None, log=lambda m: progress_console.print(m),
                  progress=True)
    write_memo(results, out_dir)
    table = Table(title=f"gate for {results.config.data} (audit: {results.audit.verdict})")
    for column in ("policy", "decision", "first reason"):
        table.add_column(column)
    for name, decision in results.decisions.items():
        style = {"go": "green", "investigate": "yellow", "no-go": "red"}[decision.decision]
        label = f"{name} (baseline)" if name == results.baseline else name
        table.add_row(label, f"[{style}]{decision.decision}[/]", (decision.reasons or ["all conditions hold"])[0])
    console.print(table)
    console.print(f"memo: {out_dir / 'memo.html'} and {out_dir / 'memo.md'}")


STREAM_BYTES = 256 * 2**20  # Parquet files above this are audited streamed by default
VERDICT_STYLE = {"offline-rl": "bold green", "bc-only": "bold yellow", "do-not-train": "bold red"}


@app.command()
@_command
def audit(
    data: Annotated[str, typer.Argument(help=DATA_HELP, show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    reference: Annotated[str | None, typer.Option(help="Reference dataset for SACo (default for built-in names: "
                                                        "the task's random dataset, or a scenario's uniform-random "
                                                        "logs).")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="Exit 1 on this verdict (e.g. do-not-train) or "
                                                                  "worse.")] = None,
    stream: Annotated[bool | None, typer.Option("--stream/--no-stream", help="Stream a Parquet file in one pass "
                                                "with bounded memory (default: for files over 256 MB).")] = None,
    action_space: Annotated[str | None, typer.Option("--action-space", help=ACTION_SPACE_HELP)] = None,
) -> None:
    """Can these logs support offline RL, only behaviour cloning, or nothing? Verdict, reasons, next steps."""
    from tether.audit import audit as run_audit

    order = ["offline-rl", "bc-only", "do-not-train"]
    if fail_on is not None and fail_on not in order:
        raise ConfigError("--fail-on", f"unknown verdict {fail_on!r}", f"use one of {order}")
    path = Path(data).expanduser()
    is_parquet = path.is_file() and path.suffix == ".parquet"
    if stream and not is_parquet:
        raise ConfigError("--stream", f"reads Parquet files; {data!r} is not one", "drop --stream")
    progress_console.print(f"auditing {data}: loading")
    if stream or (stream is None and is_parquet and path.stat().st_size > STREAM_BYTES):
        from tether.audit import audit_parquet

        ref = _resolve(reference, action_space).dataset if reference is not None else None
        progress_console.print("auditing: streaming the file, then diagnostics on a sample of episodes")
        report = audit_parquet(path, reference=ref, action_space=_action_space(action_space))
        _show_audit(report, data, as_json, fail_on, order)
        return
    source = _resolve(data, action_space)
    dataset = source.dataset
    ref = _resolve(reference, action_space).dataset if reference is not None else source.coverage_reference()
    progress_console.print(f"auditing: diagnostics on {dataset.n_steps:,} steps")
    report = run_audit(dataset, reference=ref)
    _show_audit(report, data, as_json, fail_on, order)


def _show_audit(report, data: str, as_json: bool, fail_on: str | None, order: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1, default=float))
    else:
        _print_audit(report, data)
    if fail_on is not None and order.index(report.verdict) >= order.index(fail_on):
        raise typer.Exit(code=1)


def _print_audit(report, name: str) -> None:
    d = report.diagnostics
    size, cov, sup, rep = d["size"], d["coverage"], d["action_support"], d["reproducibility"]
    console.print(f"verdict for {name}: [{VERDICT_STYLE[report.verdict]}]{report.verdict}[/]")
    table = Table(title="diagnostics", show_header=True)
    for column in ("diagnostic", "value", "reading"):
        table.add_column(column)
    pct = size["return_percentiles"]
    rows = [
        ("size", f"{size['steps']:,} steps / {size['episodes']:,} episodes",
         f"episode length {size['length_min']}-{size['length_max']} (median {size['length_median']:.0f}), "
         f"{size['truncated_share']:.0%} cut by the log"),
        ("returns", f"p5 {pct['5']:.2f} / p50 {pct['50']:.2f} / p95 {pct['95']:.2f}",
         f"rewards are zero on {size['reward_sparsity']:.0%} of steps"),
        ("trajectory quality", "-" if size["tq"] is None else f"{size['tq']:.2f}",
         "0 = random, 1 = reference expert" if size["tq"] is not None else "no reference scores in the metadata"),
        ("coverage", f"SACo {cov['saco']:.2f}" if cov["saco"] is not None
         else f"{cov['unique_cells_per_step']:.3f} unique cells/step",
         f"state regions evenness {cov['region_evenness']:.2f} (1 = evenly spread)"),
    ]
    if "mean_normalised_entropy" in sup:
        rows.append(("action support", f"entropy {sup['mean_normalised_entropy']:.2f}",
                     f"{sup['rare_or_untried_share']:.0%} of allowed actions rare or untried per region"))
    else:
        rows.append(("action support", f"spread {sup['mean_action_spread']:.3f}",
                     "std of logged actions within state regions, as a share of the action range"))
    rows.append(("reproducibility", f"R2 {rep['pseudo_r2']:.2f}" if rep["pseudo_r2"] is not None else "-",
                 "held-out behaviour model vs a state-blind one"
                 + ("" if rep["hidden_information_gap"] is None
                    else f"; {rep['hidden_information_gap']:.3f} nats/step short of the logged propensities")))
    if "action_space" in d:
        rows.append(("action space", d["action_space"]["kind"], d["action_space"]["how"]))
    props = d["propensities"]
    rows.append(("propensities", "logged" if props["logged"] else "not logged", props["enables"]))
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if "streamed" in d:
        streamed = d["streamed"]
        console.print(f"streamed {streamed['rows']:,} steps; size and returns from every step, the other "
                      f"diagnostics from a sample of {streamed['sampled_episodes']:,} whole episodes "
                      f"({streamed['sampled_rows']:,} steps)")
    for reason in report.reasons:
        console.print(f"- [{VERDICT_STYLE.get(reason.verdict, 'bold')}]{reason.verdict}[/] {reason.diagnostic} "
                      f"(threshold {reason.threshold}): {reason.text}")
    console.print("next steps:")
    for step in report.next_steps:
        console.print(f"  - {step}")


if __name__ == "__main__":
    app()
