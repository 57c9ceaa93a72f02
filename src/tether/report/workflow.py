"""`tether run`: audit, behaviour-cloning baseline, conservative candidates, offline evaluation,
support checks, the gate and the memo, in one resumable run directory.

Stages write their results under `OUT/` as they finish (`config.json`, `audit.json`,
`learners/<algo>/` with metrics, checkpoints and the saved model, `evaluation/<algo>.json`,
`results.json`, `memo.md`, `memo.html`, and `learners/<algo>/policy.onnx` for every candidate the gate
does not reject); `run(..., resume=True)` skips what is done and resumes a
learner from its last checkpoint.
"""

from __future__ import annotations

import json
import platform
import time
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from tether._atomic import write_atomically
from tether.algos import AverageValueEstimationEvaluator, TrainingDivergedError, get_algo, load_learner
from tether.algos.engine import Evaluator, Learner, has_checkpoint
from tether.algos.registry import baseline_for, candidates_for
from tether.data import LoggedDataset
from tether.errors import ConfigError, DatasetError, did_you_mean
from tether.sources import ExactTruth, Source, Truth, resolve

# gradient steps per learner and for each FQE, by profile
# offline evaluation fits on a random subset of whole episodes up to this many steps (None: all)
EVAL_STEPS = {"quick": 100_000, "seed": 200_000, "full": None}

PROFILES: dict[str, dict[str, int]] = {
    "quick": {"baseline": 3000, "cql": 1000, "bcq": 1000, "iql": 3000, "td3_plus_bc": 3000, "discrete_cql": 3000,
              "discrete_bcq": 3000, "fqe": 5000},
    "seed": {"baseline": 10_000, "cql": 20_000, "discrete_cql": 20_000, "fqe": 10_000},
    "full": {"baseline": 50_000, "cql": 100_000, "bcq": 100_000, "iql": 100_000, "td3_plus_bc": 100_000,
             "discrete_cql": 50_000, "discrete_bcq": 50_000, "fqe": 30_000},
}
# profiles that train only some candidates (unless the config names them)
PROFILE_CANDIDATES: dict[str, tuple[str, ...]] = {"seed": ("cql", "discrete_cql")}


