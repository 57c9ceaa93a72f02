"""A GAIL or AIRL run: PPO against a learned reward, with checkpoints, resume, progress and TensorBoard.

Each method supplies an `Adversary` (its discriminator: the reward it gives PPO, its update on the
rollout PPO just collected, and its state for checkpoints); `run_adversarial` drives both. With a run
directory it writes `checkpoint.tether` every `checkpoint_every` PPO updates and at the end (checked
model files, msgpack, atomic: loading never runs code), `history.json`, and the greedy policy as
`policy.tether`. Started again on the same directory it resumes from the last checkpoint: the
learners' states, keys and sampling generator continue exactly; the environments start fresh episodes.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tether._atomic import write_atomically
from tether._progress import StageProgress
from tether.algos.engine import TrainingDivergedError
from tether.algos.model_file import read_model_file, write_model_file
from tether.algos.ppo import OnPolicyConfig
from tether.data import LoggedDataset
from tether.errors import ConfigError
from tether.imitation.ppo import PPO, PPOPolicy
from tether.imitation.tasks import InteractiveTask

CHECKPOINT = "checkpoint.tether"
CHECKPOINT_KIND = "adversarial-checkpoint"


class Adversary(Protocol):
    """A method's discriminator as the run sees it."""

    def reward(self, transitions: dict[str, np.ndarray]) -> np.ndarray:
        """PPO's reward for each row of a rollout's transitions."""
        ...

    def update(self, ppo: PPO, transitions: dict[str, np.ndarray]) -> dict[str, float]:
        """Train on the expert's and this rollout's transitions; the last minibatch's metrics
        (`disc_loss` among them)."""
        ...

    def checkpoint(self) -> dict[str, Any]:
        """`{"state": arrays..., "rng": JSON-able}`: what `restore` needs."""
        ...

    def restore(self, saved: dict[str, Any]) -> None:
        ...


def demonstrations_fingerprint(demonstrations: LoggedDataset) -> str:
    """SHA-256 of the demonstrations' arrays, so a run is never resumed on other data."""
    digest = hashlib.sha256()
    for array in (demonstrations.observations, demonstrations.actions, demonstrations.episode_starts):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _flat_scalars(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items() if isinstance(v, int | float) and k != "steps"}


def run_adversarial(config: OnPolicyConfig, task: InteractiveTask, demonstrations: LoggedDataset,
                    adversary: Adversary, seed: int, run_dir: str | Path | None = None, show_progress: bool = False,
                    tensorboard_dir: str | Path | None = None,
                    on_update: Callable[[dict[str, Any]], None] | None = None) -> tuple[PPO, list[dict[str, Any]]]:
    """Train PPO on `adversary`'s reward until `config.total_steps` environment steps (resuming `run_dir`'s
    checkpoint when there is one); returns the policy and one record per PPO update.

    Raises:
        ConfigError: `run_dir` holds a run of other settings, seed or demonstrations.
        TrainingDivergedError: the discriminator's loss became NaN or infinite (the last checkpoint stays).
    """
    name = config.get_type()
    ppo = PPO(config.ppo, task, seed, reward_fn=adversary.reward)
    history: list[dict[str, Any]] = []
    settings = config.to_json()  # a resumed run may go on longer, or checkpoint at another cadence
    settings["params"] = {k: v for k, v in settings["params"].items() if k not in ("total_steps", "checkpoint_every")}
    identity = {"config": settings, "seed": seed, "demonstrations": demonstrations_fingerprint(demonstrations),
                "task": task.name}
    directory = Path(run_dir) if run_dir is not None else None
    if directory is not None and (directory / CHECKPOINT).exists():
        saved = read_model_file(directory / CHECKPOINT, CHECKPOINT_KIND, name)
        held = json.loads(saved["identity"])
        for key in ("task", "config", "seed", "demonstrations"):
            if held.get(key) != identity[key]:
                raise ConfigError("run_dir", f"{directory} holds a {name} run with a different {key}",
                                  "pass the same settings and data to resume it, or choose a new --run-dir")
        ppo.restore({**saved["state"]["ppo"], **saved["ppo_progress"]})
        adversary.restore({"state": saved["state"]["adversary"], "rng": json.loads(saved["adversary_rng"])})
        history = json.loads(saved["history"])
    board = None
    if tensorboard_dir is not None:
        from tether.logging.tensorboard import TensorBoardWriter

        board = TensorBoardWriter(tensorboard_dir)
    warned = False

    def save_checkpoint() -> None:
        if directory is None:
            return
        progress = ppo.checkpoint()
        held = adversary.checkpoint()
        write_model_file(directory / CHECKPOINT, CHECKPOINT_KIND, name, {
            "config": json.dumps(config.to_json()), "identity": json.dumps(identity),
            "state": {"ppo": {"state": progress["state"]}, "adversary": held["state"]},
            "ppo_progress": {k: progress[k] for k in ("key", "steps_done", "episode_returns")},
            "adversary_rng": json.dumps(held["rng"]), "history": json.dumps(history)})
        write_atomically(directory / "history.json", json.dumps(history, indent=1))

    def after_update(learner: PPO, metrics: dict[str, Any]) -> None:
        nonlocal warned
        transitions = metrics.pop("transitions")
        record: dict[str, Any] = dict(adversary.update(learner, transitions))
        loss = record.get("disc_loss", 0.0)
        if not math.isfinite(loss):
            raise TrainingDivergedError(f"{name}'s discriminator loss became {loss} at step {learner.steps_done}: "
                                        "lower disc_learning_rate or raise gradient_penalty; the run directory "
                                        "keeps the last finite checkpoint to resume from")
        if loss < 1e-3 and not warned:
            warned = True
            warnings.warn(f"{name}'s discriminator loss collapsed to {loss:.2g} at step {learner.steps_done}: it "
                          "separates expert and policy perfectly and its reward no longer guides the policy; "
                          "raise gradient_penalty (GAIL) or lower disc_learning_rate", stacklevel=2)
        record.update(metrics, steps=learner.steps_done, env_return=learner.recent_return())
        history.append(record)
        if board is not None:
            board.scalars(learner.steps_done, _flat_scalars(record))
        progress.advance(learner.steps_done - progress.done,
                         f"return {record['env_return']:.1f}" if record["env_return"] is not None else "")
        if on_update is not None:
            on_update(record)
        if len(history) % config.checkpoint_every == 0:
            save_checkpoint()

    with StageProgress(f"{name} on {task.name}", config.total_steps, show_progress, initial=ppo.steps_done) as progress:
        ppo.learn(config.total_steps, after_update)
    if directory is not None:
        save_checkpoint()
        ppo.policy().save(directory / "policy.tether", name)
    return ppo, history


def load_policy(path: str | Path, algorithm: str | None = None) -> PPOPolicy:
    """The greedy policy a GAIL, AIRL or transfer run saved (`policy.tether`)."""
    return PPOPolicy.load(path, algorithm)
