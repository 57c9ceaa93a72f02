"""MOReL's policy optimiser: the paper's model-based NPG against tether's SAC, in the same pessimistic MDP.

    python -m bench.morel_npg [--data hopper-medium-v5] [--size 100000] [--iterations 300] [--sac-steps 20000]

tether's MOReL optimises the policy with SAC on short branched rollouts (`tether.algos.morel`). The paper
uses natural policy gradient on long rollouts from logged start states. Both run here in one pessimistic MDP:
the same fitted ensemble, unknown-state threshold and HALT reward (one MOReL learner's `prepare`). NPG
follows the paper's recipe (App. C; the official `mjrl` config for hopper): a Gaussian MLP policy (64, 64,
tanh) initialised by behaviour cloning, `--paths` rollouts of `--horizon` steps per iteration in the P-MDP
(a random elite per step; an unknown step pays HALT's reward and ends the path), GAE (gamma 0.99,
lambda 0.97) with a fitted value baseline, and a natural-gradient step of normalised size 0.02 (conjugate
gradient on the KL's Fisher-vector product). Each policy's greedy actions are rolled out in the real task
for `--episodes` episodes; the table reports normalised scores and wall time, on one machine.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from bench._results import write_results
from tether.algos import EnvironmentEvaluator, MOReLConfig
from tether.datasets import get_dataset, normalized_score
from tether.dynamics import sample_step
from tether.nets import MLP


class GaussianPolicy(nn.Module):
    action_dim: int

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = nn.tanh(nn.Dense(64)(observations))
        mean = nn.Dense(self.action_dim)(nn.tanh(nn.Dense(64)(h)))
        log_std = self.param("log_std", nn.initializers.constant(-0.5), (self.action_dim,))
        return mean, jnp.maximum(log_std, -2.0)  # the paper's log sigma_min


def log_prob(params, net, observations, actions):
    mean, log_std = net.apply(params, observations)
    return jnp.sum(-0.5 * ((actions - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi), -1)


def pessimistic_rollouts(state: Any, params, net, starts: jax.Array, key: jax.Array, horizon: int):
    """Paths in MOReL's P-MDP: `(observations [H, N, d], actions, rewards [H, N], alive [H, N])`."""

    def body(carry, step_key):
        obs, alive = carry
        action_key, model_key = jax.random.split(step_key)
        mean, log_std = net.apply(params, obs)
        actions = mean + jnp.exp(log_std) * jax.random.normal(action_key, mean.shape)
        step = sample_step(state.dynamics, obs, jnp.clip(actions, -1, 1), model_key)
        unknown = step.disagreement > state.halt_threshold
        rewards = jnp.where(unknown, state.halt_reward, step.rewards)
        done = step.terminations | unknown
        next_obs = jnp.clip(step.next_observations, -10, 10)
        return (next_obs, alive & ~done), (obs, actions, rewards * alive, alive)

    _, paths = jax.lax.scan(body, (starts, jnp.ones(starts.shape[0], bool)), jax.random.split(key, horizon))
    return paths


def advantages(rewards, values, alive, gamma=0.99, lam=0.97):
    """GAE and discounted returns over `[H, N]` paths (a dead step contributes nothing and bootstraps nothing)."""
    next_values = jnp.concatenate([values[1:] * alive[1:], jnp.zeros_like(values[:1])])

    def back(carry, inputs):
        gae, ret = carry
        r, v, nv, a = inputs
        delta = r + gamma * nv - v
        gae = (delta + gamma * lam * gae) * a
        ret = (r + gamma * ret) * a
        return (gae, ret), (gae, ret)

    zeros = jnp.zeros(rewards.shape[1])
    _, (adv, ret) = jax.lax.scan(back, (zeros, zeros), (rewards, values, next_values, alive), reverse=True)
    return adv, ret


