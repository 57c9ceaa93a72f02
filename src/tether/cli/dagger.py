"""`tether dagger`: DAgger from the command line, and the person's side of it (label, export, import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tether.cli._common import _command, console
from tether.errors import ConfigError

dagger_app = typer.Typer(help="DAgger: imitation with an expert who labels the states the policy reaches.",
                         invoke_without_command=True)
RUN_DIR_HELP = "The DAgger run directory."


@dagger_app.callback()
@_command
def dagger(
    ctx: typer.Context,
    env: Annotated[str | None, typer.Option("--env", help="The task: hopper, halfcheetah, walker2d, cartpole, "
                                            "acrobot, tightrope, a scenario (fraud, ...) or a registered "
                                            "Gymnasium id.")] = None,
    expert: Annotated[str, typer.Option("--expert", help="zoo[:LEVEL], onnx:PATH, optimal (decision simulators), "
                                        "scripted (classic control) or human[:NAME].")] = "zoo",
    demos: Annotated[str | None, typer.Option("--demos", help="Round 0's demonstrations (any data tether reads); "
                                              "default: expert rollouts.")] = None,
    rounds: Annotated[int, typer.Option(help="Rounds after round 0.")] = 10,
    episodes: Annotated[int, typer.Option("--episodes", help="Episodes rolled out per round.")] = 5,
    steps: Annotated[int, typer.Option("--steps", help="Gradient steps of each round's fit.")] = 2000,
    label_budget: Annotated[int | None, typer.Option("--label-budget", help="Most labels the run may ask for.")
                            ] = None,
    query: Annotated[str, typer.Option(help="all (every visited state) or uncertain (where the policy "
                                       "ensemble disagrees).")] = "all",
    threshold: Annotated[float | None, typer.Option(help="Uncertainty above which a state is queried.")] = None,
    beta: Annotated[float, typer.Option(help="The expert acts with probability beta**round (0: never).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of rollouts and policies.")] = 0,
    out: Annotated[Path, typer.Option("--run-dir", "--out", help=RUN_DIR_HELP)] = Path("runs/dagger"),
    wait: Annotated[bool, typer.Option(help="Wait for a person's labels instead of exiting (run again to "
                                       "resume).")] = True,
) -> None:
    """Run DAgger (or resume the run in --run-dir); a person labels with `tether dagger label`."""
    if ctx.invoked_subcommand is not None:
        return
    if env is None:
        raise ConfigError("--env", "names no task", "pass --env hopper, --env cartpole, --env tightrope, ...")
    from tether.algos.registry import get_algo
    from tether.imitation import expert_from_spec, resolve_task, train_dagger

    task = resolve_task(env)
    chosen = expert_from_spec(expert, task)
    cls = get_algo("discrete_dagger" if task.action_space.is_discrete else "dagger").config_cls
    settings: dict = {"rounds": rounds, "episodes_per_round": episodes, "steps_per_round": steps,
                      "label_budget": label_budget, "query": query, "beta": beta}
    if query == "uncertain":
        settings["ensemble_size"] = 5
    if threshold is not None:
        settings["query_threshold"] = threshold
    demonstrations = None
    if demos is not None:
        from tether.sources import resolve

        demonstrations = resolve(demos, show_progress=True).dataset
    config = cls(**settings)
    result = train_dagger(config, task, chosen, out, demonstrations=demonstrations, seed=seed,  # type: ignore[arg-type]
                          wait=wait)
    if not result.finished:
        console.print(f"{result.pending} state(s) of {out} await labels: `tether dagger label --run-dir {out}`, "
                      f"or `tether dagger export` then `import`; run this command again to continue")
        return
    last = result.rounds[-1]
    console.print(f"saved {out / 'policy.tether'} and {out / 'dataset.npz'}: {last.labels} labels over "
                  f"{len(result.rounds)} round(s)")


def _queue(run_dir: Path):
    from tether.imitation import current_queue

    queue = current_queue(run_dir)
    if queue is None:
        raise ConfigError("--run-dir", f"no states of {run_dir} wait for labels",
                          "run `tether dagger --expert human ...` to queue a round")
    return queue


@dagger_app.command("label")
@_command
def label(
    run_dir: Annotated[Path, typer.Option("--run-dir", help=RUN_DIR_HELP)] = Path("runs/dagger"),
    port: Annotated[int, typer.Option(help="Port to serve on (0: any free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless you mean to share it).")
                    ] = "127.0.0.1",
    labeller: Annotated[str, typer.Option(help="Name recorded with each label (the page can change it).")
                        ] = "person",
) -> None:
    """Serve the labelling page for the run's queued states until interrupted (Ctrl-C)."""
    from tether.imitation.label_server import LabelServer

    server = LabelServer(run_dir, host, port, labeller)
    console.print(f"labelling page for {run_dir}: {server.url} (Ctrl-C to stop; every label is saved at once)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@dagger_app.command("export")
@_command
def export_queue(
    path: Annotated[Path, typer.Argument(help="A .parquet or .csv file to write.")],
    run_dir: Annotated[Path, typer.Option("--run-dir", help=RUN_DIR_HELP)] = Path("runs/dagger"),
) -> None:
    """Write the states that wait for labels to a file, with an empty action column to fill in."""
    queue = _queue(run_dir)
    written = queue.export(path)
    console.print(f"wrote {len(queue.pending())} state(s) of round {queue.round} to {written}")


@dagger_app.command("import")
@_command
def import_labels(
    path: Annotated[Path, typer.Argument(help="The exported file, with its action column filled in.")],
    run_dir: Annotated[Path, typer.Option("--run-dir", help=RUN_DIR_HELP)] = Path("runs/dagger"),
    labeller: Annotated[str, typer.Option(help="Name recorded with rows that have no labeller column.")
                        ] = "person",
    partial: Annotated[bool, typer.Option(help="Store the filled rows and leave the rest pending.")] = False,
) -> None:
    """Store the labels of a filled-in export (nothing is stored if any row is invalid)."""
    queue = _queue(run_dir)
    stored = queue.import_labels(path, labeller=labeller, partial=partial)
    console.print(f"stored {stored} label(s) for round {queue.round}; {len(queue.pending())} still pending")
