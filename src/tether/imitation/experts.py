"""Experts behind one small interface: who labels the states an interactive learner visits.

An expert has a `source` (recorded with every label it gives), says whether it answers at once
(`synchronous`: it can also act during rollouts) and labels a batch of observations:

    expert.label(observations [N, d], infos [N dicts]) -> actions [N] (discrete) or [N, k] (continuous)

Sources: a Python callable, a policy of the behaviour-policy zoo, an ONNX policy file, a decision
simulator's optimal policy, a classic-control task's scripted controller, and a person (who answers
later, through `tether dagger label` or an imported file). `checked_labels` refuses wrong shapes,
types, NaN and out-of-range actions, naming the row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tether.data import ActionSpace, LoggedDataset
from tether.envs.finite import FiniteMDP
from tether.errors import ConfigError, DatasetError
from tether.imitation.tasks import InteractiveTask, observation_array


class Expert(Protocol):
    """Anything that labels observations with the actions it would take."""

    source: str
    synchronous: bool

    def label(self, observations: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray: ...


@dataclass
class CallableExpert:
    """A Python function `observations [N, d] -> actions` as an expert."""

    function: Callable[[np.ndarray], Any]
    source: str = "python"
    synchronous: bool = True

    def label(self, observations: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        return np.asarray(self.function(observations))


@dataclass
class ZooExpert:
    """A zoo policy (`level` "expert", "medium" or "step_<n>") acting deterministically (its tanh mean),
    mapped from [-1, 1] onto the task's action bounds."""

    task: str
    action_space: ActionSpace
    level: str = "expert"
    synchronous: bool = True

    def __post_init__(self) -> None:
        from tether.zoo.registry import task_zoo

        self.policy = task_zoo(self.task).policy(self.level)
        self.source = f"zoo:{self.task}/{self.level}"

    def label(self, observations: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        low, high = self.action_space.bounds
        return low + (self.policy.deterministic(observations) + 1.0) * 0.5 * (high - low)

    def save_onnx(self, path: str | Path) -> Path:
        """This expert as an ONNX policy file (`observations -> actions`), to hand to another library."""
        import jax.numpy as jnp

        from tether.export.onnx import save_function

        low, high = (jnp.asarray(bound) for bound in self.action_space.bounds)

        def act(observations):
            hidden = observations
            for kernel, bias in self.policy.layers:
                hidden = jnp.maximum(hidden @ kernel + bias, 0.0)
            return low + (jnp.tanh(hidden @ self.policy.mean[0] + self.policy.mean[1]) + 1.0) * 0.5 * (high - low)
        return save_function(act, self.policy.observation_dim, path, self.source)


@dataclass
class OnnxExpert:
    """A policy file in ONNX (`tether export`, or any model with one `[N, d]` float input): its first output
    is the action (`[N]` ids, `[N, n]` scores whose argmax is the action, or `[N, k]` continuous actions)."""

    path: Path
    action_space: ActionSpace
    synchronous: bool = True

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise ConfigError("expert", f"ONNX policy file {self.path} does not exist", "pass the path of a .onnx file")
        try:
            import onnxruntime
        except ImportError:
            raise ConfigError("expert", "an ONNX expert needs onnxruntime", "pip install onnxruntime") from None
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types for unreadable models
            raise ConfigError("expert", f"{self.path} is not a readable ONNX model ({str(err)[:120]})",
                              "export the policy again (tether export) or pass another file") from None
        self.input_name = self.session.get_inputs()[0].name
        self.source = f"onnx:{self.path.name}"

    def label(self, observations: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        out = np.asarray(self.session.run(None, {self.input_name: np.asarray(observations, np.float32)})[0])
        if self.action_space.is_discrete and out.ndim == 2 and out.shape[1] == self.action_space.n_actions > 1:
            return out.argmax(1)
        return out


@dataclass
class OptimalExpert:
    """A decision simulator's optimal policy (greedy in its exact optimal Q), acting on the full state the
    simulator reports (`info["state"]`), or on the features when they identify the state."""

    mdp: FiniteMDP
    table: np.ndarray | None = None
    synchronous: bool = True

    def __post_init__(self) -> None:
        self.table = self.mdp.greedy_table() if self.table is None else np.asarray(self.table)
        self.source = f"optimal:{self.mdp.name}"
        keys = [row.tobytes() for row in self.mdp.features.astype(np.float32)]
        self._by_features: dict[bytes, int] = {}
        for state, key in enumerate(keys):
            if not self.mdp.terminal[state]:
                self._by_features.setdefault(key, state)

    def label(self, observations: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        assert self.table is not None
        states = []
        for row, (obs, info) in enumerate(zip(observations, infos, strict=True)):
            if "state" in info:
                states.append(int(info["state"]))
                continue
            state = self._by_features.get(np.asarray(obs, np.float32).tobytes())
            if state is None:
                raise DatasetError("observations", f"row {row} matches no state of simulator {self.mdp.name}",
                                   "label states the simulator produced")
            states.append(state)
        return self.table[np.asarray(states)].argmax(1)


@dataclass
class HumanExpert:
    """A person, who labels queued states later (`tether dagger label`, or an exported then imported file)."""

    labeller: str = "person"
    synchronous: bool = False

    def __post_init__(self) -> None:
        self.source = "human"

    def label(self, observations: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        raise RuntimeError("a person labels through the queue (tether dagger label), not by a call")


def expert_from_spec(spec: str, task: InteractiveTask) -> Expert:
    """The expert a command line names: `zoo[:LEVEL]`, `onnx:PATH`, `optimal`, `scripted` or `human[:NAME]`."""
    kind, _, arg = spec.partition(":")
    if kind == "zoo":
        if task.zoo_task is None:
            raise ConfigError("expert", f"the zoo has no policies for {task.name}", "use onnx:PATH, optimal or human")
        return ZooExpert(task.zoo_task, task.action_space, arg or "expert")
    if kind == "onnx" and arg:
        return OnnxExpert(Path(arg), task.action_space)
    if kind == "optimal":
        if task.mdp is None:
            raise ConfigError("expert", f"{task.name} is not a decision simulator, so it has no exact optimal policy",
                              "use zoo, onnx:PATH, scripted or human")
        return OptimalExpert(task.mdp)
    if kind == "scripted":
        if task.classic is None:
            raise ConfigError("expert", f"{task.name} has no scripted controller", "use zoo, onnx:PATH or human")
        from tether.envs.classic import CLASSIC_TASKS

        return CallableExpert(CLASSIC_TASKS[task.classic].expert, source=f"scripted:{task.classic}")
    if kind == "human":
        return HumanExpert(arg or "person")
    raise ConfigError("expert", f"unknown expert {spec!r}",
                      "use zoo[:LEVEL], onnx:PATH, optimal (decision simulators), scripted (classic control) or "
                      "human[:NAME]")


def checked_labels(actions: Any, n_rows: int, space: ActionSpace, source: str) -> np.ndarray:
    """`actions` as stored labels (`[N]` int64 or `[N, k]` float32), or a `DatasetError` naming the first bad row."""
    values = np.asarray(actions)
    if space.is_discrete:
        if values.shape != (n_rows,):
            raise DatasetError("expert", f"{source} returned actions of shape {values.shape}, expected ({n_rows},)",
                               "return one action id per observation")
        if values.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
            if len(bad):
                raise DatasetError("expert", f"{source} returned {values[bad[0]].item()!r}, not an action id",
                                   "return whole action ids", where=f"row {bad[0]}")
        elif values.dtype.kind not in "iu":
            raise DatasetError("expert", f"{source} returned {values.dtype} actions", "return integer action ids")
        ids = values.astype(np.int64)
        bad = np.flatnonzero((ids < 0) | (ids >= space.n_actions))
        if len(bad):
            raise DatasetError("expert", f"{source} returned action {ids[bad[0]]}, outside 0..{space.n_actions - 1}",
                               "return ids of the task's actions", where=f"row {bad[0]}")
        return ids
    low, high = space.bounds
    if values.shape != (n_rows, len(low)):
        raise DatasetError("expert", f"{source} returned actions of shape {values.shape}, "
                           f"expected ({n_rows}, {len(low)})", "return one action vector per observation")
    if values.dtype.kind not in "fiu":
        raise DatasetError("expert", f"{source} returned {values.dtype} actions", "return numeric actions")
    values = values.astype(np.float32)
    bad_rows = np.flatnonzero(~np.isfinite(values).all(1))
    if len(bad_rows):
        raise DatasetError("expert", f"{source} returned a non-finite action {values[bad_rows[0]].tolist()}",
                           "return finite actions", where=f"row {bad_rows[0]}")
    tolerance = 1e-4 * (1.0 + np.abs(high - low))
    outside = np.flatnonzero(((values < low - tolerance) | (values > high + tolerance)).any(1))
    if len(outside):
        raise DatasetError("expert", f"{source} returned {values[outside[0]].tolist()}, outside the action bounds "
                           f"[{low.tolist()}, {high.tolist()}]", "return actions within the task's bounds",
                           where=f"row {outside[0]}")
    return np.clip(values, low, high)


def expert_demonstrations(task: InteractiveTask, expert: Expert, episodes: int, seed: int = 0) -> LoggedDataset:
    """`episodes` episodes of `expert` acting in `task` as a `LoggedDataset` (terminations and time limits kept
    apart; the successor of every step recorded)."""
    if not expert.synchronous:
        raise ConfigError("expert", f"{expert.source} answers later, so it cannot act in demonstrations",
                          "pass recorded demonstrations (--demos) or an expert that answers at once")
    space = task.action_space
    columns: dict[str, list[Any]] = {k: [] for k in ("obs", "act", "reward", "term", "trunc", "next")}
    starts = []
    for episode in range(episodes):
        env = task.make_env()
        try:
            obs, info = env.reset(seed=seed * 1_000_003 + episode)
            starts.append(len(columns["obs"]))
            done = False
            while not done:
                observation = observation_array(obs)
                action = checked_labels(expert.label(observation[None], [dict(info)]), 1, space, expert.source)[0]
                obs, reward, terminated, truncated, info = env.step(int(action) if space.is_discrete else action)
                for name, value in zip(columns, (observation, action, float(reward), bool(terminated),
                                                 bool(truncated), observation_array(obs)), strict=True):
                    columns[name].append(value)
                done = bool(terminated or truncated)
        finally:
            env.close()
    return LoggedDataset(observations=np.stack(columns["obs"]), actions=np.asarray(columns["act"]),
                         rewards=np.asarray(columns["reward"], np.float32),
                         terminations=np.asarray(columns["term"], bool), truncations=np.asarray(columns["trunc"], bool),
                         episode_starts=np.asarray(starts, np.int64), action_space=space,
                         next_observations=np.stack(columns["next"]),
                         metadata={"source": f"{expert.source} demonstrations in {task.name}"})