@dataclass
class RunConfig:
    """What `tether run` does: the data, the profile of step budgets, discount, seed, candidates and settings.

    Every field is checked when the config is made (types, ranges, unknown keys and algorithm names in
    every table), so a bad run.toml fails before any data is loaded or any learner trains.
    """
    data: str = "halfcheetah-medium-v5"
    profile: str = "quick"
    size: int | None = None  # steps (episodes for simulator scenarios) of a built-in dataset; None = default
    gamma: float = 0.99
    seed: int = 0
    steps: dict[str, int] = field(default_factory=dict)  # overrides of the profile's steps
    candidates: list[str] | None = None
    hyperparameters: dict[str, dict] = field(default_factory=dict)  # algo -> config overrides
    fqe: dict = field(default_factory=dict)  # FQEConfig overrides
    action_space: str | None = None  # "discrete" or "continuous" overrides what the data suggest

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str = "run config") -> RunConfig:
        """A config from a dict such as a parsed run.toml, refusing unknown keys with the closest name."""
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                raise ConfigError(f"{source} {key}", f"unknown key {key!r}{did_you_mean(key, known)}",
                                  f"use one of {known}")
        return cls(**values)

    @classmethod
    def from_toml(cls, path: Path, **overrides: Any) -> RunConfig:
        """Read a `run.toml` (top-level keys are RunConfig fields; `[hyperparameters.cql]`, `[steps]`, `[fqe]`
        tables), then apply `overrides` that are not None."""
        import tomllib

        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(str(path), "does not exist", "check the --config path") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(str(path), f"is not valid TOML ({err})", "fix the syntax at the place it names"
                              ) from None
        return cls.from_mapping({**values, **{k: v for k, v in overrides.items() if v is not None}}, str(path))

    def validate(self) -> None:
        """Raise `ConfigError` naming the first field that is of the wrong type, out of range or unknown."""
        from tether._validate import check_table, type_problem
        from tether.algos import registered_algos
        from tether.algos.registry import get_algo
        from tether.data.dataset import parse_action_kind
        from tether.ope import FQEConfig

        hints = typing.get_type_hints(RunConfig)
        for f in fields(self):
            problem = type_problem(getattr(self, f.name), hints[f.name])
            if problem:
                raise ConfigError(f.name, problem, f"give {f.name} a value like {f.default!r}"
                                  if f.default is not MISSING else f"see `tether run --help` for {f.name}")
        if not self.data:
            raise ConfigError("data", "is empty", "name a file, a Minari dataset, a built-in name or a scenario")
        if self.profile not in PROFILES:
            raise ConfigError("profile", f"unknown profile {self.profile!r}{did_you_mean(self.profile, PROFILES)}",
                              f"use one of {sorted(PROFILES)}")
        if self.size is not None and self.size < 1:
            raise ConfigError("size", f"must be a positive number of steps (episodes for scenarios), got {self.size}",
                              "pass 1 or more, or leave it out for the default size")
        if not 0 < self.gamma <= 1:
            raise ConfigError("gamma", f"must lie in (0, 1], got {self.gamma}", "use a discount such as 0.99")
        if self.seed < 0:
            raise ConfigError("seed", f"must be >= 0, got {self.seed}", "use a seed such as 0")
        parse_action_kind(self.action_space)
        algos = registered_algos()
        for name, steps in self.steps.items():
            if name not in ("baseline", "fqe", *algos):
                hint = did_you_mean(name, ["baseline", "fqe", *algos])
                raise ConfigError(f"[steps] {name}", f"unknown key {name!r}{hint}",
                                  f"use baseline, fqe or an algorithm: {algos}")
            if steps < 1:
                raise ConfigError(f"[steps] {name}", f"must be a positive number of steps, got {steps}",
                                  "use 1 or more")
        for name in self.candidates or []:
            get_algo(name)
        if self.candidates is not None and not self.candidates:
            raise ConfigError("candidates", "is an empty list", "name at least one candidate, or leave it out")
        for name, table in self.hyperparameters.items():
            check_table(get_algo(name).config_cls, table, f"[hyperparameters.{name}]")
        check_table(FQEConfig, self.fqe, "[fqe]")

    def check_against(self, data: LoggedDataset) -> None:
        """Refuse candidates (and hyperparameter tables) for the other kind of actions than the data hold."""
        from tether.algos.registry import algos_for, get_algo

        kind = data.action_space.kind
        for name in [*(self.candidates or []), *self.hyperparameters]:
            if get_algo(name).action_space != kind:
                where = f"candidates {name}" if name in (self.candidates or []) else f"[hyperparameters.{name}]"
                raise ConfigError(where, f"{name} learns {get_algo(name).action_space} actions but {self.data} "
                                  f"holds {kind} ones", f"choose among {algos_for(kind)} (or declare action_space "
                                  "if the actions were read as the wrong kind)")

    def steps_for(self, name: str) -> int:
        """Gradient steps for learner `name` (or `"fqe"`) under the profile and the `steps` overrides."""
        table = {**PROFILES[self.profile], **self.steps}
        return int(table.get(name, table["baseline"]))


