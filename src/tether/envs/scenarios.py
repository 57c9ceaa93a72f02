"""Named logging scenarios: a simulator, a behaviour policy and a way of logging, each with its truth.

Each failure mode of offline RL has a scenario that produces it on purpose:

| scenario | failure mode | what goes wrong |
|---|---|---|
| `fraud` | (none: supported) | broad logs (epsilon 0.2) where better queue-aware policies are learnable |
| `fraud-narrow` | narrow behaviour policy | reviewers never deviate: borderline approve/decline never logged |
| `fraud-unlogged-propensities` | missing propensities | the `fraud` log without behaviour probabilities: no IS family |
| `treatment` | (none: supported) | clinicians' choice does not depend on the hidden responder type |
| `treatment-confounded` | hidden confounding | aggressive therapy goes to responders; the log hides who they are |
| `clinic` | (none: supported) | a hidden frailty changes outcomes, not clinicians' choices; no propensities |
| `clinic-confounded` | hidden confounding | clinicians treat by the hidden frailty; no propensities logged |
| `recommender` | (none: supported) | whole sessions logged, retention reward included |
| `recommender-window` | reward-proxy drift | 3 impressions and clicks per session logged; retention comes later |
| `recommender-narrow` | unsupported action | a sharp ranker almost never shows quality items |
| `cartpole` | (none: supported) | epsilon-greedy (0.3) controller |
| `cartpole-compounding` | compounding error | 5 episodes of a deterministic expert: one slip leaves the logged states |

`scenario_logs(name, n_episodes, seed)` returns `(LoggedDataset, Scenario)`; `Scenario.true_value(policy)`
gives the exact (tabular simulators) or Monte-Carlo (classic control) value of any policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tether.data import LoggedDataset
from tether.envs import clinic, fraud, recommender, treatment
from tether.envs.classic import CLASSIC_TASKS, ClassicTask, make_classic_logs, monte_carlo_value
from tether.envs.finite import FiniteMDP


@dataclass(frozen=True)
class Scenario:
    """A simulator plus how it was logged. `mdp` is None for classic control tasks (Monte-Carlo truth)."""

    name: str
    failure_mode: str
    description: str
    mdp: FiniteMDP | None = None
    behavior: np.ndarray | None = None
    log_options: dict[str, Any] = field(default_factory=dict)
    classic_task: str | None = None
    default_episodes: int = 500

    @property
    def task_name(self) -> str:
        """The classic control task of a scenario without tables (a key of `CLASSIC_TASKS`)."""
        if self.classic_task is None:
            raise ValueError(f"scenario {self.name!r} is tabular (see mdp); it has no classic control task")
        return self.classic_task

    @property
    def task(self) -> ClassicTask:
        """The classic control task of a scenario without tables (see `task_name`)."""
        return CLASSIC_TASKS[self.task_name]

    @property
    def behavior_table(self) -> np.ndarray:
        """The `[S, A]` logging policy of a tabular scenario."""
        if self.behavior is None:
            raise ValueError(f"scenario {self.name!r} has no behaviour table: its logs come from {self.classic_task}")
        return self.behavior

    def true_value(self, policy, gamma: float = 1.0, n_episodes: int = 100, seed: int = 12_345) -> float:
        """The policy's true expected episode return (exact when tabular, else Monte-Carlo)."""
        if self.mdp is not None:
            return self.mdp.value(policy, gamma)
        return monte_carlo_value(self.task.env_id, policy, n_episodes, seed, gamma)[0]

    def behavior_value(self, gamma: float = 1.0) -> float:
        """The logging policy's true value."""
        if self.mdp is not None:
            return self.mdp.value(self.behavior_table, gamma)
        task = self.task
        epsilon = self.log_options["epsilon"]
        return self.true_value(lambda o: task.behavior_probs(o, epsilon), gamma)

    def env(self, seed: int | None = None):
        """A Gymnasium environment of the scenario, for rollouts and `EnvironmentEvaluator`."""
        import gymnasium as gym

        return self.mdp.env(seed) if self.mdp is not None else gym.make(self.task.env_id)

    def logs(self, n_episodes: int | None = None, seed: int = 0, **overrides: Any) -> LoggedDataset:
        """Logs of `n_episodes` (default: the scenario's) from its logging policy; `overrides` change log options."""
        options = {**self.log_options, **overrides}
        n = n_episodes or self.default_episodes
        if self.mdp is None:
            data = make_classic_logs(self.task_name, n_episodes=n, seed=seed, **options)
        else:
            data = self.mdp.make_logs(self.behavior_table, n, seed=seed, description=self.description, **options)
        data.metadata.update({"scenario": self.name, "failure_mode": self.failure_mode})
        return data

    def random_logs(self, n_episodes: int | None = None, seed: int = 0) -> LoggedDataset:
        """Logs of the uniform policy over allowed actions, logged the same way: the SACo reference."""
        if self.mdp is None:
            return self.logs(n_episodes, seed=seed, epsilon=1.0)
        uniform = self.mdp.action_masks / self.mdp.action_masks.sum(1, keepdims=True)
        options = {k: v for k, v in self.log_options.items() if k != "include_true_state"}
        data = self.mdp.make_logs(uniform, n_episodes or self.default_episodes, seed=seed,
                                  description=f"uniform random policy on {self.name}", **options)
        data.metadata.update({"scenario": self.name, "reference": "uniform random"})
        return data


