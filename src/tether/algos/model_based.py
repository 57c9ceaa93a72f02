"""What MOPO and MOReL share: a dynamics ensemble fitted to the logs before the policy trains, imagined
rollouts from logged states into a buffer on the device, and SAC with N critics on a mix of logged and
imagined transitions. Each algorithm adds only how it keeps the policy pessimistic where the model is
unsure (a reward penalty, or a HALT state).

- `prepare` (the engine calls it once, before the first update) fits the ensemble on the learner's
  scaled data (`tether.dynamics.fit_dynamics`: whole episodes held out, elites chosen there) and
  stores it in every seed's state; the seeds share one model. The fitted model is also written to
  `run_dir/dynamics.tether` (with its report in `dynamics.json`) and reused from there, so a run
  killed after the model trained does not train it again.
- Every update rolls the current policy out for `rollout_horizon` steps from `rollout_batch_size`
  logged states of its batch, in the model (`lax.scan`, a random elite per row and step), and writes
  the imagined transitions into a ring buffer in the state; rows stop at a termination (the task's
  known rule or the learned classifier). MOPO's code regenerates 50,000 rollouts every 1,000 updates;
  50 per update is the same rate with fresher policies and no host loop.
- SAC then steps on `real_ratio` logged and `1 - real_ratio` imagined transitions (MOPO: 5% / 95%).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization, struct
from flax.training.train_state import TrainState

from tether._types import Metrics, Params, PRNGKey
from tether.algos.base import Batch, DatasetSpec
from tether.algos.config import LearnerConfig
from tether.algos.model_file import read_model_file, write_model_file
from tether.dynamics import (
    DynamicsConfig,
    DynamicsData,
    DynamicsModel,
    DynamicsReport,
    ModelStep,
    fit_dynamics,
    init_dynamics,
    rule_for,
    sample_step,
)
from tether.errors import ConfigError, ModelFileError
from tether.nets import QEnsemble, TanhGaussianActor, sac
from tether.nets.sac import sample_actions, temperature_state

if TYPE_CHECKING:
    from tether.algos.engine import Scaling
    from tether.data import LoggedDataset

DYNAMICS_FILE = "dynamics.tether"
IMAGINED_OBSERVATION_BOUND = 10.0  # imagined states are clipped to 10 stds of the logged ones: no overflow


@dataclass(frozen=True, kw_only=True)
class ModelBasedConfig(LearnerConfig):
    """Hyperparameters MOPO and MOReL share (SAC: OfflineRL-Kit's MOPO defaults; model: MOPO's code).

    Args:
        actor_learning_rate, critic_learning_rate, temp_learning_rate: Adam rates of SAC (1e-4, 3e-4, 1e-4).
        tau: Polyak factor of the target critics.
        initial_temperature: SAC's entropy temperature at the start (tuned toward `-action_dim`).
        n_critics: critics in SAC's ensemble; the target is their minimum (2; SAC-N uses 10).
        hidden_dims: widths of actor and critic MLPs.
        rollout_horizon: imagined steps per rollout (MOPO searches 1 and 5).
        rollout_batch_size: logged states each update starts rollouts from (at most `batch_size`).
        real_ratio: share of logged transitions in each SAC batch (0.05).
        model_buffer_size: imagined transitions kept (the newest).
        model_members, model_elites, model_hidden_dims, model_learning_rate, model_weight_decay,
            model_batch_size, model_holdout_ratio, model_steps_per_check, model_max_steps,
            model_patience: the dynamics ensemble (`tether.dynamics.DynamicsConfig`, without the prefix).
    """

    actor_learning_rate: float = 1e-4
    critic_learning_rate: float = 3e-4
    temp_learning_rate: float = 1e-4
    tau: float = 0.005
    initial_temperature: float = 1.0
    n_critics: int = 2
    hidden_dims: tuple[int, ...] = (256, 256)
    rollout_horizon: int = 5
    rollout_batch_size: int = 50
    real_ratio: float = 0.05
    model_buffer_size: int = 250_000
    model_members: int = 7
    model_elites: int = 5
    model_hidden_dims: tuple[int, ...] = (200, 200, 200, 200)
    model_learning_rate: float = 1e-3
    model_weight_decay: float = 5e-5
    model_batch_size: int = 256
    model_holdout_ratio: float = 0.2
    model_steps_per_check: int = 1000
    model_max_steps: int = 50_000
    model_patience: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.rollout_batch_size <= self.batch_size:
            raise ConfigError("rollout_batch_size", f"must lie in 1..batch_size ({self.batch_size}), got "
                              f"{self.rollout_batch_size}", "start fewer rollouts per update, or raise batch_size")
        if self.rollout_horizon < 1:
            raise ConfigError("rollout_horizon", f"must be positive, got {self.rollout_horizon}", "use 1 to 5")
        if not 0.0 <= self.real_ratio < 1.0:
            raise ConfigError("real_ratio", f"must lie in [0, 1), got {self.real_ratio}", "use 0.05")
        if self.model_buffer_size < self.rollout_batch_size * self.rollout_horizon:
            raise ConfigError("model_buffer_size", f"{self.model_buffer_size} cannot hold one update's rollouts "
                              f"({self.rollout_batch_size} x {self.rollout_horizon})", "raise model_buffer_size")
        if self.n_critics < 1:
            raise ConfigError("n_critics", f"must be positive, got {self.n_critics}", "use 2 (or 10 for SAC-N)")
        self.dynamics_config()  # validates the model's fields

    def dynamics_config(self) -> DynamicsConfig:
        """The ensemble's own config from the `model_` fields."""
        return DynamicsConfig(n_members=self.model_members, n_elites=self.model_elites,
                              hidden_dims=tuple(self.model_hidden_dims), learning_rate=self.model_learning_rate,
                              weight_decay=self.model_weight_decay, batch_size=self.model_batch_size,
                              holdout_ratio=self.model_holdout_ratio, steps_per_check=self.model_steps_per_check,
                              max_steps=self.model_max_steps, patience=self.model_patience)


