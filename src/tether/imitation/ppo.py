"""PPO (Schulman et al., 2017) in JAX: the on-policy learner behind adversarial imitation.

Rollouts come from `n_envs` Gymnasium environments stepped together on the host (same-step autoreset:
a finished episode's last observation is kept to bootstrap a time limit, never a termination); the
update is one jitted function: GAE over the rollout, then `n_epochs` passes of shuffled minibatches
in a `lax.scan` (clipped ratio objective, optional value clipping, entropy bonus, global gradient-norm
clipping). Observations are standardised by running statistics, advantages per minibatch.

`reward_fn(transitions) -> rewards` replaces the environment's reward (GAIL's and AIRL's learned rewards);
the environment's own returns are still reported.

Differences from Stable-Baselines3's PPO (imitation's generator): the same objective and defaults
(2048 steps per rollout over all envs, 10 epochs, minibatch 64, lr 3e-4, clip 0.2, GAE 0.95), but a
time limit bootstraps from the value of the last observation (SB3 adds it to the reward the same way),
and the policy's log-std is one learned vector as in SB3, with Lecun-normal instead of orthogonal
initialisation (the output layers start 100x smaller, as SB3's gain of 0.01).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import flax.linen as nn
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from tether.data import ActionSpace
from tether.errors import ConfigError
from tether.imitation.tasks import InteractiveTask

RewardFn = Callable[[dict[str, np.ndarray]], np.ndarray]
"""`transitions -> rewards [N]`; transitions holds `observations`, `actions` (as executed), `next_observations`,
`terminations` and `log_probs` (the policy's, of the sampled action), each with N rows."""


@dataclass(frozen=True, kw_only=True)
class PPOConfig:
    """PPO's hyperparameters (Stable-Baselines3's names and defaults where they exist).

    Args:
        n_envs: environments stepped together.
        n_steps: steps per environment per rollout (a rollout is `n_envs * n_steps` transitions).
        n_epochs: passes over each rollout.
        batch_size: transitions per minibatch.
        learning_rate: Adam's step size.
        gamma, gae_lambda: discount and GAE's lambda.
        clip_range: the ratio's clipping range.
        clip_range_vf: clip the value update to this range around the old values (None: off).
        ent_coef, vf_coef: weights of the entropy bonus and of the value loss.
        max_grad_norm: global gradient-norm clip.
        hidden_dims: widths of the policy's and the value's tanh MLPs (separate networks).
        normalize_observations: standardise observations by running statistics.
    """

    n_envs: int = 8
    n_steps: int = 256
    n_epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    clip_range_vf: float | None = None
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden_dims: tuple[int, ...] = (64, 64)
    normalize_observations: bool = True

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "n_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}", f"set {name} to 1 or more")
        if (self.n_envs * self.n_steps) % self.batch_size:
            raise ConfigError("batch_size", f"{self.batch_size} does not divide a rollout of "
                              f"{self.n_envs * self.n_steps} transitions", "choose a divisor of n_envs * n_steps")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ConfigError("gamma", "gamma must lie in (0, 1] and gae_lambda in [0, 1]", "use 0.99 and 0.95")


class ActorCritic(nn.Module):
    """Separate tanh MLPs for the policy (logits, or a Gaussian mean with one learned log-std vector) and the
    value."""

    hidden_dims: tuple[int, ...]
    n_outputs: int
    discrete: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        small = nn.initializers.variance_scaling(1e-4, "fan_in", "truncated_normal")
        h = x
        for width in self.hidden_dims:
            h = nn.tanh(nn.Dense(width)(h))
        out = nn.Dense(self.n_outputs, kernel_init=small)(h)
        log_std = self.param("log_std", nn.initializers.zeros, (self.n_outputs,))
        v = x
        for width in self.hidden_dims:
            v = nn.tanh(nn.Dense(width)(v))
        value = nn.Dense(1)(v)[..., 0]
        return out, jnp.broadcast_to(log_std, out.shape), value


class PPOState(struct.PyTreeNode):
    params: Any
    opt_state: Any
    obs_mean: jax.Array
    obs_var: jax.Array
    obs_count: jax.Array
    step: jax.Array


class Rollout(struct.PyTreeNode):
    """`[n_steps, n_envs, ...]` arrays of one rollout."""

    observations: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    values: jax.Array
    rewards: jax.Array
    next_values: jax.Array  # value of the successor: the next observation, the final one at a time limit
    terminations: jax.Array  # the episode truly ended: no bootstrap
    ends: jax.Array  # the episode ended here either way: the GAE recursion stops


def _log_prob(out: jax.Array, log_std: jax.Array, actions: jax.Array, discrete: bool) -> jax.Array:
    if discrete:
        return jnp.take_along_axis(jax.nn.log_softmax(out), actions[..., None].astype(jnp.int32), -1)[..., 0]
    z = (actions - out) / jnp.exp(log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), -1)


def _entropy(out: jax.Array, log_std: jax.Array, discrete: bool) -> jax.Array:
    if discrete:
        logp = jax.nn.log_softmax(out)
        return -jnp.sum(jnp.exp(logp) * logp, -1)
    return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), -1)


