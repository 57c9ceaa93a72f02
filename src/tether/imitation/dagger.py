"""The DAgger loop: roll the policy out, ask the expert about the states it reached, aggregate, fit again.

    result = train_dagger(DiscreteDAggerConfig(rounds=5), "tightrope", OptimalExpert(tightrope()), run_dir="runs/d")
    result.learner.predict(observations)

Round 0 is the expert's demonstrations (given, or `demo_episodes` expert rollouts; a person labels
the states of random rollouts instead). Round `r >= 1` rolls out `episodes_per_round` episodes of the
policy fitted on rounds `0..r-1` (the expert acts at a step with probability `beta ** r` when it can
answer at once), queues the visited states (all, or only those where the policy ensemble is unsure,
within `label_budget`), has the expert label them, and adds them to the aggregate. The run directory
keeps everything a resumed run needs, each file written atomically:

    dagger.json                 the run (id, task, expert, config, seed) and one record per finished round
    rounds/<r>/queue.*          the round's queued states; labels.json, its labels; frames/ for a person
    rounds/<r>/data.npz         the round's labelled rows (provenance per row: round, source, labeller)
    rounds/<r>/policy.tether    the policy fitted on rounds 0..r
    dataset.npz, policy.tether  the aggregate and the latest policy

A run killed at any point continues from its last file, to the same result: rollouts are seeded by
(seed, round) and each round's policy is a fresh fit of its data and seeds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from tether._atomic import write_atomically
from tether.algos import discrete_bc
from tether.algos.dagger import DAggerConfig, DiscreteDAggerConfig
from tether.algos.engine import Learner
from tether.algos.registry import load_learner
from tether.data import LoggedDataset
from tether.data.npz import read_npz, write_npz
from tether.errors import ConfigError, DatasetError
from tether.imitation.experts import Expert, checked_labels
from tether.imitation.queue import LabelQueue
from tether.imitation.tasks import InteractiveTask, observation_array, resolve_task

RUN_FILE = "dagger.json"
AnyDAggerConfig = DAggerConfig | DiscreteDAggerConfig


@dataclass(frozen=True)
class RoundRecord:
    """What one round did.

    Attributes:
        round: 0 for the demonstrations, then 1, 2, ...
        beta: the chance the expert acted at a step.
        episodes: episodes rolled out (0 when demonstrations were given).
        visited: states those episodes visited.
        queried: states sent to the expert (labels spent this round).
        labels: labelled rows in the aggregate after this round.
        return_mean, return_std: return of this round's rollouts (the policy's own when beta is 0).
        wall_s: seconds the round took (rollout, labels, fit).
    """

    round: int
    beta: float
    episodes: int
    visited: int
    queried: int
    labels: int
    return_mean: float | None
    return_std: float | None
    wall_s: float


@dataclass
class DAggerResult:
    """The outcome of `train_dagger`: the latest policy, the aggregate and the rounds, or how many labels
    a person still owes (`pending > 0`: run again, with the same arguments, once they are given)."""

    learner: Learner | None
    dataset: LoggedDataset | None
    rounds: list[RoundRecord]
    run_dir: Path
    pending: int = 0

    @property
    def labels(self) -> int:
        return self.rounds[-1].labels if self.rounds else 0

    @property
    def finished(self) -> bool:
        return self.pending == 0


# ---------------------------------------------------------------------- the run file
def _open_run(run_dir: Path, config: AnyDAggerConfig, task: InteractiveTask, expert: Expert, seed: int,
              demonstrations: LoggedDataset | None) -> dict[str, Any]:
    identity = {"task": task.name, "expert": expert.source, "config": config.to_json(), "seed": seed,
                "demonstrations": demonstrations.fingerprint() if demonstrations is not None else None}
    path = run_dir / RUN_FILE
    if path.is_file():
        run = json.loads(path.read_text())
        for key, value in identity.items():
            if run.get(key) != value:
                raise ConfigError("run_dir", f"{run_dir} holds a DAgger run with another {key} "
                                  f"({str(run.get(key))[:80]} vs {str(value)[:80]})",
                                  "resume with the same settings, or choose a new run directory")
        return run
    run = {"run_id": uuid.uuid4().hex[:12], **identity, "rounds": []}
    write_atomically(path, json.dumps(run, indent=1))
    return run


def _save_run(run_dir: Path, run: dict[str, Any]) -> None:
    write_atomically(run_dir / RUN_FILE, json.dumps(run, indent=1))


def round_dir(run_dir: Path, round: int) -> Path:
    return Path(run_dir) / "rounds" / f"{round:03d}"


def current_queue(run_dir: str | Path) -> LabelQueue | None:
    """The latest round's queue when it still waits for labels, else None."""
    rounds = sorted((Path(run_dir) / "rounds").glob("[0-9][0-9][0-9]"))
    for directory in reversed(rounds):
        if LabelQueue.exists(directory):
            queue = LabelQueue.load(directory)
            return None if queue.complete else queue
    return None