class ModelBuffer(struct.PyTreeNode):
    """A ring buffer of imagined transitions in the learner's units; `filled` rows are valid."""

    observations: jax.Array  # [size, obs_dim]
    actions: jax.Array  # [size, action_dim]
    rewards: jax.Array  # [size], already pessimistic
    next_observations: jax.Array  # [size, obs_dim]
    terminations: jax.Array  # [size]
    position: jax.Array  # int32, where the next row goes
    filled: jax.Array  # int32


class ModelBasedState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    log_temp: TrainState
    target_critic_params: Params
    dynamics: DynamicsModel
    buffer: ModelBuffer
    step: jax.Array


def init_fields(config: ModelBasedConfig, spec: DatasetSpec, key: PRNGKey) -> dict[str, Any]:
    """The fields of `ModelBasedState` for a fresh learner (the dynamics untrained until `prepare`)."""
    if spec.discrete_actions is not None:
        raise ConfigError("actions", f"{config.get_type()} learns continuous actions: its model rolls out a "
                          "tanh-Gaussian policy", "use discrete_cql or discrete_bcq for discrete actions")
    actor_key, critic_key, model_key = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, spec.observation_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = TanhGaussianActor(config.hidden_dims, spec.action_dim, weight_init="torch")
    critic_net = QEnsemble(config.hidden_dims, config.n_critics, weight_init="torch")
    critic_params = critic_net.init(critic_key, obs, act)["params"]
    size = config.model_buffer_size
    buffer = ModelBuffer(jnp.zeros((size, spec.observation_dim)), jnp.zeros((size, spec.action_dim)), jnp.zeros(size),
                         jnp.zeros((size, spec.observation_dim)), jnp.zeros(size), jnp.int32(0), jnp.int32(0))
    return {"actor": TrainState.create(apply_fn=actor_net.apply, params=actor_net.init(actor_key, obs)["params"],
                                       tx=optax.adam(config.actor_learning_rate)),
            "critic": TrainState.create(apply_fn=critic_net.apply, params=critic_params,
                                        tx=optax.adam(config.critic_learning_rate)),
            "log_temp": temperature_state(config.initial_temperature, config.temp_learning_rate),
            "target_critic_params": jax.tree.map(jnp.copy, critic_params),
            "dynamics": init_dynamics(model_key, spec.observation_dim, spec.action_dim, config.model_members,
                                      config.model_elites, config.model_hidden_dims),
            "buffer": buffer, "step": jnp.int32(0)}


