"""One call to evaluate candidate policies offline, with intervals and the diagnostics that say when
not to trust a number.

    estimates = evaluate_policy(policy, dataset, gamma=0.99)             # {"FQE": Estimate, "WIS": ...}
    rows = compare_policies({"cql": cql, "bc": bc}, dataset)              # improvement over behaviour

Every `Estimate` states its estimand, where its propensities came from (logged or a fitted
behaviour model), its interval (bootstrap over episodes; FQE's refits per resample) and, for the IS
family, an HCOPE-style high-confidence lower bound; `warnings` lists each diagnostic that failed and
`trusted` is True only when none did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tether.data import LoggedDataset
from tether.ope import importance as imp
from tether.ope.behavior import BehaviorModel, fit_behavior_model
from tether.ope.fqe import FQE, FQE_CHECKPOINT, FQEConfig
from tether.ope.policy import EvaluationPolicy, as_policy

THRESHOLDS = {
    "ess_fraction": 0.05,  # effective sample size below 5% of episodes: the weights rest on a handful
    "max_weight_share": 0.5,  # one episode carries half the weight
    "mean_weight_gap": 0.3,  # |mean weight - 1| above this: propensities wrong or support missing
    "fqe_spread": 0.5,  # heads' spread above half the std of logged returns
}


@dataclass
class Estimate:
    """One estimator's value of one policy: the interval, what it estimates, its diagnostics and warnings."""
    estimator: str
    value: float
    interval: tuple[float, float]
    estimand: str
    propensities: str  # "logged", "estimated" or "not used"
    lower_bound: float | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    history: list[float] = field(default_factory=list)  # the estimate after each training epoch (FQE)

    @property
    def trusted(self) -> bool:
        """True when no diagnostic raised a warning."""
        return not self.warnings


def behavior_log_probs(dataset: LoggedDataset, seed: int = 0) -> tuple[np.ndarray, str, object]:
    """`(log pi_b(a_t|s_t) per step, "logged" | "estimated", model or None)`: the logged propensities, else
    the logged behaviour distribution (`action_probs`) at the logged actions, else a fitted behaviour model."""
    logged = dataset.logged_log_propensities()
    if logged is not None:
        return logged, "logged", None
    model = fit_behavior_model(dataset, seed=seed)
    return model.log_prob(dataset.observations, dataset.actions, dataset.action_masks), "estimated", model


def estimand_text(gamma: float, dataset: LoggedDataset) -> str:
    """What the estimators estimate on `dataset`, in words (discounting and episode cut)."""
    kind = "undiscounted" if gamma == 1.0 else f"discounted (gamma={gamma})"
    return f"expected {kind} return of an episode as logged (up to {int(dataset.episode_lengths.max())} steps)"