def _tabular(name: str, failure_mode: str, description: str, mdp: FiniteMDP, behavior: np.ndarray,
             **log_options: Any) -> Scenario:
    return Scenario(name, failure_mode, description, mdp, behavior, log_options)


def clinic_scenario(confounding: float, log_propensities: bool = False) -> Scenario:
    """The clinic log at a confounding strength in [0, 1] (0: clinicians ignore the hidden frailty), with or
    without propensities: the family the audit's confounding thresholds are calibrated on."""
    mdp = clinic.clinic_course()
    logged = "propensities logged" if log_propensities else "no propensities"
    return _tabular(f"clinic-c{confounding:g}" + ("-propensities" if log_propensities else ""),
                    "hidden confounding" if confounding > 0 else "none",
                    f"clinicians follow the hidden frailty with weight {confounding:g}; {logged}", mdp,
                    clinic.behavior_policy(mdp, confounding), log_propensities=log_propensities)


def _build() -> dict[str, Callable[[], Scenario]]:
    def fraud_s(epsilon: float, name: str, mode: str, text: str, **log):
        def make() -> Scenario:
            mdp = fraud.fraud_review_queue()
            return _tabular(name, mode, text, mdp, fraud.behavior_policy(mdp, epsilon), **log)
        return make

    def treatment_s(confounding: float, name: str, mode: str, text: str):
        def make() -> Scenario:
            mdp = treatment.treatment_course()
            return _tabular(name, mode, text, mdp, treatment.behavior_policy(mdp, confounding, epsilon=0.1))
        return make

    def recommender_s(temperature: float, name: str, mode: str, text: str, proxy: bool = False, **log):
        def make() -> Scenario:
            mdp = recommender.recommender_session(observe_engagement=not proxy)
            if proxy:
                log["logged_rewards"] = recommender.click_rewards(mdp)
            return _tabular(name, mode, text, mdp, recommender.behavior_policy(mdp, temperature), **log)
        return make

    def classic_s(task: str, epsilon: float, episodes: int, name: str, mode: str, text: str):
        return lambda: Scenario(name, mode, text, log_options={"epsilon": epsilon}, classic_task=task,
                                default_episodes=episodes)

    return {
        "fraud": fraud_s(0.2, "fraud", "none", "reviewers' habit, 20% uniform exploration"),
        "fraud-narrow": fraud_s(0.0, "fraud-narrow", "narrow behavior policy",
                                "reviewers' habit with no exploration: borderline cases are always reviewed"),
        "fraud-unlogged-propensities": fraud_s(0.2, "fraud-unlogged-propensities", "missing propensities",
                                               "the fraud log without behaviour probabilities",
                                               log_propensities=False),
        "treatment": treatment_s(0.0, "treatment", "none", "clinicians ignore the hidden responder type"),
        "treatment-confounded": treatment_s(0.9, "treatment-confounded", "hidden confounding",
                                            "clinicians treat by a responder signal the log does not hold"),
        "clinic": lambda: dataclasses.replace(clinic_scenario(0.0), name="clinic", description=(
            "hidden frailty changes outcomes; clinicians' habit ignores it; no propensities logged")),
        "clinic-confounded": lambda: dataclasses.replace(clinic_scenario(0.8), name="clinic-confounded", description=(
            "clinicians give intensive therapy to patients they judge robust (a trait the log does not hold) and "
            "standard care to the frail; intensive is truly worse for everyone; no propensities logged")),
        "recommender": recommender_s(0.5, "recommender", "none", "click ranker, whole sessions logged"),
        "recommender-window": recommender_s(0.5, "recommender-window", "reward-proxy drift",
                                            "click ranker; logs keep each session's first 3 impressions and "
                                            "clicks, not engagement: retention arrives after the log ends",
                                            proxy=True, logging_window=3),
        "recommender-narrow": recommender_s(0.05, "recommender-narrow", "unsupported action",
                                            "a sharp click ranker that almost never shows quality items"),
        "cartpole": classic_s("cartpole", 0.3, 50, "cartpole", "none", "controller, epsilon-greedy 0.3"),
        "cartpole-compounding": classic_s("cartpole", 0.0, 5, "cartpole-compounding", "compounding error",
                                          "5 episodes of a deterministic controller"),
        "acrobot": classic_s("acrobot", 0.3, 50, "acrobot", "none", "energy-pumping controller, epsilon 0.3"),
    }


SCENARIOS = _build()


def scenario_names() -> list[str]:
    """Names of every failure-mode scenario."""
    return list(SCENARIOS)


def get_scenario(name: str) -> Scenario:
    """The scenario `name` (raises `KeyError` listing the known names)."""
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; choose one of {sorted(SCENARIOS)}")
    return SCENARIOS[name]()


def scenario_logs(name: str, n_episodes: int | None = None, seed: int = 0, **overrides: Any):
    """`(LoggedDataset, Scenario)` for a named scenario."""
    scenario = get_scenario(name)
    return scenario.logs(n_episodes, seed, **overrides), scenario
