"""`tether`: the command line. Each command calls the same public API a user would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tether.data import DatasetError

app = typer.Typer(help="Learn decision policies from logged data, tethered to the evidence.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
datasets_app = typer.Typer(help="Built-in D4RL-style datasets, regenerated locally.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
console = Console()
progress_console = Console(stderr=True)  # progress never mixes into stdout, which --json keeps pure


def _fail(err: Exception) -> None:
    console.print(f"[bold red]error[/]: {err}")
    raise typer.Exit(code=2)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=progress_console)


def _load_with_progress(source: str):
    """Load a path or Minari id, or generate (or reuse) a built-in dataset with a progress bar."""
    from tether import datasets
    from tether.data import load_dataset

    if not datasets.is_builtin(source) or source.endswith("-v2"):
        return load_dataset(source)
    if datasets.is_scenario(source):
        return datasets.get_dataset(source, create_env=False)[0]
    return _get_builtin(source, size=None, seed=0)


def _get_builtin(name: str, size: int | None, seed: int):
    from tether import datasets

    total = size or datasets.default_size(name)
    with _progress() as progress:
        bar = progress.add_task(name, total=total)
        dataset, _ = datasets.get_dataset(name, size=size, seed=seed, create_env=False,
                                          progress=lambda n: progress.update(bar, advance=n))
        progress.update(bar, completed=total)
    return dataset


@app.command()
def info(
    data: Annotated[str, typer.Argument(help="A file, a Minari dataset, or a built-in name (tether datasets list).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the card as JSON.")] = False,
) -> None:
    """Print a dataset card: sizes, episodes, horizons, returns, action space, propensities."""
    from tether.data.summary import summarize

    try:
        card = summarize(_load_with_progress(data))
    except (DatasetError, LookupError) as err:
        _fail(err)
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
        ("action space", space_text),
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
def datasets_make(
    name: Annotated[str, typer.Argument(help="A built-in name, e.g. halfcheetah-medium-v5.")],
    size: Annotated[Optional[int], typer.Option(help="Number of steps (default: D4RL's).")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option(help="Generation seed.")] = 0,
) -> None:
    """Generate (or reuse) a built-in dataset in the cache, with a progress bar."""
    try:
        dataset = _get_builtin(name, size=size, seed=seed)
    except (DatasetError, LookupError) as err:
        _fail(err)
    returns = dataset.episode_returns()
    console.print(f"{name}: {dataset.n_steps:,} steps, {dataset.n_episodes:,} episodes, "
                  f"return {returns.mean():.1f} ± {returns.std():.1f}")


@app.command()
def train(
    algo: Annotated[str, typer.Argument(help="bc, td3_plus_bc, iql, cql or bcq.")],
    dataset: Annotated[str, typer.Option("--dataset", help="A file, Minari dataset or built-in name.")],
    steps: Annotated[int, typer.Option("--steps", help="Gradient steps per seed.")] = 100_000,
    steps_per_epoch: Annotated[int, typer.Option(help="Steps between evaluations and checkpoints.")] = 10_000,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, trained together.")] = "0",
    out: Annotated[Path, typer.Option(help="Run directory (metrics.jsonl, checkpoint, model).")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="Continue from the run directory's checkpoint.")] = False,
    evaluate_env: Annotated[bool, typer.Option(help="Roll the policy out in the dataset's env each epoch.")] = True,
    tensorboard: Annotated[bool, typer.Option(help="Also write TensorBoard scalars to OUT/ALGO/tensorboard.")] = False,
) -> None:
    """Train an offline learner with its default config and save it to OUT/model.tether."""
    from tether.algos import EnvironmentEvaluator, TDErrorEvaluator, TrainingDivergedError, get_algo

    try:
        data = _load_with_progress(dataset)
        config = get_algo(algo).config_cls()
    except (DatasetError, LookupError, ValueError) as err:
        _fail(err)
    evaluators: dict = {}
    if get_algo(algo).q_value is not None:
        evaluators["td_error"] = TDErrorEvaluator()
    env_id = data.metadata.get("env_id")
    if evaluate_env and env_id:
        import gymnasium as gym

        evaluators["environment"] = EnvironmentEvaluator(gym.make(env_id), n_trials=5)
    learner = config.create(device="cpu")
    run_dir = out / algo
    try:
        learner.fit(data, n_steps=steps, n_steps_per_epoch=steps_per_epoch, evaluators=evaluators,
                    seeds=[int(s) for s in seeds.split(",")], run_dir=run_dir, resume=resume,
                    tensorboard_dir=run_dir / "tensorboard" if tensorboard else None)
    except TrainingDivergedError as err:
        learner.save(run_dir / "model.tether")
        _fail(err)
    path = learner.save(run_dir / "model.tether")
    last = learner.history[-1][1]
    shown = {k: round(v, 3) for k, v in last.items() if isinstance(v, float) and "/" not in k}
    console.print(f"saved {path}; last epoch: {shown}")


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="A learner saved by `tether train` or `save` (model.tether).")],
    out: Annotated[Path, typer.Option("--out", help="The ONNX file to write.")] = Path("policy.onnx"),
    seed_index: Annotated[int, typer.Option(help="Which seed of a multi-seed learner to export.")] = 0,
    action_masks: Annotated[bool, typer.Option(help="Discrete policies: add an action_masks input.")] = False,
) -> None:
    """Export a saved learner's greedy policy as ONNX, to serve with onnxruntime (no Python needed)."""
    from tether.algos import load_learner

    try:
        learner = load_learner(model)
        seeds = learner.seed_learners()
        if not 0 <= seed_index < len(seeds):
            raise ValueError(f"--seed-index {seed_index}: the learner holds {len(seeds)} seeds (0..{len(seeds) - 1})")
        path = seeds[seed_index].save_policy(out, action_masks=action_masks)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    inputs = "'observations' and 'action_masks'" if action_masks else "'observations'"
    console.print(f"wrote {path}: inputs {inputs}, output 'actions'")