def npg_step(params, net, obs, actions, adv, weights, max_kl=0.02, cg_iters=10, damping=1e-4):
    flat, unravel = ravel_pytree(params)
    old_mean, old_log_std = net.apply(params, obs)

    def surrogate(p):
        return jnp.sum(weights * jnp.exp(log_prob(unravel(p), net, obs, actions)
                                          - jax.lax.stop_gradient(log_prob(params, net, obs, actions))) * adv)

    def kl(p):
        mean, log_std = net.apply(unravel(p), obs)
        per = (log_std - old_log_std + (jnp.exp(2 * old_log_std) + (old_mean - mean) ** 2)
               / (2 * jnp.exp(2 * log_std)) - 0.5)
        return jnp.sum(weights * per.sum(-1))

    g = jax.grad(surrogate)(flat)
    fvp = lambda v: jax.jvp(jax.grad(kl), (flat,), (v,))[1] + damping * v  # noqa: E731
    x, r = jnp.zeros_like(g), g
    p, rr = r, r @ r
    for _ in range(cg_iters):
        fp = fvp(p)
        alpha = rr / (p @ fp + 1e-10)
        x, r = x + alpha * p, r - alpha * fp
        new = r @ r
        p, rr = r + new / rr * p, new
    step = jnp.sqrt(2 * max_kl / (g @ x + 1e-10))
    return unravel(flat + step * x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="hopper-medium-v5")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--paths", type=int, default=50)
    parser.add_argument("--horizon", type=int, default=400)
    parser.add_argument("--sac-steps", type=int, default=20_000)
    parser.add_argument("--model-steps", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    dataset, env = get_dataset(args.data, size=args.size)
    evaluator = EnvironmentEvaluator(env, n_trials=args.episodes, seed=10_000)

    start = time.perf_counter()
    sac = MOReLConfig(model_max_steps=args.model_steps).create()
    sac.fit(dataset, n_steps=1, n_steps_per_epoch=1, show_progress=False)  # fits the model: the shared P-MDP
    model_seconds = time.perf_counter() - start
    state = jax.tree.map(lambda x: x[0], sac.state)
    scaling = sac.scaling
    start = time.perf_counter()
    sac.fit(dataset, n_steps=args.sac_steps, n_steps_per_epoch=args.sac_steps, show_progress=False)
    sac_seconds = time.perf_counter() - start
    sac_score = float(normalized_score(args.data, evaluator(sac)))
    print("sac", sac_score, sac_seconds, flush=True)

    tr = dataset.transitions()
    obs = jnp.asarray(scaling.observations(tr.observations))
    acts = jnp.asarray(scaling.actions_to_unit(tr.actions))
    net = GaussianPolicy(acts.shape[1])
    params = net.init(jax.random.PRNGKey(0), obs[:1])
    value_net = MLP((64, 64), 1)
    value_params = value_net.init(jax.random.PRNGKey(1), obs[:1])
    start = time.perf_counter()
    tx = optax.adam(1e-3)  # behaviour-cloning initialisation, as the paper's bc_init
    opt = tx.init(params)
    bc_step = jax.jit(lambda p, o, k: _bc(p, o, k, net, obs, acts, tx))
    for i in range(2000):
        params, opt = bc_step(params, opt, jax.random.PRNGKey(100 + i))
    value_tx = optax.adam(1e-3)
    rollouts = jax.jit(lambda p, s, k: pessimistic_rollouts(state, p, net, s, k, args.horizon))
    step = jax.jit(lambda p, o, a, adv, w: npg_step(p, net, o, a, adv, w))
    starts_pool = scaling.observations(dataset.observations[dataset.episode_starts])
    fit_value = jax.jit(lambda p, o, r, w: _fit_value(p, value_net, value_tx, o, r, w))
    rng = np.random.default_rng(0)
    for iteration in range(args.iterations):
        starts = jnp.asarray(starts_pool[rng.integers(0, len(starts_pool), args.paths)])
        path_obs, path_act, rewards, alive = rollouts(params, starts, jax.random.PRNGKey(iteration))
        values = value_net.apply(value_params, path_obs)[..., 0]
        adv, ret = advantages(rewards, values, alive.astype(jnp.float32))
        weights = alive / jnp.maximum(alive.sum(), 1.0)
        mean_adv = jnp.sum(weights * adv)
        std_adv = jnp.sqrt(jnp.sum(weights * (adv - mean_adv) ** 2)) + 1e-8
        flat = lambda x: x.reshape(-1, *x.shape[2:])  # noqa: E731
        params = step(params, flat(path_obs), flat(path_act), flat((adv - mean_adv) / std_adv), flat(weights))
        value_params = fit_value(value_params, flat(path_obs), flat(ret), flat(weights))
        if iteration % 50 == 0:
            print(iteration, float(jnp.sum(rewards) / args.paths), flush=True)
    npg_seconds = time.perf_counter() - start

    def npg_policy(observations: np.ndarray) -> np.ndarray:
        mean, _ = net.apply(params, jnp.asarray(scaling.observations(observations)))
        return scaling.actions_from_unit(np.clip(np.asarray(mean), -1, 1))

    npg_score = float(normalized_score(args.data, evaluator(_Greedy(npg_policy))))
    rows = [{"optimiser": "SAC (tether's MOReL)", "policy updates": args.sac_steps, "score": round(sac_score, 1),
             "seconds": round(sac_seconds, 1)},
            {"optimiser": "NPG (the paper's)", "policy updates": args.iterations, "score": round(npg_score, 1),
             "seconds": round(npg_seconds, 1)}]
    write_results("morel_npg", {"data": args.data, "size": args.size, "model_seconds": model_seconds,
                                "paths": args.paths, "horizon": args.horizon}, rows,
                  f"MOReL's policy optimiser in one pessimistic MDP on {args.data} ({args.size:,} steps): normalised "
                  f"score of the greedy policy ({args.episodes} episodes) and wall time on this machine")


class _Greedy:
    """The evaluator's learner protocol for a plain function of observations."""

    def __init__(self, fn):
        self.fn = fn

    def predict(self, observations: np.ndarray) -> np.ndarray:
        return self.fn(np.atleast_2d(observations))


def _bc(params, opt, key, net, obs, acts, tx):
    rows = jax.random.randint(key, (256,), 0, obs.shape[0])
    grads = jax.grad(lambda p: -jnp.mean(log_prob(p, net, obs[rows], acts[rows])))(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt


def _fit_value(params, net, tx, obs, returns, weights, epochs: int = 50):
    def loss(p):
        return jnp.sum(weights * (net.apply(p, obs)[..., 0] - returns) ** 2)

    def body(carry, _):
        p, opt = carry
        updates, opt = tx.update(jax.grad(loss)(p), opt, p)
        return (optax.apply_updates(p, updates), opt), None

    return jax.lax.scan(body, (params, tx.init(params)), None, length=epochs)[0][0]


if __name__ == "__main__":
    main()
