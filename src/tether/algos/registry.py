"""The one list of tether's learners. Adding a learner: its file (ending in `SPEC = AlgoSpec(...)`),
one line in `ALGORITHMS` below, and its own tests; the command line's choices and help, `tether run`'s
candidates, `tether.d3rlpy`'s names and the contract test all read this list.

`INTERACTIVE` lists the learners that train by acting in an environment against a learned reward
(GAIL, AIRL: `SPEC = InteractiveSpec(...)`); the engine does not fit them on a log, so they are never
`tether train` algorithms or `tether run` candidates, and `tether gail` / `tether airl` build them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tether.algos import (
    airl,
    bc,
    bcq,
    cql,
    dagger,
    discrete_bc,
    discrete_bcq,
    discrete_cql,
    edac,
    gail,
    iql,
    mopo,
    morel,
    rebrac,
    sac_n,
    td3_plus_bc,
)
from tether.algos.base import AlgoSpec, InteractiveSpec
from tether.algos.config import LearnerConfig
from tether.algos.engine import Learner
from tether.algos.model_file import read_model_file
from tether.errors import ConfigError, ModelFileError, did_you_mean

# in the order `tether run` trains them: each action space's baseline, then its candidates
ALGORITHMS: dict[str, AlgoSpec] = {spec.name: spec for spec in (
    bc.SPEC,
    cql.SPEC,
    iql.SPEC,
    td3_plus_bc.SPEC,
    bcq.SPEC,
    rebrac.SPEC,
    sac_n.SPEC,
    edac.SPEC,
    mopo.SPEC,
    morel.SPEC,
    dagger.SPEC,
    discrete_bc.SPEC,
    discrete_cql.SPEC,
    discrete_bcq.SPEC,
    dagger.DISCRETE_SPEC,
)}

INTERACTIVE: dict[str, InteractiveSpec] = {spec.name: spec for spec in (gail.SPEC, airl.SPEC)}


def get_algo(name: str) -> AlgoSpec:
    """The algorithm `name` (raises `ConfigError` naming the closest known name)."""
    if name in INTERACTIVE:
        raise ConfigError("algorithm", f"{name} learns by acting in an environment, not from a log alone",
                          f"run `tether {name} --env TASK --demos DATA` (Python: tether.imitation.train_{name})")
    if name not in ALGORITHMS:
        raise ConfigError("algorithm", f"unknown algorithm {name!r}{did_you_mean(str(name), ALGORITHMS)}",
                          f"choose one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[name]


def get_interactive(name: str) -> InteractiveSpec:
    """The environment-trained learner `name` (`"gail"`, `"airl"`; raises `ConfigError` naming the closest)."""
    if name not in INTERACTIVE:
        raise ConfigError("algorithm", f"unknown learner {name!r}{did_you_mean(str(name), INTERACTIVE)}",
                          f"choose one of {sorted(INTERACTIVE)}")
    return INTERACTIVE[name]


def interactive_config_from_json(data: dict[str, Any]) -> Any:
    """Rebuild a GAIL or AIRL config from `OnPolicyConfig.to_json`'s output."""
    return get_interactive(str(data.get("type"))).config_cls.from_json(data)


def registered_algos() -> list[str]:
    """Names of every algorithm, sorted."""
    return sorted(ALGORITHMS)


def algos_for(action_space: str) -> list[str]:
    """Names of the algorithms that learn `"continuous"` or `"discrete"` actions."""
    return sorted(name for name, spec in ALGORITHMS.items() if spec.action_space == action_space)


def baseline_for(action_space: str) -> str:
    """The behaviour-cloning baseline `tether run` trains for `"continuous"` or `"discrete"` actions."""
    return next(name for name, spec in ALGORITHMS.items() if spec.baseline and spec.action_space == action_space)


def candidates_for(action_space: str) -> list[str]:
    """The learners `tether run` compares with the baseline by default: every other offline learner for
    that action space, in registry order (learners that need an environment are never defaults)."""
    return [name for name, spec in ALGORITHMS.items() if spec.action_space == action_space and not spec.baseline
            and not spec.needs_environment]


def check_action_space(name: str, dataset_kind: str) -> None:
    """Refuse to train algorithm `name` on data of the other action kind, naming the algorithms that fit."""
    get_algo(name).check_action_space(dataset_kind, algos_for(dataset_kind))


def config_from_json(data: dict[str, Any]) -> LearnerConfig:
    """Rebuild a config of any algorithm from `LearnerConfig.to_json`'s output."""
    import dataclasses

    spec = get_algo(data["type"])
    fields = {f.name: f for f in dataclasses.fields(spec.config_cls)}
    params: dict[str, Any] = {k: tuple(v) if isinstance(v, list) and "tuple" in str(fields[k].type) else v
                              for k, v in data["params"].items()}
    return spec.config_cls(**params)


def load_learner(path: str | Path, device: str | bool | None = False, algorithm: str | None = None,
                 learner_cls: type[Learner] = Learner) -> Learner:
    """Load a learner written by `Learner.save` (works on a machine without a GPU), as `learner_cls`.

    Raises:
        ModelFileError: the file is missing, truncated, altered, non-finite, not a learner, of another
            algorithm than `algorithm` (when given), or of a layout this version does not build.
    """
    payload = read_model_file(path, "learner", algorithm)
    try:
        config = config_from_json(json.loads(payload["config"]))
    except (ConfigError, KeyError, TypeError) as err:
        raise ModelFileError(str(path), f"holds a config this tether cannot build ({err})",
                             "load it with the tether version that wrote it, or train again") from None
    learner = learner_cls(config, device=device)
    learner.restore(payload, path)
    return learner
