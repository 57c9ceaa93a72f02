"""What `tether run`'s stages hand each other and the memo: typed records, each with its JSON form.

The run directory stores them as JSON (`audit.json`, `learners/<algo>/summary.json`,
`evaluation/<algo>.json`, `results.json`); `from_json` reads them back when a run resumes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tether.audit import AuditReport
from tether.audit.verdict import Reason
from tether.data import LoggedDataset
from tether.ope.evaluate import Estimate
from tether.ope.support import SupportReport
from tether.workflow.config import RunConfig
from tether.workflow.gate import Decision


def audit_from_json(data: dict[str, Any]) -> AuditReport:
    """The `AuditReport` that `AuditReport.to_json` wrote."""
    return AuditReport(data["verdict"], [Reason(**r) for r in data["reasons"]], data["diagnostics"],
                       list(data["next_steps"]))


@dataclass
class TrainingRecord:
    """One learner's training: budget, wall time, the per-epoch metrics and any instability found."""

    algo: str
    steps: int
    seconds: float
    history: list[tuple[int, dict[str, float]]]
    instabilities: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingRecord:
        return cls(data["algo"], int(data["steps"]), float(data["seconds"]),
                   [(int(epoch), dict(record)) for epoch, record in data["history"]], list(data["instabilities"]))


@dataclass
class TruthValue:
    """A simulator's value of a learned policy: exact (scenarios, discounted and not) or by rollouts."""

    kind: str
    discounted: float | None = None
    undiscounted: float | None = None
    standard_error: float | None = None  # of `discounted`, for rollouts (Monte-Carlo error)

    @property
    def value(self) -> float | None:
        """The value comparable with the estimates: discounted when known, else the rollouts' return."""
        return self.discounted if self.discounted is not None else self.undiscounted


@dataclass
class Evaluation:
    """One learner's offline evaluation: every estimate, the support check, and the truth when known."""

    estimates: dict[str, Estimate]
    support: SupportReport
    truth: TruthValue | None
    evaluated_steps: int
    evaluated_episodes: int
    seconds: float
    model_support: SupportReport | None = None  # the dynamics ensemble's support check, when the run fits one

    def to_json(self) -> dict[str, Any]:
        return {"estimates": {k: asdict(v) | {"trusted": v.trusted} for k, v in self.estimates.items()},
                "support": asdict(self.support), "truth": None if self.truth is None else asdict(self.truth),
                "evaluated_steps": self.evaluated_steps, "evaluated_episodes": self.evaluated_episodes,
                "seconds": self.seconds,
                "model_support": None if self.model_support is None else asdict(self.model_support)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        fields = Estimate.__dataclass_fields__
        estimates: dict[str, Estimate] = {}
        for name, stored in data["estimates"].items():
            values: dict[str, Any] = {f: stored[f] for f in fields if f in stored}
            values["interval"] = tuple(values["interval"])
            estimates[name] = Estimate(**values)
        truth = None if data.get("truth") is None else TruthValue(**data["truth"])
        model_support = None if data.get("model_support") is None else SupportReport(**data["model_support"])
        return cls(estimates, SupportReport(**data["support"]), truth, int(data["evaluated_steps"]),
                   int(data["evaluated_episodes"]), float(data["seconds"]), model_support)


@dataclass
class BehaviorValue:
    """The logging policy's value from its own returns, with a bootstrap interval."""

    mean: float
    interval: tuple[float, float]


@dataclass
class DataSummary:
    """The data as the memo describes them."""

    name: str
    steps: int
    episodes: int
    returns: list[float]
    discrete: bool
    propensities_logged: bool
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, data: LoggedDataset, name: str) -> DataSummary:
        return cls(name, data.n_steps, data.n_episodes, data.episode_returns().tolist(), data.action_space.is_discrete,
                   data.logged_log_propensities() is not None,
                   {k: v for k, v in data.metadata.items() if isinstance(v, str | int | float | bool)})


@dataclass
class Export:
    """A candidate's ONNX policy (`path`, relative to the run directory), or why there is none."""

    path: str | None = None
    error: str | None = None


@dataclass
class RunResults:
    """Everything `tether run` found, in the order the memo tells it."""

    config: RunConfig
    fingerprint: str
    versions: dict[str, str]
    audit: AuditReport
    behavior_value: BehaviorValue
    baseline: str
    candidates: list[str]
    training: dict[str, TrainingRecord]
    evaluation: dict[str, Evaluation]
    decisions: dict[str, Decision]
    exports: dict[str, Export]
    truth_kind: str | None
    data_summary: DataSummary
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to `results.json`."""
        return {"config": asdict(self.config), "fingerprint": self.fingerprint, "versions": self.versions,
                "audit": self.audit.to_json(), "behavior_value": asdict(self.behavior_value),
                "baseline": self.baseline, "candidates": self.candidates,
                "training": {k: v.to_json() for k, v in self.training.items()},
                "evaluation": {k: v.to_json() for k, v in self.evaluation.items()},
                "decisions": {k: asdict(v) for k, v in self.decisions.items()},
                "exports": {k: {f: v for f, v in asdict(e).items() if v is not None} for k, e in self.exports.items()},
                "truth_kind": self.truth_kind, "data_summary": asdict(self.data_summary), "seconds": self.seconds}