# ---------------------------------------------------------------------------- the model, before training
def dynamics_data(dataset: LoggedDataset, scaling: Scaling) -> DynamicsData:
    """`dataset`'s transitions in the learner's units (standardised observations, actions in [-1, 1],
    scaled rewards), with which successors are known."""
    tr = dataset.transitions()
    has_successor = np.ones(len(tr.rewards), bool) if dataset.next_observations is not None else tr.terminations < 0.5
    return DynamicsData(scaling.observations(tr.observations), scaling.actions_to_unit(tr.actions),
                        (tr.rewards * scaling.reward_scale).astype(np.float32),
                        scaling.observations(tr.next_observations), tr.terminations, has_successor, tr.episode_ids)


def fitted_dynamics(template: DynamicsModel, dataset: LoggedDataset, data: DynamicsData, scaling: Scaling,
                    config: ModelBasedConfig, seed: int, run_dir: Path | None,
                    log: Callable[[str], None]) -> DynamicsModel:
    """The ensemble fitted to `data` (`dynamics_data(dataset, scaling)`), or the one `run_dir` already holds
    for the same data and config."""
    key = {"type": "dynamics", "config": config.dynamics_config().__dict__, "seed": seed,
           "fingerprint": dataset.fingerprint(), "scaling": scaling.to_json()}
    cached = None if run_dir is None else run_dir / DYNAMICS_FILE
    if cached is not None and cached.exists():
        try:
            payload = read_model_file(cached, "dynamics", "dynamics")
        except ModelFileError as err:
            log(f"not reusing {cached} ({err.problem}); training the dynamics model again")
        else:
            if json.loads(payload["config"]) == json.loads(json.dumps(key)):
                log(f"dynamics model: reusing {cached}")
                return serialization.from_state_dict(template, payload["state"])
    rule = rule_for(dataset.metadata.get("env_id"))
    model, report = fit_dynamics(data, config.dynamics_config(), seed=seed,
                                 observation_mean=scaling.observation_mean, observation_std=scaling.observation_std,
                                 reward_scale=scaling.reward_scale, termination=rule, log=log)
    log(describe(report, rule))
    if run_dir is not None and cached is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "dynamics.json").write_text(json.dumps(report.__dict__, indent=1))
        write_model_file(cached, "dynamics", "dynamics", {"config": json.dumps(key),
                                                          "state": serialization.to_state_dict(model)})
    return model


def describe(report: DynamicsReport, rule: int) -> str:
    """One line on how the ensemble trained."""
    from tether.dynamics.termination import RULE_NAMES

    return (f"dynamics model: {report.steps:,} updates ({'stopped early' if report.stopped_early else 'step limit'}), "
            f"held-out MSE {report.elite_mse:.4f} and NLL {report.elite_nll:.3f} per transition on "
            f"{report.holdout_episodes} held-out episodes (1.0 = predicting the mean); termination: "
            f"{RULE_NAMES[rule]}")


def with_dynamics(state: Any, model: DynamicsModel) -> Any:
    """`state` (every leaf with a leading seed axis) holding `model` for every seed."""
    n_seeds = state.step.shape[0]
    return state.replace(dynamics=jax.tree.map(lambda x: jnp.broadcast_to(x, (n_seeds, *np.shape(x))), model))


# ---------------------------------------------------------------------------- imagined rollouts
Pessimism = Callable[[Any, ModelStep], tuple[jax.Array, jax.Array, Metrics]]