def evaluate_policy(policy, dataset: LoggedDataset, gamma: float = 0.99,
                    estimators: tuple[str, ...] = ("FQE", "IS", "PDIS", "WIS", "WPDIS", "DR", "WDR"),
                    fqe: FQE | None = None, fqe_steps: int = 5000, fqe_config: FQEConfig | None = None,
                    fqe_max_steps: int | None = None,
                    n_boot: int = 300, level: float = 0.95, delta: float = 0.05, seed: int = 0,
                    behavior: tuple[np.ndarray, str, object] | None = None,
                    show_progress: bool = False, fqe_run_dir: str | Path | None = None,
                    resume: bool = False) -> dict[str, Estimate]:
    """Estimate `policy`'s value from `dataset` with each estimator (see the module docstring).

    Example:
        On a simulator the exact value is known. A candidate close to the logging policy is
        estimated well; one that acts where the logs rarely go comes back with warnings, so
        `trusted` is False:

        >>> from tether.envs import fraud_review_queue
        >>> from tether.envs.fraud import behavior_policy
        >>> from tether.ope import table_policy
        >>> mdp = fraud_review_queue()
        >>> logs = mdp.make_logs(behavior_policy(mdp, epsilon=0.2), n_episodes=1000, seed=0)
        >>> candidate = behavior_policy(mdp, epsilon=0.1)
        >>> round(mdp.value(candidate), 2)  # the truth, from the tables
        5.8
        >>> estimate = evaluate_policy(table_policy(candidate, mdp), logs, gamma=1.0, estimators=("WPDIS",))["WPDIS"]
        >>> round(estimate.value, 2), [round(bound, 2) for bound in estimate.interval], estimate.trusted
        (5.67, [5.36, 6.0], True)
        >>> greedy = table_policy(mdp.greedy_table(), mdp)
        >>> estimate = evaluate_policy(greedy, logs, gamma=1.0, estimators=("WPDIS",))["WPDIS"]
        >>> estimate.trusted, estimate.warnings[0]
        (False, 'effective sample size 3.0 of 1000 episodes (0.3%) is too small')
    """
    target = as_policy(policy, n_actions=dataset.action_space.n if dataset.action_space.is_discrete else None)
    estimand = estimand_text(gamma, dataset)
    out: dict[str, Estimate] = {}
    returns = dataset.episode_returns(gamma)
    scale = float(returns.std()) + 1e-8
    needs_fqe = any(e in estimators for e in ("FQE", "DR", "WDR"))
    if needs_fqe and fqe is None:
        fqe = FQE(target, fqe_config or FQEConfig(gamma=gamma), seed=seed)
        resumable = resume and fqe_run_dir is not None and (Path(fqe_run_dir) / FQE_CHECKPOINT).exists()
        fqe.fit(dataset, n_steps=fqe_steps, n_steps_per_epoch=max(fqe_steps // 10, 1), show_progress=show_progress,
                run_dir=fqe_run_dir, resume=resumable, max_steps=fqe_max_steps)
    if "FQE" in estimators and fqe is not None:  # (it is: FQE was fitted above)
        result = fqe.estimate()
        warnings = []
        if not result.converged:
            warnings.append(f"FQE has not converged: over the second half of its training the estimate's trend moved "
                            f"by {result.drift:+.3g} (converged below {result.tolerance:.3g}); give it more steps")
        if not result.generalises:
            warnings.append(f"FQE's held-out Bellman error ({result.heldout_bellman_error:.3g}) is over twice its "
                            f"training error ({result.train_bellman_error:.3g})")
        if result.at_bound:
            warnings.append("FQE reached the largest or smallest value the logged rewards allow: it is "
                            "extrapolating to actions the data does not cover")
        if result.spread > THRESHOLDS["fqe_spread"] * scale:
            warnings.append(f"FQE heads disagree (spread {result.spread:.3g} > half the std of logged returns)")
        out["FQE"] = Estimate("FQE", result.value, result.interval, estimand, "not used",
                              diagnostics={"spread": result.spread, "converged": float(result.converged),
                                           "train_bellman_error": result.train_bellman_error,
                                           "heldout_bellman_error": result.heldout_bellman_error,
                                           "at_bound": float(result.at_bound), "drift": result.drift,
                                           "drift_tolerance": result.tolerance},
                              history=list(result.history),
                              warnings=warnings)
    is_family = [e for e in estimators if e in imp.ESTIMATORS]
    if not is_family:
        return out
    if not target.has_density:
        for name in is_family:
            out[name] = Estimate(name, float("nan"), (float("nan"), float("nan")), estimand, "not used",
                                 warnings=["the policy is deterministic over continuous actions: importance "
                                           "weights are undefined (use FQE)"])
        return out
    log_b, source, model = behavior if behavior is not None else behavior_log_probs(dataset, seed)
    log_pi = target.log_prob(dataset.observations, dataset.actions, dataset.action_masks)
    q_logged = v_policy = None
    if fqe is not None and any(e in is_family for e in ("DR", "WDR")):
        q_logged, v_policy = fqe.step_values(dataset)
    table = imp.episode_table(dataset, log_pi, log_b, gamma, q_logged, v_policy)
    diagnostics = imp.weight_diagnostics(table)
    shared = []
    if source == "estimated":
        shared.append("propensities are estimated by a behaviour model, not logged: the estimate inherits its error")
        if isinstance(model, BehaviorModel) and model.worse_than_state_blind:
            shared.append(f"the behaviour model explains held-out actions worse than a state-blind one "
                          f"({model.heldout_nll:.3g} against {model.baseline_nll:.3g} nats): its propensities "
                          "cannot be trusted; log the propensities at decision time")
    if diagnostics["ess_fraction"] < THRESHOLDS["ess_fraction"]:
        shared.append(f"effective sample size {diagnostics['ess']:.1f} of {len(returns)} episodes "
                      f"({diagnostics['ess_fraction']:.1%}) is too small")
    if diagnostics["max_weight_share"] > THRESHOLDS["max_weight_share"]:
        shared.append(f"one episode holds {diagnostics['max_weight_share']:.0%} of the weight")
    if abs(diagnostics["mean_weight"] - 1.0) > THRESHOLDS["mean_weight_gap"]:
        shared.append(f"mean importance weight {diagnostics['mean_weight']:.2f} is far from 1: the candidate "
                      "acts where the logs have little or no support, or the propensities are wrong")
    floor = float(returns.min())
    for name in is_family:
        fn = imp.ESTIMATORS[name]
        if name in ("DR", "WDR") and q_logged is None:
            continue
        lower = None
        if name in ("IS", "WIS"):
            lower = imp.high_confidence_lower_bound(imp.is_terms(table), table.cumulative[:, -1], floor, delta, seed)
        out[name] = Estimate(name, fn(table), imp.bootstrap_interval(table, fn, n_boot, level, seed), estimand,
                             source, lower, dict(diagnostics), list(shared))
    return out


def behavior_policy_of(dataset: LoggedDataset) -> EvaluationPolicy:
    """The logged behaviour policy as an evaluation policy (needs `action_probs`), for self-checks."""
    if dataset.action_probs is None:
        raise ValueError("the dataset has no action_probs; the behaviour policy cannot be replayed")
    lookup: dict[bytes, np.ndarray] = {}
    for row, row_probs in zip(dataset.observations.astype(np.float32), dataset.action_probs, strict=True):
        lookup.setdefault(row.tobytes(), row_probs)

    def probs(observations: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        return np.stack([lookup[row.astype(np.float32).tobytes()] for row in observations]).astype(np.float64)

    return EvaluationPolicy("behaviour", True, False, _probs=probs, n_actions=dataset.action_space.n_actions)


@dataclass
class Comparison:
    """A candidate's estimate and its improvement over the behaviour policy, with the improvement's interval."""
    candidate: str
    estimator: str
    value: float
    improvement: float
    interval: tuple[float, float]  # of the improvement over the behaviour policy
    trusted: bool
    warnings: list[str]


def behavior_value_interval(dataset: LoggedDataset, gamma: float, level: float = 0.95,
                            seed: int = 0) -> tuple[float, float, float]:
    """`(mean, low, high)` of the logged mean discounted return (percentile bootstrap over episodes)."""
    returns = dataset.episode_returns(gamma)
    rng = np.random.default_rng(seed)
    means = [returns[rng.integers(0, len(returns), len(returns))].mean() for _ in range(500)]
    alpha = (1 - level) / 2
    return float(returns.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def improvements(estimates: dict[str, Estimate], behavior: tuple[float, float, float]) -> dict:
    """Estimator -> `(improvement, low, high)` over the behaviour policy. The interval shifts the
    estimate's interval by the behaviour's and widens it by the behaviour's own (a conservative union)."""
    base, low_b, high_b = behavior
    return {name: (est.value - base, est.interval[0] - high_b, est.interval[1] - low_b)
            for name, est in estimates.items() if np.isfinite(est.value)}


def compare_policies(candidates: dict, dataset: LoggedDataset, gamma: float = 0.99, level: float = 0.95,
                     **kwargs) -> list[Comparison]:
    """Estimated improvement of each candidate over the behaviour policy (the logged mean discounted
    return), per estimator; see `improvements` for the interval."""
    behavior = behavior_value_interval(dataset, gamma, level)
    rows = []
    for name, policy in candidates.items():
        estimates = evaluate_policy(policy, dataset, gamma=gamma, level=level, **kwargs)
        for estimator, (gain, low, high) in improvements(estimates, behavior).items():
            est = estimates[estimator]
            rows.append(Comparison(name, estimator, est.value, gain, (low, high), est.trusted, est.warnings))
    return rows