def gae(rollout: Rollout, gamma: float, lam: float) -> tuple[jax.Array, jax.Array]:
    """`(advantages, returns)` by generalised advantage estimation, each `[n_steps, n_envs]`."""
    deltas = rollout.rewards + gamma * (1.0 - rollout.terminations) * rollout.next_values - rollout.values

    def back(carry, inputs):
        delta, end = inputs
        advantage = delta + gamma * lam * (1.0 - end) * carry
        return advantage, advantage

    _, advantages = jax.lax.scan(back, jnp.zeros_like(deltas[0]), (deltas, rollout.ends), reverse=True)
    return advantages, advantages + rollout.values


class PPO:
    """PPO on a task: `learn(total_steps)`, `predict(observations)`; the state is a pytree (`self.state`)."""

    def __init__(self, config: PPOConfig, task: InteractiveTask, seed: int = 0, reward_fn: RewardFn | None = None):
        self.config, self.task, self.seed, self.reward_fn = config, task, seed, reward_fn
        self.space: ActionSpace = task.action_space
        self.discrete = self.space.is_discrete
        n_outputs = self.space.n_actions if self.discrete else self.space.action_dim
        obs_dim = len(task.observation_names)
        self.net = ActorCritic(config.hidden_dims, n_outputs, self.discrete)
        self.tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate))
        params = self.net.init(jax.random.PRNGKey(seed), jnp.zeros((1, obs_dim)))["params"]
        self.state = PPOState(params, self.tx.init(params), jnp.zeros(obs_dim), jnp.ones(obs_dim), jnp.float32(1e-4),
                              jnp.int32(0))
        self.envs = gym.vector.SyncVectorEnv([lambda: task.make_env() for _ in range(config.n_envs)],
                                             autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        observations, _ = self.envs.reset(seed=seed)
        self.observations = np.asarray(observations, np.float32)
        self.key = jax.random.PRNGKey(seed + 1)
        self.episode_returns: list[float] = []
        self._running = np.zeros(config.n_envs)
        self._act = jax.jit(self._act_fn)
        self._values = jax.jit(self._value_fn)
        self._update = jax.jit(self._update_fn)
        self.steps_done = 0

    # ------------------------------------------------------------------ the policy
    def _forward(self, params: Any, observations: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """`(logits or mean, log_std, value)` of already standardised observations."""
        return cast(tuple[jax.Array, jax.Array, jax.Array], self.net.apply({"params": params}, observations))

    def _normalise(self, state: PPOState, observations: jax.Array) -> jax.Array:
        if not self.config.normalize_observations:
            return observations
        return jnp.clip((observations - state.obs_mean) / jnp.sqrt(state.obs_var + 1e-8), -10.0, 10.0)

    def _act_fn(self, state: PPOState, observations: jax.Array, key: jax.Array):
        out, log_std, value = self._forward(state.params, self._normalise(state, observations))
        if self.discrete:
            actions = jax.random.categorical(key, out)
        else:
            actions = out + jnp.exp(log_std) * jax.random.normal(key, out.shape)
        return actions, _log_prob(out, log_std, actions, self.discrete), value

    def _value_fn(self, state: PPOState, observations: jax.Array) -> jax.Array:
        return self._forward(state.params, self._normalise(state, observations))[2]

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        if self.discrete:
            return actions.astype(np.int64)
        low, high = self.space.bounds
        return np.clip(actions, low, high).astype(np.float32)

    def predict(self, observations: np.ndarray) -> np.ndarray:
        """Greedy actions (the most likely action, or the Gaussian mean within the bounds)."""
        out = self._forward(self.state.params, self._normalise(self.state, jnp.asarray(observations, jnp.float32)))[0]
        return self._env_actions(np.asarray(jnp.argmax(out, -1) if self.discrete else out))

    def policy_log_prob(self, observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """log pi(a|s) of the current policy (AIRL's discriminator needs it); continuous actions as executed."""
        out, log_std, _ = self._forward(self.state.params,
                                        self._normalise(self.state, jnp.asarray(observations, jnp.float32)))
        return np.asarray(_log_prob(out, log_std, jnp.asarray(actions), self.discrete))

    # ------------------------------------------------------------------ learning
    def collect(self) -> tuple[Rollout, dict[str, np.ndarray]]:
        """One rollout of `n_steps` per environment; also returns the raw transitions for a discriminator."""
        c = self.config
        columns: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "act", "logp", "value", "reward", "next_obs",
                                                               "term", "end")}
        for _ in range(c.n_steps):
            self.key, key = jax.random.split(self.key)
            actions, log_probs, values = (np.asarray(x) for x in self._act(self.state, self.observations, key))
            nxt, step_rewards, terminated, truncated, info = self.envs.step(self._env_actions(actions))
            nxt = np.asarray(nxt, np.float32)
            successor = nxt.copy()
            ended = np.asarray(terminated) | np.asarray(truncated)
            if ended.any():
                final = info["final_obs"]
                for i in np.flatnonzero(ended):
                    successor[i] = np.asarray(final[i], np.float32)
            self._running += step_rewards
            for i in np.flatnonzero(ended):
                self.episode_returns.append(float(self._running[i]))
                self._running[i] = 0.0
            for name, value in zip(columns, (self.observations, actions, log_probs, values, step_rewards, successor,
                                             terminated, ended), strict=True):
                columns[name].append(np.asarray(value))
            self.observations = nxt
        data = {k: np.stack(v) for k, v in columns.items()}
        n, dim = c.n_steps * c.n_envs, data["obs"].shape[-1]
        transitions = {"observations": data["obs"].reshape(n, dim),
                       "actions": self._env_actions(data["act"].reshape(n, *data["act"].shape[2:])),
                       "next_observations": data["next_obs"].reshape(n, dim),
                       "terminations": data["term"].reshape(n), "ends": data["end"].reshape(n),
                       "log_probs": data["logp"].reshape(n)}
        rewards = np.asarray(data["reward"], np.float32)
        if self.reward_fn is not None:
            rewards = np.asarray(self.reward_fn(transitions), np.float32).reshape(c.n_steps, c.n_envs)
        next_values = np.asarray(self._values(self.state, transitions["next_observations"])).reshape(c.n_steps,
                                                                                                     c.n_envs)
        self.steps_done += n
        rollout = Rollout(jnp.asarray(data["obs"]), jnp.asarray(data["act"]), jnp.asarray(data["logp"]),
                          jnp.asarray(data["value"]), jnp.asarray(rewards), jnp.asarray(next_values),
                          jnp.asarray(data["term"], jnp.float32), jnp.asarray(data["end"], jnp.float32))
        return rollout, transitions

    def _update_fn(self, state: PPOState, rollout: Rollout, key: jax.Array):
        c = self.config
        advantages, returns = gae(rollout, c.gamma, c.gae_lambda)
        n = c.n_steps * c.n_envs
        flat = jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), (rollout.observations, rollout.actions,
                                                                   rollout.log_probs, rollout.values, advantages,
                                                                   returns))
        if c.normalize_observations:  # running statistics, updated before the update uses them
            obs = flat[0]
            batch_mean, batch_var, count = obs.mean(0), obs.var(0), jnp.float32(n)
            total = state.obs_count + count
            delta = batch_mean - state.obs_mean
            mean = state.obs_mean + delta * count / total
            var = (state.obs_var * state.obs_count + batch_var * count
                   + delta**2 * state.obs_count * count / total) / total
            state = state.replace(obs_mean=mean, obs_var=var, obs_count=total)

        def loss_fn(params, batch):
            obs, actions, old_logp, old_values, adv, ret = batch
            out, log_std, values = self._forward(params, self._normalise(state, obs))
            logp = _log_prob(out, log_std, actions, self.discrete)
            ratio = jnp.exp(logp - old_logp)
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            clipped = jnp.clip(ratio, 1 - c.clip_range, 1 + c.clip_range)
            policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
            if c.clip_range_vf is not None:
                values = old_values + jnp.clip(values - old_values, -c.clip_range_vf, c.clip_range_vf)
            value_loss = jnp.mean((ret - values) ** 2)
            entropy = jnp.mean(_entropy(out, log_std, self.discrete))
            total = policy_loss + c.vf_coef * value_loss - c.ent_coef * entropy
            return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                           "approx_kl": jnp.mean(old_logp - logp),
                           "clip_fraction": jnp.mean(jnp.abs(ratio - 1) > c.clip_range)}

        def minibatch(carry, indices):
            params, opt_state = carry
            batch = jax.tree.map(lambda x: x[indices], flat)
            grads, metrics = jax.grad(loss_fn, has_aux=True)(params, batch)
            updates, opt_state = self.tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), metrics

        keys = jax.random.split(key, c.n_epochs)
        order = jax.vmap(lambda k: jax.random.permutation(k, n))(keys).reshape(-1, c.batch_size)
        (params, opt_state), metrics = jax.lax.scan(minibatch, (state.params, state.opt_state), order)
        return (state.replace(params=params, opt_state=opt_state, step=state.step + 1),
                jax.tree.map(jnp.mean, metrics))

    def learn(self, total_steps: int, on_update: Callable[[PPO, dict[str, Any]], None] | None = None) -> PPO:
        """Collect and update until `total_steps` environment steps (whole rollouts)."""
        while self.steps_done < total_steps:
            rollout, transitions = self.collect()
            self.key, key = jax.random.split(self.key)
            self.state, metrics = self._update(self.state, rollout, key)
            if on_update is not None:
                on_update(self, {**{k: float(v) for k, v in metrics.items()}, "transitions": transitions})
        return self

    def recent_return(self, episodes: int = 10) -> float | None:
        """Mean environment return of the last finished episodes (None before the first ends)."""
        return float(np.mean(self.episode_returns[-episodes:])) if self.episode_returns else None

