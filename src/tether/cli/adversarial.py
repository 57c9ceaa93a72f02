"""`tether gail` and `tether airl`: adversarial imitation from the command line, and `tether airl transfer`, a
fresh PPO policy trained on a reward AIRL saved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tether.cli._common import _command, console
from tether.errors import ConfigError

TASK_HELP = ("The task: cartpole, acrobot, hopper, halfcheetah, walker2d, or a registered Gymnasium id "
             "(interactive learners need a 1-D observation box).")
DEMOS_HELP = "The expert's demonstrations (any data tether reads); default: --demo-episodes episodes of --expert."
EXPERT_HELP = "Who demonstrates when --demos is not given: zoo[:LEVEL], onnx:PATH or scripted (classic control)."


def _demonstrations(task: Any, demos: str | None, expert: str, episodes: int, seed: int) -> Any:
    if demos is not None:
        from tether.sources import resolve

        return resolve(demos, show_progress=True).dataset
    from tether.imitation import expert_from_spec
    from tether.imitation.experts import expert_demonstrations

    if episodes < 1:
        raise ConfigError("--demo-episodes", f"must be positive, got {episodes}", "pass 1 or more")
    return expert_demonstrations(task, expert_from_spec(expert, task), episodes, seed)


def _train(algorithm: str, env: str, demos: str | None, expert: str, demo_episodes: int, steps: int, n_envs: int,
           seed: int, run_dir: Path, tensorboard: bool, onnx: bool, settings: dict[str, Any]) -> None:
    from tether.algos.ppo import PPOConfig
    from tether.algos.registry import get_interactive
    from tether.imitation import resolve_task, train_airl, train_gail

    task = resolve_task(env)
    demonstrations = _demonstrations(task, demos, expert, demo_episodes, seed)
    config = get_interactive(algorithm).config_cls(ppo=PPOConfig(n_envs=n_envs), total_steps=steps, **settings)
    train = train_gail if algorithm == "gail" else train_airl
    result = train(config, task, demonstrations, seed=seed, run_dir=run_dir, show_progress=True,
                   tensorboard_dir=run_dir / "tensorboard" if tensorboard else None)
    saved = [run_dir / "policy.tether"] + ([run_dir / "reward.tether"] if algorithm == "airl" else [])
    if onnx:
        saved.append(result.policy.policy().save_onnx(run_dir / "policy.onnx"))
    last = result.history[-1] if result.history else {}
    shown = {k: round(float(v), 3) for k, v in last.items() if k in ("env_return", "disc_loss", "disc_accuracy")
             and v is not None}
    console.print(f"saved {', '.join(str(p) for p in saved)} after {result.policy.steps_done} steps; last: {shown}")


gail_app = typer.Typer(help="GAIL: imitate by matching the expert's state-action occupancy (PPO on a "
                       "discriminator's reward).", invoke_without_command=True)
airl_app = typer.Typer(help="AIRL: imitate and recover a reward you can reuse (`tether airl transfer`).",
                       invoke_without_command=True)

Env = Annotated[str | None, typer.Option("--env", help=TASK_HELP)]
Demos = Annotated[str | None, typer.Option("--demos", help=DEMOS_HELP)]
ExpertOpt = Annotated[str, typer.Option("--expert", help=EXPERT_HELP)]
DemoEpisodes = Annotated[int, typer.Option("--demo-episodes", help="Expert episodes to record without --demos.")]
Steps = Annotated[int, typer.Option("--steps", help="Environment steps of the whole run.")]
Envs = Annotated[int, typer.Option("--n-envs", help="Environments stepped together.")]
Seed = Annotated[int, typer.Option(help="Seed of the environments and networks.")]
TensorBoard = Annotated[bool, typer.Option(help="Also write TensorBoard scalars to RUN_DIR/tensorboard.")]
Onnx = Annotated[bool, typer.Option(help="Also export the policy to RUN_DIR/policy.onnx.")]


def _needs_env(env: str | None) -> str:
    if env is None:
        raise ConfigError("--env", "names no task", "pass --env cartpole, --env hopper, ...")
    return env


@gail_app.callback()
@_command
def gail(
    ctx: typer.Context, env: Env = None, demos: Demos = None, expert: ExpertOpt = "zoo",
    demo_episodes: DemoEpisodes = 10,
    steps: Steps = 200_000, n_envs: Envs = 8, seed: Seed = 0,
    out: Annotated[Path, typer.Option("--run-dir", "--out", help="Run directory (checkpoint, policy); run "
                                      "again to resume.")] = Path("runs/gail"),
    gradient_penalty: Annotated[float, typer.Option(help="Weight of the discriminator's gradient penalty.")] = 1.0,
    observation_only: Annotated[bool, typer.Option(help="Discriminate (s, s') for demonstrations without "
                                                   "actions.")] = False,
    absorbing: Annotated[bool, typer.Option(help="Terminations lead to an absorbing state the discriminator "
                                            "judges.")] = False,
    tensorboard: TensorBoard = False, onnx: Onnx = False,
) -> None:
    """Train a GAIL policy (or resume the run in --run-dir)."""
    if ctx.invoked_subcommand is None:
        _train("gail", _needs_env(env), demos, expert, demo_episodes, steps, n_envs, seed, out, tensorboard, onnx,
               {"gradient_penalty": gradient_penalty, "observation_only": observation_only, "absorbing": absorbing})


@airl_app.callback()
@_command
def airl(
    ctx: typer.Context, env: Env = None, demos: Demos = None, expert: ExpertOpt = "zoo",
    demo_episodes: DemoEpisodes = 10,
    steps: Steps = 200_000, n_envs: Envs = 8, seed: Seed = 0,
    out: Annotated[Path, typer.Option("--run-dir", "--out", help="Run directory (checkpoint, policy, reward); run "
                                      "again to resume.")] = Path("runs/airl"),
    tensorboard: TensorBoard = False, onnx: Onnx = False,
) -> None:
    """Train an AIRL policy and reward (or resume the run in --run-dir); the reward is RUN_DIR/reward.tether."""
    if ctx.invoked_subcommand is None:
        _train("airl", _needs_env(env), demos, expert, demo_episodes, steps, n_envs, seed, out, tensorboard, onnx, {})


@airl_app.command("transfer")
@_command
def transfer(
    reward: Annotated[Path, typer.Argument(help="A reward AIRL saved (RUN_DIR/reward.tether).", show_default=False)],
    env: Env = None, steps: Steps = 200_000, n_envs: Envs = 8, seed: Seed = 0,
    out: Annotated[Path, typer.Option("--run-dir", "--out", help="Where the new policy is saved.")
                   ] = Path("runs/airl-transfer"),
    onnx: Onnx = False,
) -> None:
    """Train a fresh PPO policy on a saved AIRL reward alone, and report its return in the environment."""
    from tether.algos.ppo import PPOConfig
    from tether.imitation import SavedReward, resolve_task, train_on_reward

    task = resolve_task(_needs_env(env))
    saved = SavedReward(reward)
    if saved.observation_dim != len(task.observation_names):
        raise ConfigError("reward", f"{reward} scores {saved.observation_dim} observation fields, {task.name} has "
                          f"{len(task.observation_names)}", "pass a reward AIRL learned on this task")
    ppo = train_on_reward(PPOConfig(n_envs=n_envs), task, saved, steps, seed, run_dir=out, show_progress=True)
    if onnx:
        ppo.policy().save_onnx(out / "policy.onnx")
    console.print(f"saved {out / 'policy.tether'}; environment return of its last episodes: "
                  f"{ppo.recent_return(20)}")
