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

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import flax.linen as nn
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization, struct

from tether.algos.model_file import read_model_file, write_model_file
from tether.algos.ppo import PPOConfig, ppo_config_from_json
from tether.data import ActionSpace
from tether.imitation.tasks import InteractiveTask

RewardFn = Callable[[dict[str, np.ndarray]], np.ndarray]
"""`transitions -> rewards [N]`; transitions holds `observations`, `actions` (as executed), `next_observations`,
`terminations` and `log_probs` (the policy's, of the sampled action), each with N rows."""


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


def _standardised(observations: jax.Array, mean: jax.Array, var: jax.Array, normalize: bool) -> jax.Array:
    if not normalize:
        return observations
    return jnp.clip((observations - mean) / jnp.sqrt(var + 1e-8), -10.0, 10.0)


class PPOPolicy:
    """PPO's greedy policy on its own: predict, save as a checked tether model file, export to ONNX."""

    def __init__(self, config: PPOConfig, space: ActionSpace, params: Any, obs_mean: Any, obs_var: Any):
        self.config, self.space, self.params = config, space, params
        self.obs_mean, self.obs_var = jnp.asarray(obs_mean, jnp.float32), jnp.asarray(obs_var, jnp.float32)
        self.discrete = space.is_discrete
        self.net = ActorCritic(config.hidden_dims, space.n_actions if self.discrete else space.action_dim,
                               self.discrete)
        self._greedy = jax.jit(self.greedy)

    @property
    def observation_dim(self) -> int:
        return int(self.obs_mean.shape[0])

    def greedy(self, observations: jax.Array) -> jax.Array:
        """Greedy actions of `[N, obs_dim]` observations as a pure JAX function (what ONNX export traces)."""
        scaled = _standardised(observations, self.obs_mean, self.obs_var, self.config.normalize_observations)
        out = cast(tuple[jax.Array, ...], self.net.apply({"params": self.params}, scaled))[0]
        if self.discrete:
            return jnp.argmax(out, -1)
        low, high = self.space.bounds
        return jnp.clip(out, jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32))

    def predict(self, observations: np.ndarray) -> np.ndarray:
        """Greedy actions (the most likely action, or the Gaussian mean within the bounds)."""
        actions = np.asarray(self._greedy(jnp.asarray(observations, jnp.float32)))
        return actions.astype(np.int64) if self.discrete else actions.astype(np.float32)

    def save(self, path: str | Path, algorithm: str) -> Path:
        """Write the policy as a checked tether model file of `algorithm` (`gail`, `airl`, ...), atomically."""
        config = {"type": algorithm, "ppo": json.loads(json.dumps(dataclasses.asdict(self.config)))}
        state = {"params": serialization.to_state_dict(jax.device_get(self.params)),
                 "obs_mean": np.asarray(self.obs_mean), "obs_var": np.asarray(self.obs_var)}
        return write_model_file(path, "policy", algorithm, {"config": json.dumps(config), "state": state,
                                                            "action_space": json.dumps(self.space.to_json())})

    @classmethod
    def load(cls, path: str | Path, algorithm: str | None = None) -> PPOPolicy:
        """Read `save`'s file (checked header and checksum, msgpack: no code runs)."""
        payload = read_model_file(path, "policy", algorithm)
        settings = json.loads(payload["config"])["ppo"]
        config = ppo_config_from_json(settings)
        state = payload["state"]
        return cls(config, ActionSpace.from_json(json.loads(payload["action_space"])), state["params"],
                   state["obs_mean"], state["obs_var"])

    def save_onnx(self, path: str | Path) -> Path:
        """Write the greedy policy to ONNX (`observations -> actions`), atomically."""
        from tether.export.onnx import save_function

        return save_function(self.greedy, self.observation_dim, path, f"tether PPO policy ({self.config})")


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
        return _standardised(observations, state.obs_mean, state.obs_var, self.config.normalize_observations)

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
        return self.policy().predict(observations)

    def policy(self) -> PPOPolicy:
        """The current greedy policy, detached from the environments (to save, export or evaluate)."""
        return PPOPolicy(self.config, self.space, self.state.params, self.state.obs_mean, self.state.obs_var)

    def checkpoint(self) -> dict[str, Any]:
        """Everything `restore` needs to continue learning: the state, the key, steps done and episode returns."""
        return {"state": serialization.to_state_dict(jax.device_get(self.state)), "key": np.asarray(self.key),
                "steps_done": self.steps_done, "episode_returns": np.asarray(self.episode_returns, np.float64)}

    def restore(self, saved: dict[str, Any]) -> None:
        """Continue from `checkpoint()`'s output; the environments start fresh episodes, reset with a seed
        drawn from the steps done (an interrupted episode is not replayed)."""
        self.state = serialization.from_state_dict(self.state, saved["state"])
        self.key = jnp.asarray(saved["key"], jnp.uint32)
        self.steps_done = int(saved["steps_done"])
        self.episode_returns = [float(x) for x in np.asarray(saved["episode_returns"]).reshape(-1)]
        observations, _ = self.envs.reset(seed=self.seed + self.steps_done)
        self.observations = np.asarray(observations, np.float32)
        self._running[:] = 0.0

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

