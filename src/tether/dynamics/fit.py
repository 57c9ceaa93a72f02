"""Training the dynamics ensemble: Gaussian likelihood on 80% of the episodes, early stopping and elites
chosen on the other 20% (whole episodes, so held-out error measures generalisation to new episodes).

Each member draws its own minibatches (the bootstrap-like diversity MOPO's and OfflineRL-Kit's
ensembles rely on). Training runs in fused `lax.scan` chunks of `steps_per_check` updates; after each
chunk every member's held-out MSE is measured, each member keeps the weights of its best check, and
training stops once no member has improved by `min_improvement` (relative) for `patience` checks
(OfflineRL-Kit's rule) or after `max_steps`. The `n_elites` members with the lowest held-out MSE are
the elites that predict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tether._types import Params
from tether.dynamics.ensemble import DynamicsModel, init_dynamics, normalized_outputs, termination_logits
from tether.errors import ConfigError, DatasetError


@dataclass(frozen=True, kw_only=True)
class DynamicsConfig:
    """How the ensemble is built and trained (defaults: MOPO's code, App. G, and OfflineRL-Kit).

    Args:
        n_members: Gaussian MLPs in the ensemble (7).
        n_elites: members that predict, the best on held-out episodes (5).
        hidden_dims: widths of each member's Swish MLP (4 x 200).
        learning_rate: Adam's rate (1e-3).
        weight_decay: L2 penalty on every kernel (MOPO uses 2.5e-5 to 1e-4 by layer; one value here).
        batch_size: transitions per member per update.
        holdout_ratio: share of whole episodes held out for early stopping and elites (0.2).
        steps_per_check: updates between held-out checks.
        max_steps: updates at most.
        patience: checks without a relative improvement of `min_improvement` before stopping (5).
        min_improvement: the relative held-out MSE improvement that counts (0.01).
        log_std_bound_weight: weight of the penalty that keeps the learned log-std bounds close (0.01).
        max_holdout_rows: held-out transitions evaluated per check (a random subset when more).
    """

    n_members: int = 7
    n_elites: int = 5
    hidden_dims: tuple[int, ...] = (200, 200, 200, 200)
    learning_rate: float = 1e-3
    weight_decay: float = 5e-5
    batch_size: int = 256
    holdout_ratio: float = 0.2
    steps_per_check: int = 1000
    max_steps: int = 100_000
    patience: int = 5
    min_improvement: float = 0.01
    log_std_bound_weight: float = 0.01
    max_holdout_rows: int = 20_000

    def __post_init__(self) -> None:
        if not 1 <= self.n_elites <= self.n_members:
            raise ConfigError("model_elites", f"must lie in 1..model_members ({self.n_members}), got {self.n_elites}",
                              "use fewer elites than members")
        if not 0.0 < self.holdout_ratio < 1.0:
            raise ConfigError("model_holdout_ratio", f"must lie in (0, 1), got {self.holdout_ratio}", "use 0.2")
        for name in ("batch_size", "steps_per_check", "max_steps", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model_{name}", f"must be positive, got {getattr(self, name)}", "use 1 or more")


@dataclass(frozen=True)
class DynamicsReport:
    """How training went, in the units of the normalised targets (1.0 is the error of predicting the mean)."""

    steps: int
    stopped_early: bool
    holdout_mse: list[float]  # per member, at its best check
    holdout_nll: list[float]  # per member, Gaussian negative log-likelihood per transition at its best check
    elites: list[int]
    train_transitions: int
    holdout_transitions: int
    holdout_episodes: int
    termination_accuracy: float  # held-out accuracy of the learned termination classifier
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def elite_mse(self) -> float:
        """Mean held-out MSE of the elites."""
        return float(np.mean([self.holdout_mse[i] for i in self.elites]))

    @property
    def elite_nll(self) -> float:
        """Mean held-out NLL of the elites."""
        return float(np.mean([self.holdout_nll[i] for i in self.elites]))


@dataclass(frozen=True)
class DynamicsData:
    """Transitions to learn from, in the units the model will predict in.

    `has_successor` is False where `next_observations` is unknown (a terminal step of a log without
    next observations): such rows train the reward and termination, never the change in observation.
    """

    observations: np.ndarray  # [n, obs_dim]
    actions: np.ndarray  # [n, action_dim]
    rewards: np.ndarray  # [n]
    next_observations: np.ndarray  # [n, obs_dim]
    terminations: np.ndarray  # [n]
    has_successor: np.ndarray  # [n] bool
    episode_ids: np.ndarray  # [n]


def holdout_split(episode_ids: np.ndarray, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices `(train, held_out)`, holding out `ratio` of the whole episodes (at least one).

    Raises:
        DatasetError: fewer than two episodes, so no episode is left to hold out.
    """
    episodes = np.unique(episode_ids)
    if len(episodes) < 2:
        raise DatasetError("episodes", f"{len(episodes)} episode(s): the dynamics model holds out whole episodes "
                           "to stop training and choose its elites", "log at least 2 episodes (10 or more for a "
                           "trustworthy model), or split long episodes where the process truly restarts")
    n_held = min(max(1, int(round(ratio * len(episodes)))), len(episodes) - 1)
    held = np.random.default_rng(seed).permutation(episodes)[:n_held]
    is_held = np.isin(episode_ids, held)
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-6).astype(np.float32)