def write_rows(buffer: ModelBuffer, keep: jax.Array, observations: jax.Array, actions: jax.Array, rewards: jax.Array,
               next_observations: jax.Array, terminations: jax.Array) -> ModelBuffer:
    """`buffer` with the rows where `keep` appended (the oldest overwritten once full)."""
    size = buffer.rewards.shape[0]
    offsets = jnp.cumsum(keep) - 1
    index = jnp.where(keep, (buffer.position + offsets) % size, size)  # `size` is out of bounds: dropped
    put = lambda target, rows: target.at[index].set(rows.astype(target.dtype), mode="drop")  # noqa: E731
    count = jnp.sum(keep).astype(jnp.int32)
    return buffer.replace(observations=put(buffer.observations, observations), actions=put(buffer.actions, actions),
                          rewards=put(buffer.rewards, rewards),
                          next_observations=put(buffer.next_observations, next_observations),
                          terminations=put(buffer.terminations, terminations),
                          position=(buffer.position + count) % size, filled=jnp.minimum(buffer.filled + count, size))


def rollout(state: Any, starts: jax.Array, key: PRNGKey, horizon: int, pessimism: Pessimism):
    """Roll the current policy out in the model from `starts [rows, obs_dim]`; returns `(buffer, metrics)`."""

    def body(carry, step_key):
        observations, alive, buffer = carry
        action_key, model_key = jax.random.split(step_key)
        actions, _ = sample_actions(state, state.actor.params, observations, action_key)
        step = sample_step(state.dynamics, observations, actions, model_key)
        next_observations = jnp.clip(step.next_observations, -IMAGINED_OBSERVATION_BOUND, IMAGINED_OBSERVATION_BOUND)
        rewards, done, metrics = pessimism(state, step)
        buffer = write_rows(buffer, alive, observations, actions, rewards, next_observations, done)
        weight = alive / jnp.maximum(jnp.sum(alive), 1.0)
        metrics = {name: jnp.sum(weight * value) for name, value in
                   {**metrics, "model_reward": step.rewards, "model_uncertainty": step.aleatoric}.items()}
        return (next_observations, alive & ~done, buffer), {**metrics, "rollout_alive": jnp.mean(alive)}

    alive = jnp.ones(starts.shape[0], bool)
    (_, _, buffer), metrics = jax.lax.scan(body, (starts, alive, state.buffer), jax.random.split(key, horizon))
    return buffer, jax.tree.map(jnp.mean, metrics)


def mixed_batch(batch: Batch, buffer: ModelBuffer, key: PRNGKey, n_real: int) -> Batch:
    """The first `n_real` logged rows of `batch` and imagined rows drawn from `buffer` to fill the rest."""
    n_model = batch.rewards.shape[0] - n_real
    index = jax.random.randint(key, (n_model,), 0, jnp.maximum(buffer.filled, 1))
    join = lambda real, imagined: jnp.concatenate([real[:n_real], imagined[index].astype(real.dtype)])  # noqa: E731
    return Batch(join(batch.observations, buffer.observations), join(batch.actions, buffer.actions),
                 join(batch.rewards, buffer.rewards), join(batch.next_observations, buffer.next_observations),
                 join(batch.terminations, buffer.terminations))


# ---------------------------------------------------------------------------- SAC on the mix
def update(state: Any, batch: Batch, key: PRNGKey, *, config: ModelBasedConfig,
           pessimism: Pessimism) -> tuple[Any, Metrics]:
    """Imagine, then one SAC step on the mixed batch; `pessimism` turns a model step into rewards and ends."""
    rollout_key, sample_key, sac_key = jax.random.split(key, 3)
    buffer, rollout_metrics = rollout(state, batch.observations[:config.rollout_batch_size], rollout_key,
                                      config.rollout_horizon, pessimism)
    state = state.replace(buffer=buffer)
    mixed = mixed_batch(batch, buffer, sample_key, int(round(config.real_ratio * config.batch_size)))
    state, sac_metrics = sac.update(state, mixed, sac_key, gamma=config.gamma, tau=config.tau)
    return state, {**sac_metrics, **rollout_metrics}