# ---------------------------------------------------------------------- the policy while it acts
Policy = Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


def acting_policy(learner: Learner, task: InteractiveTask) -> Policy:
    """`(observations, masks) -> (actions of the first seed's policy, the ensemble's uncertainty)` per row:
    the entropy of the seeds' mean distribution (discrete), or the mean over action dimensions of the
    seeds' action std in half-ranges of the bounds (continuous)."""
    scaling = learner._require_built()[1]
    if task.action_space.is_discrete:
        probabilities = jax.jit(jax.vmap(discrete_bc.action_probabilities, in_axes=(0, None)))

        def discrete(observations: np.ndarray, masks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            probs = np.asarray(probabilities(learner.state, jnp.asarray(scaling.observations(observations))))
            if masks is not None:
                probs = np.where(masks[None], probs, 0.0)
                probs = probs / np.maximum(probs.sum(-1, keepdims=True), 1e-12)
            mean = probs.mean(0)
            return probs[0].argmax(-1), -(mean * np.log(np.maximum(mean, 1e-12))).sum(-1)
        return discrete
    half_range = _half_range(task)

    def continuous(observations: np.ndarray, masks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        actions = np.asarray(learner.predict(observations)).reshape(learner.n_seeds, len(observations), -1)
        return actions[0], (actions.std(0) / half_range).mean(-1)
    return continuous


def _half_range(task: InteractiveTask) -> np.ndarray:
    low, high = task.action_space.bounds
    return np.maximum((high - low) / 2.0, 1e-8)


# ---------------------------------------------------------------------- one round's rollouts
@dataclass
class _Rollout:
    observations: list[np.ndarray]
    episodes: list[int]
    steps: list[int]
    infos: list[dict[str, Any]]
    labels: list[Any]  # the expert's action per queued row (experts that answer at once), else None
    frames: list[np.ndarray]
    visited: int
    returns: list[float]


def _rollout(task: InteractiveTask, expert: Expert, config: AnyDAggerConfig, policy: Policy | None, *, round: int,
             seed: int, episodes: int, beta: float, budget: float, frames: bool) -> _Rollout:
    """Roll `episodes` episodes in lockstep and queue the states to label (at most `budget`). The policy acts,
    the expert instead with probability `beta` (when it answers at once); without a policy, in round 0, the
    expert acts, or a uniform choice when the expert is a person. Round 0 stops when the budget runs out."""
    space = task.action_space
    envs, frames = _rollout_envs(task, episodes, frames)
    rng = np.random.default_rng([seed, round])
    out = _Rollout([], [], [], [], [], [], 0, [])
    observations: list[np.ndarray] = []
    infos: list[dict[str, Any]] = []
    for e, env in enumerate(envs):
        obs, info = env.reset(seed=seed * 1_000_003 + round * 1_000 + e)
        observations.append(observation_array(obs))
        infos.append(dict(info))
    returns, steps = np.zeros(episodes), np.zeros(episodes, np.int64)
    active, left = list(range(episodes)), budget
    try:
        while active and (policy is not None or left > 0):
            obs = np.stack([observations[e] for e in active])
            step_infos = [infos[e] for e in active]
            masks = (np.stack([info["action_mask"] for info in step_infos])
                     if space.is_discrete and all("action_mask" in info for info in step_infos) else None)
            n = len(active)
            acted, wanted = None, np.ones(n, bool)
            if policy is not None:
                acted, uncertainty = policy(obs, masks)
                if config.query == "uncertain":
                    wanted = uncertainty > config.query_threshold
            by_expert = rng.random(n) < beta if expert.synchronous else np.zeros(n, bool)
            ask = wanted | by_expert
            if ask.sum() > left:  # keep the first rows the budget allows; the expert acts only where asked
                ask[np.flatnonzero(ask)[int(left):]] = False
                by_expert &= ask
            left -= int(ask.sum())
            label_of: dict[int, Any] = {}
            if expert.synchronous and ask.any():
                rows = np.flatnonzero(ask)
                answers = checked_labels(expert.label(obs[rows], [step_infos[i] for i in rows]), len(rows), space,
                                         expert.source)
                label_of = dict(zip(rows.tolist(), answers, strict=True))
            fallback = _uniform(space, masks, n, rng) if acted is None else acted
            for i, e in enumerate(active):
                if ask[i]:
                    out.observations.append(obs[i])
                    out.episodes.append(e)
                    out.steps.append(int(steps[e]))
                    out.infos.append(step_infos[i])
                    out.labels.append(label_of.get(i))
                    if frames:
                        out.frames.append(np.asarray(envs[e].render()))
            out.visited += n
            still = []
            for i, e in enumerate(active):
                action = label_of[i] if by_expert[i] else fallback[i]
                nxt, reward, terminated, truncated, info = envs[e].step(
                    int(action) if space.is_discrete else np.asarray(action, np.float32))
                returns[e] += float(reward)
                steps[e] += 1
                observations[e], infos[e] = observation_array(nxt), dict(info)
                if not (terminated or truncated):
                    still.append(e)
            active = still
    finally:
        for env in envs:
            env.close()
    out.returns = returns.tolist()
    return out


def _rollout_envs(task: InteractiveTask, episodes: int, frames: bool) -> tuple[list[gym.Env], bool]:
    """The rollout's environments, rendering RGB frames when asked and possible (on a machine without a
    display MuJoCo renders through EGL); without frames, with a warning, when rendering fails."""
    if frames:
        if not os.environ.get("DISPLAY") and not os.environ.get("MUJOCO_GL"):
            os.environ["MUJOCO_GL"] = "egl"  # headless: GLFW needs a display
        try:
            envs = [task.make_env(render_mode="rgb_array") for _ in range(episodes)]
            envs[0].reset(seed=0)
            if np.asarray(envs[0].render()).ndim != 3:
                raise ValueError("render() returned no RGB image")
            return envs, True
        except Exception as err:  # a renderer's failure is the machine's, not the run's: go on without frames
            warnings.warn(f"frames: {task.name} cannot render here ({str(err)[:120]}); the labelling page shows "
                          "the observation fields only (set MUJOCO_GL=egl or osmesa for MuJoCo tasks)", stacklevel=3)
    return [task.make_env() for _ in range(episodes)], False


def _uniform(space, masks: np.ndarray | None, n: int, rng: np.random.Generator) -> np.ndarray:
    if space.is_discrete:
        allowed = masks if masks is not None else np.ones((n, space.n_actions), bool)
        return np.array([rng.choice(np.flatnonzero(row)) for row in allowed], np.int64)
    low, high = space.bounds
    return rng.uniform(low, high, (n, len(low))).astype(np.float32)


# ---------------------------------------------------------------------- rounds on disk
def _write_queue(directory: Path, run: dict[str, Any], round: int, task: InteractiveTask, rollout: _Rollout,
                 expert: Expert) -> LabelQueue:
    """Queue the rollout's states, grouped by episode in step order, with the labels already given."""
    order = np.lexsort((np.asarray(rollout.steps), np.asarray(rollout.episodes)))
    observations = np.asarray(rollout.observations, np.float32).reshape(len(order), len(task.observation_names))[order]
    describe = task.describe
    queue = LabelQueue.create(
        directory, run_id=run["run_id"], round=round, observations=observations,
        episodes=np.asarray(rollout.episodes, np.int64)[order], steps=np.asarray(rollout.steps, np.int64)[order],
        action_space=task.action_space, observation_names=task.observation_names, action_names=task.action_names,
        descriptions=[describe(rollout.infos[i]) for i in order] if describe is not None else None,
        frames=[rollout.frames[i] for i in order] if rollout.frames else None)
    given = [int(k) for k, i in enumerate(order) if rollout.labels[i] is not None]
    if given:
        queue.add_labels(given, np.stack([rollout.labels[order[k]] for k in given]), source=expert.source,
                         labeller=expert.source)
    returns = np.asarray(rollout.returns)
    write_atomically(directory / "rollout.json", json.dumps({
        "episodes": len(returns), "visited": rollout.visited, "queried": queue.n_rows,
        "return_mean": float(returns.mean()) if len(returns) else None,
        "return_std": float(returns.std()) if len(returns) else None}))
    return queue


def _round_data(queue: LabelQueue, task: InteractiveTask) -> LoggedDataset:
    """The round's labelled rows as a dataset: each rollout episode's queued states in step order, the
    expert's action, no rewards (labels only), and per-row provenance in `extras`."""
    actions, sources, labellers = queue.labelled_actions()
    ends = np.r_[queue.episodes[1:] != queue.episodes[:-1], True]
    return LoggedDataset.from_episode_ids(
        queue.episodes, observations=queue.observations, actions=actions,
        rewards=np.zeros(queue.n_rows, np.float32), terminations=np.zeros(queue.n_rows, bool), truncations=ends,
        action_space=task.action_space,
        extras={"dagger_round": np.full(queue.n_rows, queue.round, np.int64), "label_source": np.asarray(sources),
                "labeller": np.asarray(labellers)},
        metadata={"source": f"tether dagger on {task.name}", "rewards": "not logged: DAgger rows are labels",
                  "run_id": queue.run_id})


def _demonstration_data(demonstrations: LoggedDataset, task: InteractiveTask) -> LoggedDataset:
    if demonstrations.action_space.kind != task.action_space.kind or (
            demonstrations.action_space.action_dim != task.action_space.action_dim):
        raise DatasetError("demonstrations", f"their actions ({demonstrations.action_space.to_json()}) do not match "
                           f"{task.name}'s ({task.action_space.to_json()})", "pass demonstrations of this task")
    if demonstrations.observation_dim != len(task.observation_names):
        raise DatasetError("demonstrations", f"their observations have {demonstrations.observation_dim} fields, "
                           f"{task.name}'s have {len(task.observation_names)}", "pass demonstrations of this task")
    n = demonstrations.n_steps
    name = str(demonstrations.metadata.get("name") or demonstrations.metadata.get("source") or "demonstrations")
    return LoggedDataset(
        observations=demonstrations.observations, actions=demonstrations.actions, rewards=demonstrations.rewards,
        terminations=demonstrations.terminations, truncations=demonstrations.truncations,
        episode_starts=demonstrations.episode_starts, action_space=task.action_space,
        extras={"dagger_round": np.zeros(n, np.int64), "label_source": np.full(n, "demonstrations"),
                "labeller": np.full(n, name)},
        metadata={"source": name})


# ---------------------------------------------------------------------- the loop
def train_dagger(config: AnyDAggerConfig, task: InteractiveTask | str, expert: Expert, run_dir: str | Path, *,
                 demonstrations: LoggedDataset | None = None, seed: int = 0, device: str | bool | None = False,
                 wait: bool = False, poll_s: float = 1.0, show_progress: bool = True) -> DAggerResult:
    """Run (or resume) DAgger in `run_dir`; see the module docstring.

    Args:
        config: a `DAggerConfig` (continuous actions) or `DiscreteDAggerConfig`.
        task: an `InteractiveTask` or a name `resolve_task` knows.
        expert: who labels (`tether.imitation.experts`).
        run_dir: where the run lives; an existing run there resumes (same settings required).
        demonstrations: round 0's data; else `demo_episodes` expert rollouts (random ones for a person).
        seed: seeds rollouts and the policies (the ensemble uses `seed .. seed + ensemble_size - 1`).
        wait: when a person owes labels, wait for them (polling every `poll_s` seconds) instead of returning.

    Raises:
        ConfigError: the run directory holds another run, or the config does not fit the task.
        DatasetError: the expert's answers or the demonstrations are invalid (nothing stored is lost).
    """
    task = resolve_task(task) if isinstance(task, str) else task
    discrete = isinstance(config, DiscreteDAggerConfig)
    if discrete != task.action_space.is_discrete:
        raise ConfigError("config", f"{type(config).__name__} does not fit {task.name}'s "
                          f"{task.action_space.kind} actions",
                          f"use {'DiscreteDAggerConfig' if task.action_space.is_discrete else 'DAggerConfig'}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = _open_run(run_dir, config, task, expert, seed, demonstrations)
    say = (lambda message: print(message, flush=True)) if show_progress else (lambda _: None)
    seeds = [seed + i for i in range(config.ensemble_size)]
    datasets: list[LoggedDataset] = []
    learner: Learner | None = None
    records = [RoundRecord(**r) for r in run["rounds"]]
    for round in range(config.rounds + 1):
        started = time.perf_counter()
        directory = round_dir(run_dir, round)
        data_path = directory / "data.npz"
        labels_so_far = sum(d.n_steps for d in datasets)
        data: LoggedDataset | None
        if data_path.is_file():
            data = read_npz(data_path)
        elif round == 0 and demonstrations is not None:
            data = _demonstration_data(demonstrations, task)
            write_npz(data, data_path)
        else:
            budget = np.inf if config.label_budget is None else config.label_budget - labels_so_far
            if not LabelQueue.exists(directory):
                policy = acting_policy(learner, task) if learner is not None else None
                beta = 1.0 if round == 0 else config.beta**round
                rollout = _rollout(task, expert, config, policy, round=round, seed=seed,
                                   episodes=config.demo_episodes if round == 0 else config.episodes_per_round,
                                   beta=beta, budget=budget, frames=not expert.synchronous and task.renders)
                _write_queue(directory, run, round, task, rollout, expert)
            queue = LabelQueue.load(directory)
            if not queue.complete and expert.synchronous:  # a run killed between its rollout and its labels
                rows = queue.pending()
                queue.add_labels(rows, expert.label(queue.observations[rows], [{} for _ in rows]),
                                 source=expert.source, labeller=expert.source)
            if not queue.complete:
                pending = len(queue.pending())
                say(f"round {round}: {pending} state(s) await labels; label them with "
                    f"`tether dagger label --run-dir {run_dir}` (or export and import a file)")
                if not wait:
                    return DAggerResult(learner, _aggregate(datasets), records, run_dir, pending)
                while not queue.complete:
                    time.sleep(poll_s)
            data = _round_data(queue, task) if queue.n_rows else None
            if data is not None:
                write_npz(data, data_path)
        if data is not None:
            datasets.append(data)
        policy_path = directory / "policy.tether"
        if policy_path.is_file():
            learner = load_learner(policy_path, device=device, algorithm=config.get_type())
        elif data is None and learner is not None:  # nothing new to learn from: the same fit again
            learner.save(policy_path)
        else:
            aggregate = _aggregate(datasets)
            if aggregate is None:
                raise DatasetError("labels", f"round {round} ended without one labelled state",
                                   "give demonstrations, or more demo_episodes and label_budget")
            learner = config.create(device=device)
            learner.fit(aggregate, n_steps=config.steps_per_round, n_steps_per_epoch=config.steps_per_round,
                        seeds=seeds, show_progress=False)
            learner.save(policy_path)
        if len(records) <= round:
            rollout_file = directory / "rollout.json"
            n_new = data.n_steps if data is not None else 0
            facts: dict[str, Any] = json.loads(rollout_file.read_text()) if rollout_file.is_file() else {
                "episodes": 0, "visited": n_new, "queried": n_new, "return_mean": None, "return_std": None}
            records.append(RoundRecord(round, 1.0 if round == 0 else config.beta**round, facts["episodes"],
                                       facts["visited"], facts["queried"], labels_so_far + n_new,
                                       facts["return_mean"], facts["return_std"], time.perf_counter() - started))
            run["rounds"] = [asdict(r) for r in records]
            _save_run(run_dir, run)
            last = records[-1]
            shown = f", rollout return {last.return_mean:.2f}" if last.return_mean is not None else ""
            say(f"round {round}: {last.queried} label(s) of {last.visited} visited state(s), "
                f"{last.labels} in all{shown}")
        if config.label_budget is not None and sum(d.n_steps for d in datasets) >= config.label_budget:
            say(f"label budget of {config.label_budget} spent after round {round}")
            break
    aggregate = _aggregate(datasets)
    assert learner is not None and aggregate is not None
    write_npz(aggregate, run_dir / "dataset.npz")
    shutil.copyfile(policy_path, run_dir / ".policy.tether.tmp")
    (run_dir / ".policy.tether.tmp").replace(run_dir / "policy.tether")
    return DAggerResult(learner, aggregate, records, run_dir)


def _aggregate(datasets: list[LoggedDataset]) -> LoggedDataset | None:
    if not datasets:
        return None
    return datasets[0] if len(datasets) == 1 else LoggedDataset.concatenate(datasets)