def fit_dynamics(data: DynamicsData, config: DynamicsConfig, *, seed: int = 0,
                 observation_mean: np.ndarray | None = None, observation_std: np.ndarray | None = None,
                 reward_scale: float = 1.0, termination: int = 0,
                 log: Callable[[str], None] = lambda _: None) -> tuple[DynamicsModel, DynamicsReport]:
    """Train an ensemble on `data` and return it with its report.

    `observation_mean`/`observation_std` map `data`'s observations back to logged units and
    `reward_scale` its rewards (identity when the data are logged units); `termination` is the rule
    (`tether.dynamics.termination`).

    Raises:
        DatasetError: fewer than two episodes, or too few transitions with a known successor.
        ConfigError: the held-out error became non-finite (names `model_learning_rate`).
    """
    train_rows, held_rows = holdout_split(data.episode_ids, config.holdout_ratio, seed)
    inputs = np.concatenate([data.observations, data.actions], axis=1).astype(np.float32)
    targets = np.concatenate([data.next_observations - data.observations, data.rewards[:, None]], axis=1)
    known = data.has_successor.astype(bool)
    if known[train_rows].sum() < 2 or known[held_rows].sum() < 1:
        raise DatasetError("next_observations", f"{int(known.sum())} transition(s) with a known successor: too few "
                           "to learn the dynamics from", "log more steps, or include next_observations")
    input_mean, input_std = _stats(inputs[train_rows])
    target_mean, target_std = _stats(targets[train_rows][known[train_rows]])
    obs_dim = data.observations.shape[1]
    model = init_dynamics(jax.random.PRNGKey(seed), obs_dim, inputs.shape[1] - obs_dim, config.n_members,
                          config.n_elites, config.hidden_dims)
    model = model.replace(
        input_mean=jnp.asarray(input_mean), input_std=jnp.asarray(input_std), target_mean=jnp.asarray(target_mean),
        target_std=jnp.asarray(target_std),
        observation_mean=jnp.asarray(observation_mean if observation_mean is not None else np.zeros(obs_dim),
                                     jnp.float32),
        observation_std=jnp.asarray(observation_std if observation_std is not None else np.ones(obs_dim), jnp.float32),
        reward_scale=jnp.float32(reward_scale), termination=jnp.int32(termination))
    device = {"x": (inputs - input_mean) / input_std, "y": (targets - target_mean) / target_std,
              "known": known.astype(np.float32), "done": data.terminations.astype(np.float32),
              "next": data.next_observations.astype(np.float32)}
    device = {k: jnp.asarray(v, jnp.float32) for k, v in device.items()}
    split = (len(train_rows), len(held_rows), len(np.unique(data.episode_ids[held_rows])))
    if len(held_rows) > config.max_holdout_rows:
        rng = np.random.default_rng(seed)
        held_rows = np.sort(rng.choice(held_rows, config.max_holdout_rows, replace=False))
    return _train(model, device, train_rows, held_rows, config, seed, log, split)


def _termination_terms(params, model: DynamicsModel, data: dict, rows: jax.Array):
    """The termination classifier's cross-entropy and accuracy on `rows` `[batch]`. Where the successor is
    unknown (a terminal step of a log without next observations) the step's own observation stands in for
    it, as `LoggedDataset.transitions` fills it: the last state seen before the end."""
    logit = termination_logits(params, model, data["next"][rows])
    done = data["done"][rows]
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logit, done)), jnp.mean((logit > 0) == (done > 0.5))


