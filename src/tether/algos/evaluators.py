"""Evaluators with d3rlpy's names and meanings: callables `(learner, dataset) -> float`.

They depend only on the learner's `predict` and `predict_value`, so they serve every algorithm.
Dataset-based evaluators use at most `max_transitions` transitions (evenly spaced) to stay cheap.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tether.data import LoggedDataset


def _transitions(dataset: LoggedDataset, max_transitions: int):
    tr = dataset.transitions()
    if len(tr.rewards) > max_transitions:
        index = np.linspace(0, len(tr.rewards) - 1, max_transitions).astype(np.int64)
        tr = tr._replace(**{name: field[index] for name, field in tr._asdict().items() if field is not None})
    return tr


class EnvironmentEvaluator:
    """Mean undiscounted return of the greedy policy over `n_trials` episodes in `env`.

    Episodes run side by side (one batched `predict` per step) in copies of `env` made from its
    spec; resets are seeded `seed, seed + 1, ...`. An `info["action_mask"]` from the environment
    is passed on to the learner (tether's decision simulators provide one). `normalized(value,
    dataset)` gives D4RL's 0-100 score when the dataset carries reference scores.
    """

    def __init__(self, env: gym.Env, n_trials: int = 10, seed: int = 0):
        self.env, self.n_trials, self.seed = env, n_trials, seed

    def _envs(self) -> list[gym.Env]:
        if self.env.spec is None:
            return [self.env]
        return [gym.make(self.env.spec) for _ in range(self.n_trials)]

    def __call__(self, learner, dataset: LoggedDataset | None = None) -> float:
        return float(np.mean(self.returns(learner)[0]))

    def returns(self, learner, gamma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """`(undiscounted, discounted by gamma)` return of each of the `n_trials` episodes."""
        envs = self._envs()
        returns: list[float] = []
        discounted: list[float] = []
        episode = 0
        while len(returns) < self.n_trials:
            batch = envs[: self.n_trials - len(returns)]
            resets = [env.reset(seed=self.seed + episode + i) for i, env in enumerate(batch)]
            observations = [r[0] for r in resets]
            masks: list[Any] = [r[1].get("action_mask") for r in resets]
            episode += len(batch)
            totals, alive = np.zeros(len(batch)), np.ones(len(batch), bool)
            totals_discounted, weight = np.zeros(len(batch)), 1.0
            while alive.any():
                live = np.flatnonzero(alive)
                allowed = None if masks[live[0]] is None else np.stack([masks[i] for i in live])
                obs = np.stack([observations[i] for i in live])
                actions = learner.predict(obs) if allowed is None else learner.predict(obs, action_masks=allowed)
                for row, i in enumerate(live):
                    observations[i], reward, terminated, truncated, info = batch[i].step(actions[row])
                    masks[i] = info.get("action_mask")
                    totals[i] += reward
                    totals_discounted[i] += weight * float(reward)
                    alive[i] = not (terminated or truncated)
                weight *= gamma
            returns.extend(totals.tolist())
            discounted.extend(totals_discounted.tolist())
        return np.asarray(returns), np.asarray(discounted)

    @staticmethod
    def normalized(value: float, dataset: LoggedDataset) -> float:
        """D4RL's 0-100 score of a mean return `value`, from the dataset's `ref_min_score` and `ref_max_score`."""
        low, high = dataset.metadata["ref_min_score"], dataset.metadata["ref_max_score"]
        return 100.0 * (value - low) / (high - low)


class TDErrorEvaluator:
    """Mean squared TD error `(Q(s, a) - r - gamma (1 - d) Q(s', pi(s')))^2` on the logged transitions."""

    def __init__(self, episodes: LoggedDataset | None = None, gamma: float | None = None,
                 max_transitions: int = 50_000):
        self.episodes, self.gamma, self.max_transitions = episodes, gamma, max_transitions

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        tr = _transitions(self.episodes or dataset, self.max_transitions)
        gamma = learner.config.gamma if self.gamma is None else self.gamma
        values = learner.predict_value(tr.observations, tr.actions)
        next_values = learner.predict_value(tr.next_observations, learner.predict(tr.next_observations))
        targets = tr.rewards + gamma * (1.0 - tr.terminations) * next_values
        return float(np.mean((values - targets) ** 2))


class InitialStateValueEstimationEvaluator:
    """Mean Q(s0, pi(s0)) over the first states of the logged episodes."""

    def __init__(self, episodes: LoggedDataset | None = None):
        self.episodes = episodes

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        data = self.episodes or dataset
        first = data.observations[data.episode_starts]
        return float(np.mean(learner.predict_value(first, learner.predict(first))))


class AverageValueEstimationEvaluator:
    """Mean Q(s, pi(s)) over the logged states."""

    def __init__(self, episodes: LoggedDataset | None = None, max_transitions: int = 50_000):
        self.episodes, self.max_transitions = episodes, max_transitions

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        tr = _transitions(self.episodes or dataset, self.max_transitions)
        return float(np.mean(learner.predict_value(tr.observations, learner.predict(tr.observations))))


class ContinuousActionDiffEvaluator:
    """Mean over logged steps of the squared distance `||pi(s) - a||^2` (summed over action dimensions)."""

    def __init__(self, episodes: LoggedDataset | None = None, max_transitions: int = 50_000):
        self.episodes, self.max_transitions = episodes, max_transitions

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        tr = _transitions(self.episodes or dataset, self.max_transitions)
        return float(np.mean(np.sum((learner.predict(tr.observations) - tr.actions) ** 2, axis=1)))


class DiscreteActionMatchEvaluator:
    """Share of logged steps where the greedy action equals the logged action (discrete actions)."""

    def __init__(self, episodes: LoggedDataset | None = None, max_transitions: int = 50_000):
        self.episodes, self.max_transitions = episodes, max_transitions

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        tr = _transitions(self.episodes or dataset, self.max_transitions)
        return float(np.mean(learner.predict(tr.observations, action_masks=tr.action_masks) == tr.actions))


class DiscountedSumOfAdvantageEvaluator:
    """Mean over logged steps of `sum_{t' >= t} gamma^(t' - t) (Q(s_t', a_t') - Q(s_t', pi(s_t')))` within
    each episode (Murphy 2005): how much value the policy claims over the logged actions. More negative
    means it prefers actions it values above the logged ones. d3rlpy restarts the sum every 1024 steps;
    here it runs to each episode's end."""

    def __init__(self, episodes: LoggedDataset | None = None, gamma: float | None = None):
        self.episodes, self.gamma = episodes, gamma

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        data = self.episodes or dataset
        gamma = learner.config.gamma if self.gamma is None else self.gamma
        observations = data.observations
        masks = {} if data.action_masks is None else {"action_masks": data.action_masks}
        advantages = (learner.predict_value(observations, data.actions)
                      - learner.predict_value(observations, learner.predict(observations, **masks)))
        sums = np.empty(len(advantages), np.float64)
        for start, end in zip(data.episode_starts, data.episode_ends, strict=True):
            running = 0.0
            for t in range(end - 1, start - 1, -1):
                running = float(advantages[t]) + gamma * running
                sums[t] = running
        return float(np.mean(sums))


class SoftOPCEvaluator:
    """Soft off-policy classification (Irpan et al. 2019): mean Q(s, a) over the logged steps of episodes
    whose return is at least `return_threshold`, minus the mean over all logged steps. Larger means the
    Q-function ranks successful behaviour higher."""

    def __init__(self, return_threshold: float, episodes: LoggedDataset | None = None):
        self.return_threshold, self.episodes = return_threshold, episodes

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        data = self.episodes or dataset
        success = data.episode_returns() >= self.return_threshold
        if not success.any():
            raise ValueError(f"return_threshold: no episode returns {self.return_threshold} or more (the best "
                             f"returns {data.episode_returns().max():.4g}); lower it")
        values = learner.predict_value(data.observations, data.actions)
        return float(np.mean(values[success[data.episode_ids]]) - np.mean(values))


class CompareContinuousActionDiffEvaluator:
    """Mean over logged states of `||pi(s) - pi_base(s)||^2`: how far the learner's greedy actions lie from
    those of `base_algo` (for example the behaviour-cloning baseline)."""

    def __init__(self, base_algo, episodes: LoggedDataset | None = None, max_transitions: int = 50_000):
        self.base_algo, self.episodes, self.max_transitions = base_algo, episodes, max_transitions

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        tr = _transitions(self.episodes or dataset, self.max_transitions)
        difference = learner.predict(tr.observations) - self.base_algo.predict(tr.observations)
        return float(np.mean(np.sum(difference**2, axis=1)))


class CompareDiscreteActionMatchEvaluator:
    """Share of logged states where the learner's greedy action equals `base_algo`'s (discrete actions)."""

    def __init__(self, base_algo, episodes: LoggedDataset | None = None, max_transitions: int = 50_000):
        self.base_algo, self.episodes, self.max_transitions = base_algo, episodes, max_transitions

    def __call__(self, learner, dataset: LoggedDataset) -> float:
        tr = _transitions(self.episodes or dataset, self.max_transitions)
        masks = {} if tr.action_masks is None else {"action_masks": tr.action_masks}
        return float(np.mean(learner.predict(tr.observations, **masks)
                             == self.base_algo.predict(tr.observations, **masks)))


class TrueValueEvaluator:
    """Ground truth on a simulator: the policy's true expected return under a `tether.envs` scenario
    (exact for the tabular simulators, Monte-Carlo for classic control)."""

    def __init__(self, scenario, gamma: float = 1.0):
        self.scenario, self.gamma = scenario, gamma

    def __call__(self, learner, dataset: LoggedDataset | None = None) -> float:
        return float(self.scenario.true_value(learner, self.gamma))
