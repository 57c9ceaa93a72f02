"""What offline evaluation needs of a candidate policy, from whatever the user holds.

`as_policy(x)` accepts a tether learner (greedy, deterministic), a zoo policy (stochastic, with
densities), a `[S, A]` table together with a `FiniteMDP` (states looked up by their features), or
a function `(observations, masks) -> probabilities or actions` (discrete) or `observations -> actions` (continuous),
and returns an `EvaluationPolicy` with:

- `action_probs(obs, masks)`: `[N, A]` probabilities (discrete);
- `actions(obs, masks, key)`: `[N]` or `[N, d]` actions (greedy for deterministic policies);
- `log_prob(obs, actions)`: `[N]` log-probabilities of given actions (discrete; continuous only
  when the policy defines a density, which deterministic policies do not);
- `deterministic`: whether the policy puts all its mass on one action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tether.data import ActionSpace


@dataclass
class EvaluationPolicy:
    """A candidate policy as OPE sees it (see the module docstring)."""

    name: str
    discrete: bool
    deterministic: bool
    _probs: Callable[[np.ndarray, np.ndarray | None], np.ndarray] | None = None
    _actions: Callable[[np.ndarray, np.ndarray | None], np.ndarray] | None = None
    _log_prob: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    n_actions: int | None = None

    def action_probs(self, observations: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Discrete: `[N, A]` action probabilities (one-hot for a deterministic policy)."""
        if self._probs is not None:
            return np.asarray(self._probs(observations, masks), np.float64)
        if self._actions is None or self.n_actions is None:
            raise ValueError(f"policy {self.name!r} gives neither action probabilities nor discrete actions")
        return ActionSpace.discrete(self.n_actions).probabilities(self._actions(observations, masks))

    def actions(self, observations: np.ndarray, masks: np.ndarray | None = None,
                rng: np.random.Generator | None = None) -> np.ndarray:
        """`[N]` or `[N, d]` actions: greedy when deterministic, else sampled with `rng`."""
        if self._actions is not None and (self.deterministic or self._probs is None):
            return np.asarray(self._actions(observations, masks))
        probs = self.action_probs(observations, masks)
        rng = rng or np.random.default_rng(0)
        cumulative = probs.cumsum(1)
        return (rng.random((len(probs), 1)) * cumulative[:, -1:] >= cumulative).sum(1).clip(max=probs.shape[1] - 1)

    def log_prob(self, observations: np.ndarray, actions: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """`[N]` log-probabilities of `actions` (continuous: only for policies with a density)."""
        if self.discrete:
            probs = self.action_probs(observations, masks)[np.arange(len(actions)), np.asarray(actions, int)]
            with np.errstate(divide="ignore"):
                return np.log(probs)
        if self._log_prob is None:
            raise ValueError(f"policy {self.name!r} is deterministic over continuous actions: it has no density, "
                             "so importance sampling cannot weigh it; use FQE")
        return np.asarray(self._log_prob(observations, actions))

    @property
    def has_density(self) -> bool:
        """Whether importance sampling can weigh this policy (discrete, or a continuous density)."""
        return self.discrete or self._log_prob is not None


def as_policy(policy, n_actions: int | None = None, name: str | None = None, mdp=None) -> EvaluationPolicy:
    """Wrap `policy` (see the module docstring); `n_actions` is needed for discrete functions returning actions."""
    if isinstance(policy, EvaluationPolicy):
        return policy
    if hasattr(policy, "predict") and hasattr(policy, "config"):  # a tether learner
        spec = policy.spec
        discrete = spec is not None and spec.discrete_actions is not None
        label = name or policy.config.get_type()
        if discrete:
            return EvaluationPolicy(label, True, True, _actions=lambda o, m: policy.predict(o, action_masks=m),
                                    n_actions=spec.discrete_actions)
        return EvaluationPolicy(label, False, True, _actions=lambda o, m: policy.predict(o))
    if isinstance(policy, np.ndarray):
        if mdp is None:
            raise ValueError("a policy table needs the FiniteMDP whose states it indexes (mdp=...)")
        return table_policy(policy, mdp, name or "table")
    if hasattr(policy, "distribution") and hasattr(policy, "log_prob_pre_tanh"):  # a tether.zoo.ZooPolicy
        return zoo_policy(policy, name or "zoo policy")
    if callable(policy):
        if n_actions is None:
            return EvaluationPolicy(name or "function", False, True, _actions=lambda o, m: policy(o))
        space = ActionSpace.discrete(n_actions)
        return EvaluationPolicy(name or "function", True, False, _probs=lambda o, m: space.probabilities(policy(o, m)),
                                n_actions=n_actions)
    raise TypeError(f"cannot evaluate a {type(policy).__name__}: pass a tether learner, a table with mdp=..., "
                    "or a function")


def table_policy(table: np.ndarray, mdp, name: str = "table") -> EvaluationPolicy:
    """A `[S, A]` table over a FiniteMDP's states, looked up by feature rows (states sharing features
    must share rows, as for any policy that acts on what the log holds)."""
    keys = {row.astype(np.float32).tobytes(): s for s, row in enumerate(mdp.features)}

    def probs(observations: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        index = [keys[row.astype(np.float32).tobytes()] for row in observations]
        return table[index]

    deterministic = bool(np.all(np.isclose(table.max(1), 1.0)))
    return EvaluationPolicy(name, True, deterministic, _probs=probs, n_actions=table.shape[1])


def zoo_policy(policy, name: str = "zoo policy", seed: int = 0) -> EvaluationPolicy:
    """A `tether.zoo.ZooPolicy` as the stochastic tanh-Gaussian it is: sampled actions for FQE and
    densities (with the tanh correction) for importance sampling."""
    rng = np.random.default_rng(seed)

    def log_prob(observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
        mean, log_std = policy.distribution(observations)
        pre_tanh = np.arctanh(np.clip(np.asarray(actions, np.float64), -1 + 1e-6, 1 - 1e-6))
        return policy.log_prob_pre_tanh(pre_tanh, mean, log_std)

    def actions(observations: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        return policy.sample(observations, rng)[0]

    return EvaluationPolicy(name, False, False, _actions=actions, _log_prob=log_prob)