def _member_terms(params, model: DynamicsModel, data: dict, rows: jax.Array):
    """Per member `[members]`: Gaussian NLL and squared error, over known successors, per transition and summed
    over target dims, on `rows [members, batch]`."""
    mean, log_std = normalized_outputs(params, model, data["x"][rows])
    y, known = data["y"][rows], data["known"][rows]
    squared = jnp.sum((mean - y) ** 2, axis=-1)
    nll = jnp.sum(0.5 * ((mean - y) * jnp.exp(-log_std)) ** 2 + log_std, axis=-1) + 0.5 * y.shape[-1] * jnp.log(
        2 * jnp.pi)
    weight = known / jnp.maximum(jnp.sum(known, axis=-1, keepdims=True), 1.0)
    return jnp.sum(weight * nll, -1), jnp.sum(weight * squared, -1) / y.shape[-1]


def _loss(params, model: DynamicsModel, data: dict, rows: jax.Array, config: DynamicsConfig):
    """The members' summed NLL with the log-std bounds' penalty, plus the termination classifier's loss
    (on the first member's rows: the classifier has separate weights, so the sum trains both)."""
    ensemble, classifier = params
    nll, _ = _member_terms(ensemble, model, data, rows)
    members = ensemble["members"]
    bounds = jnp.sum(members["max_log_std"]) - jnp.sum(members["min_log_std"])
    cross_entropy, _ = _termination_terms(classifier, model, data, rows[0])
    return jnp.sum(nll) + config.log_std_bound_weight * bounds + cross_entropy


def _keep_improved(improved: jax.Array, new: Params, old: Params) -> Params:
    """Per member (the leading axis of every leaf): `new` where `improved`, else `old`."""
    return jax.tree.map(lambda n, o: jnp.where(improved.reshape((-1,) + (1,) * (n.ndim - 1)), n, o), new, old)


def _train(model: DynamicsModel, data: dict, train_rows: np.ndarray, held_rows: np.ndarray, config: DynamicsConfig,
           seed: int, log: Callable[[str], None], split: tuple[int, int, int]) -> tuple[DynamicsModel, DynamicsReport]:
    params = (model.params, model.termination_params)
    kernels = jax.tree_util.tree_map_with_path(lambda path, _: "kernel" in jax.tree_util.keystr(path), params)
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay, mask=kernels), optax.adam(config.learning_rate))
    train_index = jnp.asarray(train_rows)
    held = jnp.broadcast_to(jnp.asarray(held_rows), (config.n_members, len(held_rows)))
    members = config.n_members

    def step(carry, key):
        params, opt = carry
        rows = train_index[jax.random.randint(key, (members, config.batch_size), 0, len(train_index))]
        grads = jax.grad(_loss)(params, model, data, rows, config)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), None

    run_chunk = jax.jit(lambda carry, keys: jax.lax.scan(step, carry, keys)[0])
    evaluate = jax.jit(lambda p: (*_member_terms(p[0], model, data, held), _termination_terms(p[1], model, data,
                                                                                               held[0])[1]))
    carry = (params, tx.init(params))
    best_params = model.params
    best_mse = np.full(members, np.inf)
    best_nll = np.full(members, np.inf)
    stale, steps, history = 0, 0, []
    base_key = jax.random.PRNGKey(seed + 1)
    while steps < config.max_steps and stale < config.patience:
        n = min(config.steps_per_check, config.max_steps - steps)
        carry = run_chunk(carry, jax.random.split(jax.random.fold_in(base_key, steps), n))
        steps += n
        nll, mse, accuracy = (np.asarray(v) for v in evaluate(carry[0]))
        if not np.all(np.isfinite(mse)) or not np.all(np.isfinite(nll)):
            raise ConfigError("model_learning_rate", f"the dynamics model's held-out error became non-finite after "
                              f"{steps} updates", "lower model_learning_rate, or check the logs for extreme values")
        improved = mse < best_mse * (1.0 - config.min_improvement)
        if improved.any():
            best_params = _keep_improved(jnp.asarray(improved), carry[0][0], best_params)
            best_mse, best_nll = np.where(improved, mse, best_mse), np.where(improved, nll, best_nll)
        stale = 0 if improved.any() else stale + 1
        history.append({"step": steps, "holdout_mse": float(np.min(mse)), "holdout_nll": float(np.min(nll))})
        log(f"dynamics model: {steps:,} updates, held-out MSE {float(np.sort(best_mse)[:config.n_elites].mean()):.4f}")
    elites = np.argsort(best_mse)[:config.n_elites]
    # the classifier is one network: its final weights (its held-out accuracy is reported)
    trained = model.replace(params=best_params, termination_params=carry[0][1], elites=jnp.asarray(elites, jnp.int32))
    report = DynamicsReport(steps, stale >= config.patience, best_mse.tolist(), best_nll.tolist(),
                            sorted(int(i) for i in elites), *split,
                            float(accuracy), history)
    return trained, report