@app.command("run")
def run_command(
    data: Annotated[str | None, typer.Option("--data", help="A file, Minari dataset, built-in name or scenario "
                                                           "(default halfcheetah-medium-v5).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="run.toml with RunConfig fields.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/<data>).")] = None,
    profile: Annotated[str | None, typer.Option(help="quick (default), seed or full.")] = None,
    size: Annotated[int | None, typer.Option(help="Steps (episodes for scenarios) of a built-in dataset.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the interrupted run in this "
                                                                 "directory.")] = None,
) -> None:
    """Audit, BC baseline, candidates, offline evaluation, support checks, the gate and the memo."""
    from tether.report.workflow import PROFILES, RunConfig, run

    try:
        if resume is not None:
            results = run(RunConfig(), resume, resume=True, log=lambda m: progress_console.print(m))
            out_dir = resume
        else:
            given: dict[str, Any] = {"data": data, "profile": profile, "size": size}
            run_config = (RunConfig.from_toml(config, **given) if config is not None
                          else RunConfig(**{k: v for k, v in given.items() if v is not None}))
            if run_config.profile not in PROFILES:
                raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {run_config.profile!r}")
            out_dir = out or Path("runs") / Path(run_config.data).name
            results = run(run_config, out_dir, log=lambda m: progress_console.print(m))
    except (DatasetError, LookupError, ValueError, FileNotFoundError) as err:
        _fail(err)
    table = Table(title=f"gate for {results['config']['data']} (audit: {results['audit']['verdict']})")
    for column in ("candidate", "decision", "first reason"):
        table.add_column(column)
    for name, decision in results["decisions"].items():
        style = {"go": "green", "investigate": "yellow", "no-go": "red"}[decision["decision"]]
        table.add_row(name, f"[{style}]{decision['decision']}[/]", (decision["reasons"] or ["all conditions hold"])[0])
    console.print(table)
    console.print(f"memo: {out_dir / 'memo.html'} and {out_dir / 'memo.md'}")


STREAM_BYTES = 256 * 2**20  # Parquet files above this are audited streamed by default
VERDICT_STYLE = {"offline-rl": "bold green", "bc-only": "bold yellow", "do-not-train": "bold red"}


@app.command()
def audit(
    data: Annotated[str, typer.Argument(help="A file, a Minari dataset, a built-in name or a scenario.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    reference: Annotated[str | None, typer.Option(help="Reference dataset for SACo (default for built-in names: "
                                                        "the task's random dataset, or a scenario's uniform-random "
                                                        "logs).")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="Exit 1 on this verdict (e.g. do-not-train) or "
                                                                  "worse.")] = None,
    stream: Annotated[bool | None, typer.Option("--stream/--no-stream", help="Stream a Parquet file in one pass "
                                                "with bounded memory (default: for files over 256 MB).")] = None,
) -> None:
    """Can these logs support offline RL, only behaviour cloning, or nothing? Verdict, reasons, next steps."""
    from tether import datasets
    from tether.audit import audit as run_audit

    order = ["offline-rl", "bc-only", "do-not-train"]
    if fail_on is not None and fail_on not in order:
        _fail(ValueError(f"--fail-on must be one of {order}, got {fail_on!r}"))
    path = Path(data).expanduser()
    is_parquet = path.is_file() and path.suffix == ".parquet"
    if stream and not is_parquet:
        _fail(ValueError(f"--stream reads Parquet files; {data!r} is not one (drop --stream)"))
    if stream or (stream is None and is_parquet and path.stat().st_size > STREAM_BYTES):
        from tether.audit import audit_parquet

        try:
            ref = _load_with_progress(reference) if reference is not None else None
            report = audit_parquet(path, reference=ref)
        except (DatasetError, LookupError, ValueError) as err:
            _fail(err)
        _show_audit(report, data, as_json, fail_on, order)
        return
    try:
        dataset = _load_with_progress(data)
        ref = _load_with_progress(reference) if reference is not None else datasets.coverage_reference(data, dataset)
        report = run_audit(dataset, reference=ref)
    except (DatasetError, LookupError, ValueError) as err:
        _fail(err)
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