def resume_config(out: Path, **given: Any) -> RunConfig:
    """The config a run in `out` started with; any option given again (data, config, profile, size,
    action_space) must agree with it, or the resume is refused naming the option."""
    path = Path(out) / "config.json"
    if not path.exists():
        raise ConfigError("--resume", f"{out} holds no config.json: there is no run to resume",
                          f"start a run with --out {out}, or pass the directory of an interrupted run")
    try:
        stored = RunConfig(**json.loads(path.read_text())["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ConfigError(str(path), f"cannot be read ({err})", "start a new run directory") from None
    config_path = given.pop("config", None)
    asked = {k: v for k, v in given.items() if v is not None}
    if "data" in asked:
        asked["data"] = absolute_data(asked["data"])
    if config_path is not None:
        asked = {**asdict(RunConfig.from_toml(config_path, **asked)), "data": absolute_data(
            RunConfig.from_toml(config_path, **asked).data)}
    for key, value in asked.items():
        if getattr(stored, key) != value:
            option = "--config" if config_path is not None else f"--{key.replace('_', '-')}"
            raise ConfigError(option, f"the run in {out} started with {key} = {getattr(stored, key)!r}, not {value!r}",
                              "drop the option to resume the run as it started, or start a new run with another --out")
    return stored


def absolute_data(data: str) -> str:
    """`data` as an absolute path when it names an existing file or directory (built-in names stay)."""
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


def _atomic_json(path: Path, payload) -> None:
    write_atomically(path, json.dumps(payload, indent=1, default=_jsonable))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def load_data(config: RunConfig) -> Source:
    """The run's data and the simulator truth behind them (a scenario's exact values, a task's env, or none)."""
    from tether.data.dataset import parse_action_kind

    return resolve(config.data, size=config.size, seed=config.seed, action_space=parse_action_kind(config.action_space),
                   with_truth=True)


def _instabilities(history: list, data: LoggedDataset, gamma: float, learner: Learner) -> list[str]:
    found = []
    values = [record.get("average_value") for _, record in history if record.get("average_value") is not None]
    bound = float(np.abs(data.rewards).max()) / (1 - gamma)
    if values and values[-1] > 2 * bound:
        found.append(f"value blow-up: average Q {values[-1]:.3g} exceeds twice the largest value any return "
                     f"could have ({bound:.3g})")
    if not data.action_space.is_discrete:
        sample = data.observations[np.linspace(0, data.n_steps - 1, min(2000, data.n_steps)).astype(int)]
        spread = learner.predict(sample).std(0).max()
        low, high = data.action_space.bounds
        span = float(np.max(high - low))
        if spread < 1e-3 * span:
            found.append(f"policy collapse: the same action in every state (spread {spread:.2g})")
    return found


def train_stage(name: str, config: RunConfig, data: LoggedDataset, out: Path, resume: bool,
                progress: bool = False) -> dict:
    """Train learner `name` (or reuse it when resuming) and return its summary: steps, seconds, instabilities."""
    run_dir = out / "learners" / name
    model_path = run_dir / "model.tether"
    summary_path = run_dir / "summary.json"
    if resume and summary_path.exists() and model_path.exists():
        return json.loads(summary_path.read_text())
    steps = config.steps_for("baseline" if name in ("bc", "discrete_bc") else name)
    cfg_cls = get_algo(name).config_cls
    overrides: dict[str, Any] = {"gamma": config.gamma} if "gamma" in cfg_cls.__dataclass_fields__ else {}
    overrides.update(config.hyperparameters.get(name, {}))
    if "hidden_dims" in overrides:
        overrides["hidden_dims"] = tuple(overrides["hidden_dims"])
    learner = cfg_cls(**overrides).create()
    evaluators: dict[str, Evaluator] = {"average_value": AverageValueEstimationEvaluator(max_transitions=1000)} \
        if get_algo(name).q_value is not None else {}
    start = time.perf_counter()
    diverged = None
    try:
        learner.fit(data, n_steps=steps, n_steps_per_epoch=max(steps // 5, 1), evaluators=evaluators,
                    seeds=[config.seed], show_progress=progress, run_dir=run_dir,
                    resume=resume and has_checkpoint(run_dir))
    except TrainingDivergedError as err:
        diverged = str(err)
    learner.save(model_path)
    history = [(epoch, {k: v for k, v in record.items() if isinstance(v, int | float)})
               for epoch, record in learner.history]
    problems = ([f"divergence: {diverged}"] if diverged else []) + _instabilities(history, data, config.gamma, learner)
    summary = {"algo": name, "steps": steps, "seconds": time.perf_counter() - start, "history": history,
               "instabilities": problems}
    _atomic_json(summary_path, summary)
    return summary


def evaluate_stage(name: str, config: RunConfig, data: LoggedDataset, out: Path, resume: bool, truth: Truth | None,
                   progress: bool = False) -> dict:
    """Offline evaluation of learner `name`: every estimator, the support check, and the truth when known."""
    from tether.ope import FQEConfig, evaluate_policy, support_check

    path = out / "evaluation" / f"{name}.json"
    if resume and path.exists():
        return json.loads(path.read_text())
    start = time.perf_counter()
    learner = load_learner(out / "learners" / name / "model.tether")
    data = evaluation_data(data, config)
    estimators = ("FQE", "IS", "PDIS", "WIS", "WPDIS", "DR", "WDR") if data.action_space.is_discrete else ("FQE",)
    fqe_options = {**config.fqe, **({"hidden_dims": tuple(config.fqe["hidden_dims"])} if "hidden_dims" in config.fqe
                                    else {})}
    fqe_config = FQEConfig(**{"gamma": config.gamma, **fqe_options})
    estimates = evaluate_policy(learner, data, gamma=config.gamma, estimators=estimates_for(data, estimators),
                                fqe_steps=config.steps_for("fqe"), fqe_config=fqe_config, seed=config.seed,
                                show_progress=progress, fqe_run_dir=out / "evaluation" / name, resume=resume)
    support = support_check(learner, data, seed=config.seed)
    result = {"estimates": {k: asdict(v) | {"trusted": v.trusted} for k, v in estimates.items()},
              "support": asdict(support), "truth": true_value(learner, truth, config.gamma),
              "evaluated_steps": data.n_steps, "evaluated_episodes": data.n_episodes,
              "seconds": time.perf_counter() - start}
    _atomic_json(path, result)
    return result


def evaluation_data(data: LoggedDataset, config: RunConfig) -> LoggedDataset:
    """The episodes offline evaluation uses: all, or a seeded random subset within the profile's step cap."""
    cap = EVAL_STEPS[config.profile]
    if cap is None or data.n_steps <= cap:
        return data
    fraction = cap / data.n_steps
    return data.subsample(fraction=fraction, seed=config.seed)


def estimates_for(data: LoggedDataset, estimators: tuple[str, ...]) -> tuple[str, ...]:
    """The IS family only where propensities are logged (a fitted model's estimates are run by the
    audit's reproducibility check instead, and the memo says they were skipped)."""
    if data.behavior_log_probs is None:
        return tuple(e for e in estimators if e == "FQE")
    return estimators


def true_value(learner: Learner, truth: Truth | None, gamma: float) -> dict | None:
    """Ground truth where a simulator exists: exact (scenarios) or by rollouts (gym env; undiscounted)."""
    if truth is None:
        return None
    if isinstance(truth, ExactTruth):
        return {"kind": "exact", "discounted": truth.true_value(learner, gamma), "undiscounted": truth.true_value(
            learner, 1.0)}
    from tether.algos import EnvironmentEvaluator

    return {"kind": "rollouts (5 episodes)", "undiscounted": EnvironmentEvaluator(truth, n_trials=5)(learner)}


def run(config: RunConfig, out: Path, resume: bool = False, log=print, progress: bool = False) -> dict:
    """Run the whole workflow into `out` and return the results (also written to `out/results.json`).

    `resume=True` continues the run stored in `out` with the config it started with; `progress` shows
    steps, rate and ETA within each training and evaluation stage (plain lines off a terminal)."""
    from tether.audit import audit
    from tether.ope import SupportReport, behavior_value_interval, improvements
    from tether.ope.evaluate import Estimate
    from tether.report import gate
    from tether.report.memo import write_memo

    out = Path(out)
    config_path = out / "config.json"
    config = resume_config(out) if resume else replace(config, data=absolute_data(config.data))
    started = time.perf_counter()
    log(f"loading {config.data}")
    source = load_data(config)
    data, truth = source.dataset, source.truth
    config.check_against(data)
    fingerprint = data.fingerprint()
    if resume and json.loads(config_path.read_text())["fingerprint"] != fingerprint:
        raise DatasetError(config.data, "changed since the run in this directory started (its fingerprint differs)",
                           "restore the data the run started with, or start a new run with another --out")
    _atomic_json(config_path, {"config": asdict(config), "fingerprint": fingerprint, "versions": versions(),
                               "seeds": [config.seed]})
    log(f"auditing {data.n_steps:,} steps in {data.n_episodes:,} episodes")
    audit_path = out / "audit.json"
    if resume and audit_path.exists():
        audit_json = json.loads(audit_path.read_text())
    else:
        audit_json = audit(data, reference=source.coverage_reference(), seed=config.seed).to_json()
        _atomic_json(audit_path, audit_json)
    baseline = baseline_for(data.action_space.kind)
    candidates = list(config.candidates or candidates_for(data.action_space.kind))
    only = PROFILE_CANDIDATES.get(config.profile)
    if only and config.candidates is None:
        candidates = [c for c in candidates if c in only]
    names = [baseline, *candidates]
    training, evaluation = {}, {}
    for i, name in enumerate(names):
        stage = f"[{i + 1}/{len(names)}]"
        log(f"{stage} training {name} ({config.steps_for('baseline' if name == baseline else name):,} steps)")
        training[name] = train_stage(name, config, data, out, resume, progress)
        log(f"{stage} evaluating {name} offline ({config.steps_for('fqe'):,} FQE steps)")
        evaluation[name] = evaluate_stage(name, config, data, out, resume, truth, progress)
    behavior = behavior_value_interval(data, config.gamma, seed=config.seed)
    bc_fqe = evaluation[baseline]["estimates"]["FQE"]["value"]
    decisions = {}
    for name in candidates:
        estimates = {k: Estimate(**{f: v[f] for f in Estimate.__dataclass_fields__ if f in v})
                     for k, v in evaluation[name]["estimates"].items()}
        gains = improvements(estimates, behavior)
        support = SupportReport(**evaluation[name]["support"])
        decisions[name] = asdict(gate.decide(name, audit_json["verdict"],
                                             audit_json["diagnostics"]["reproducibility"]["hidden_information_gap"],
                                             estimates, gains, bc_fqe, support, training[name]["instabilities"]))
        decisions[name]["improvements"] = gains
    exports = {name: export_stage(name, data, out) for name in candidates if decisions[name]["decision"] != "no-go"}
    results = {"config": asdict(config), "fingerprint": fingerprint, "versions": versions(), "audit": audit_json,
               "behavior_value": {"mean": behavior[0], "interval": behavior[1:]}, "training": training,
               "evaluation": evaluation, "decisions": decisions, "baseline": baseline,
               "candidates": candidates, "truth_kind": _truth_kind(truth), "data_summary": _data_summary(data, config),
               "exports": exports,
               "seconds": time.perf_counter() - started}
    _atomic_json(out / "results.json", results)
    write_memo(results, out)
    log(f"memo: {out / 'memo.html'} and {out / 'memo.md'}")
    return results


def export_stage(name: str, data: LoggedDataset, out: Path) -> dict:
    """The greedy policy of learner `name` as `learners/<name>/policy.onnx`, for the guarded test or serving
    the memo asks for: `{"path": ...}`, or `{"error": ...}` when the learner cannot be exported."""

    path = out / "learners" / name / "policy.onnx"
    try:
        load_learner(out / "learners" / name / "model.tether").save_policy(
            path, action_masks=data.action_space.is_discrete and data.action_masks is not None)
    except ValueError as err:
        return {"error": str(err)}
    return {"path": str(path.relative_to(out))}


def _truth_kind(truth: Truth | None) -> str | None:
    if truth is None:
        return None
    return "simulator (exact values)" if isinstance(truth, ExactTruth) else "simulator (rollouts)"


def _data_summary(data: LoggedDataset, config: RunConfig) -> dict:
    return {"name": config.data, "steps": data.n_steps, "episodes": data.n_episodes,
            "returns": data.episode_returns().tolist(), "discrete": data.action_space.is_discrete,
            "propensities_logged": data.behavior_log_probs is not None, "metadata": {
                k: v for k, v in data.metadata.items() if isinstance(v, str | int | float | bool)}}


def versions() -> dict:
    """Versions of Python, JAX and tether, recorded with every run."""
    import jax

    import tether

    return {"tether": getattr(tether, "__version__", "0.1.0"), "jax": jax.__version__, "numpy": np.__version__,
            "python": platform.python_version()}
