"""What `tether run` does: `RunConfig` (from run.toml or options), the profiles of step budgets, and the
check that a resumed run agrees with how it started. Everything is validated before any compute."""

from __future__ import annotations

import json
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tether.data import LoggedDataset
from tether.errors import ConfigError, did_you_mean

# gradient steps per learner and for each FQE, by profile
# offline evaluation fits on a random subset of whole episodes up to this many steps (None: all)
EVAL_STEPS = {"quick": 100_000, "seed": 200_000, "full": None}

PROFILES: dict[str, dict[str, int]] = {
    "quick": {"baseline": 3000, "cql": 1000, "bcq": 1000, "iql": 3000, "td3_plus_bc": 3000, "discrete_cql": 3000,
              "discrete_bcq": 3000, "fqe": 5000},
    "seed": {"baseline": 10_000, "cql": 20_000, "discrete_cql": 20_000, "fqe": 10_000},
    "full": {"baseline": 50_000, "cql": 100_000, "bcq": 100_000, "iql": 100_000, "td3_plus_bc": 100_000,
             "rebrac": 100_000, "sac_n": 100_000, "edac": 100_000, "mopo": 100_000, "morel": 100_000,
             "discrete_cql": 50_000, "discrete_bcq": 50_000, "fqe": 30_000},
}
# the evaluation's dynamics ensemble trains at most this many updates (early-stopped on held-out episodes)
MODEL_STEPS = 20_000
# FQE trains its profile's steps, then on while its convergence check fails, up to this many times them
FQE_EXTENSION = 4
# profiles that train only some candidates (unless the config names them)
# (quick: the continuous candidates that learn something in its budget; CQL and BCQ need the longer profiles)
PROFILE_CANDIDATES: dict[str, tuple[str, ...]] = {"quick": ("iql", "td3_plus_bc", "discrete_cql", "discrete_bcq"),
                                                  "seed": ("cql", "discrete_cql")}


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
    # fit a dynamics ensemble to the logs for the model-based estimate (MB) and the model support check;
    # None: only in the full profile (the ensemble costs minutes on a CPU)
    model_evaluation: bool | None = None

    @property
    def evaluates_with_model(self) -> bool:
        """Whether offline evaluation fits a dynamics ensemble (`model_evaluation`, else the full profile only)."""
        return self.profile == "full" if self.model_evaluation is None else self.model_evaluation

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
            if name not in ("baseline", "fqe", "fqe_max", "model", *algos):
                hint = did_you_mean(name, ["baseline", "fqe", "fqe_max", "model", *algos])
                raise ConfigError(f"[steps] {name}", f"unknown key {name!r}{hint}",
                                  f"use baseline, fqe, fqe_max, model or an algorithm: {algos}")
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
        """Gradient steps for learner `name` (or `"fqe"`) under the profile and the `steps` overrides;
        `"fqe_max"`: FQE's ceiling while its convergence check fails (default `FQE_EXTENSION` x `fqe`)."""
        table = {**PROFILES[self.profile], **self.steps}
        if name == "model":
            return int(table.get("model", MODEL_STEPS))
        if name == "fqe_max":
            return max(int(table.get("fqe_max", FQE_EXTENSION * self.steps_for("fqe"))), self.steps_for("fqe"))
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
        from_file = RunConfig.from_toml(config_path, **asked)
        asked = {**asdict(from_file), "data": absolute_data(from_file.data)}
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
