"""The tasks an interactive learner can act in, by name: tether's MuJoCo tasks (`hopper`, ...), its
classic-control tasks (`cartpole`, `acrobot`), its decision simulators (`tightrope`, `fraud`, ...) and
plain Gymnasium ids already registered (`Pendulum-v1`). A name never imports code (see
`tether.envs.trusted`); an environment object passed in Python is used as given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from tether._env_ids import is_trusted_env_id
from tether.data import ActionSpace
from tether.envs.finite import FiniteMDP
from tether.errors import ConfigError, did_you_mean

EnvFactory = Callable[..., gym.Env]


@dataclass(frozen=True)
class InteractiveTask:
    """An environment to roll policies out in, and what a person labelling its states should see.

    Attributes:
        name: what the user named.
        make_env: builds a fresh environment (`render_mode=` forwarded when the task renders).
        action_space: the actions as tether stores them.
        observation_names: a name per observation field (for the labelling page and exported queues).
        action_names: a name per discrete action (None for continuous actions).
        renders: the environment can draw an RGB frame of its state.
        mdp: the decision simulator, when the task is one (exact values, the optimal expert).
        zoo_task: the behaviour-policy zoo's task name, when the zoo has experts for it.
        classic: the classic-control task name (its scripted expert).
        describe: `info -> text` naming the full state for a labeller (decision simulators).
    """

    name: str
    make_env: EnvFactory
    action_space: ActionSpace
    observation_names: tuple[str, ...]
    action_names: tuple[str, ...] | None = None
    renders: bool = False
    mdp: FiniteMDP | None = None
    zoo_task: str | None = None
    classic: str | None = None
    describe: Callable[[dict[str, Any]], str] | None = field(default=None, repr=False)


def _space_of(env: gym.Env, name: str) -> ActionSpace:
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        return ActionSpace.discrete(int(space.n))
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return ActionSpace.continuous(space.low, space.high)
    raise ConfigError("env", f"{name} has actions {space}, which tether cannot learn",
                      "use a task with discrete actions or a 1-D box of continuous ones")


def _observation_names(env: gym.Env, name: str) -> tuple[str, ...]:
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ConfigError("env", f"{name} has observations {space}; interactive learners need a 1-D box",
                          "flatten the observations with gymnasium.wrappers.FlattenObservation")
    return tuple(f"obs_{i}" for i in range(space.shape[0]))


def task_from_env(make_env: EnvFactory, name: str = "env") -> InteractiveTask:
    """A task around an environment factory given in Python (`lambda **kw: gym.make(...)`)."""
    try:
        env = make_env()
    except Exception as err:  # the factory is the user's code: any failure is theirs to fix
        raise ConfigError("env", f"{name} could not be built ({type(err).__name__}: {err})",
                          "check the environment's id and its dependencies") from None
    try:
        return InteractiveTask(name, make_env, _space_of(env, name), _observation_names(env, name),
                               renders="rgb_array" in (env.metadata.get("render_modes") or []))
    finally:
        env.close()


def _simulator(name: str, mdp: FiniteMDP) -> InteractiveTask:
    labels = mdp.state_labels
    return InteractiveTask(name, lambda **_: mdp.env(), ActionSpace.discrete(mdp.n_actions), tuple(mdp.feature_names),
                           tuple(mdp.action_names), mdp=mdp,
                           describe=(lambda info: labels[info["state"]]) if labels else None)


def simulator_names() -> list[str]:
    """Decision simulators a task may name."""
    from tether.envs.scenarios import scenario_names

    return sorted({"tightrope", *scenario_names()})


def resolve_task(name: str) -> InteractiveTask:
    """The task `name` names (raises `ConfigError` with the closest known name)."""
    from tether.envs.classic import CLASSIC_TASKS
    from tether.envs.mujoco import MUJOCO_TASKS, make_env

    key = name.strip()
    if key.lower() in MUJOCO_TASKS:
        task = MUJOCO_TASKS[key.lower()]
        built = task_from_env(lambda **kw: make_env(task.name, **kw), task.env_id)
        return InteractiveTask(task.name, built.make_env, built.action_space, built.observation_names, renders=True,
                               zoo_task=task.name)
    if key.lower() in CLASSIC_TASKS:
        classic = CLASSIC_TASKS[key.lower()]
        built = task_from_env(lambda **kw: gym.make(classic.env_id, **kw), classic.env_id)
        return InteractiveTask(key.lower(), built.make_env, built.action_space, built.observation_names,
                               renders=built.renders, classic=key.lower())
    if key == "tightrope":
        from tether.envs.tightrope import tightrope

        return _simulator(key, tightrope())
    if key in simulator_names():
        from tether.envs.scenarios import get_scenario

        scenario = get_scenario(key)
        if scenario.mdp is not None:
            return _simulator(key, scenario.mdp)
        return resolve_task(scenario.task_name)
    if is_trusted_env_id(key):
        return task_from_env(lambda **kw: gym.make(key, **kw), key)
    known = sorted({*MUJOCO_TASKS, *CLASSIC_TASKS, *simulator_names()})
    hint = did_you_mean(key, known) or did_you_mean(name, list(gym.registry))
    raise ConfigError("env", f"unknown task {name!r}{hint}",
                      f"name one of {sorted(known)}, or a Gymnasium id already registered (e.g. Pendulum-v1)")


def observation_array(observation: Any) -> np.ndarray:
    """One observation as a flat float32 vector."""
    return np.asarray(observation, dtype=np.float32).ravel()
