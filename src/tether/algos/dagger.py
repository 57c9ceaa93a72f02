"""DAgger: behaviour cloning that asks an expert to label the states the learner itself reaches.

BC learns only where the expert's demonstrations went; once the cloned policy errs, it reaches
states nobody labelled and its errors compound (cost up to O(T^2 eps) over T steps). DAgger (Ross,
Gordon and Bagnell, AISTATS 2011) rolls the current policy out, asks the expert what it would have
done in each visited state, adds those labels to one growing dataset and fits the policy again
(O(T eps)). Each fit here is BC's own update on the engine; the loop that rolls out, queries the
expert and aggregates lives in `tether.imitation.dagger` (it needs an environment and an expert).

Differences from `imitation`'s `DAggerTrainer` (v1.0.1):
- each round fits the policy afresh on all labels so far (the paper's "train on the aggregate");
  imitation continues from the previous weights for a few epochs. A fresh fit makes every round
  a function of its data and seed, so a killed run resumes to the same policy.
- `beta` is the exponential schedule `beta_r = beta ** r` after round 0; the default 0 is the
  paper's best choice (the expert acts only in round 0); imitation defaults to a linear ramp over
  15 rounds, and runs the expert at every visited state regardless.
- `query="uncertain"` asks for a label only where an ensemble of `ensemble_size` policies (seeds
  trained side by side) is unsure: the entropy of their mean action distribution (discrete), or the
  mean over action dimensions of their actions' standard deviation in [-1, 1] units (continuous),
  above `query_threshold`. Every visited state is labelled with `query="all"`.
- a human expert labels asynchronously (`tether dagger label`): after round 0 the policy alone acts,
  whatever `beta` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.algos import bc, discrete_bc
from tether.algos.base import AlgoSpec
from tether.algos.bc import BCConfig
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class DAggerSettings:
    """The DAgger loop's settings, shared by the continuous and the discrete variant.

    Args:
        rounds: rounds after round 0 (the expert's demonstrations, given or rolled out).
        demo_episodes: expert episodes rolled out in round 0 when no demonstrations are given.
        episodes_per_round: episodes the learner rolls out each round.
        steps_per_round: gradient steps of each round's fresh fit on all labels so far.
        beta: the expert acts at a step with probability `beta ** round` (round >= 1); 0: never.
        label_budget: the most labels (expert queries) the whole run may spend; None for no cap.
        query: `"all"` labels every visited state; `"uncertain"` only those where the ensemble is unsure.
        query_threshold: the uncertainty above which a state is queried: for discrete actions the
            entropy in nats of the ensemble's mean distribution (0.5; uniform over 3 actions is 1.1), for
            continuous ones the ensemble's action std in half-ranges of the bounds (0.05).
        ensemble_size: policies trained side by side (seeds) to measure uncertainty; the first acts.
    """

    rounds: int = 10
    demo_episodes: int = 5
    episodes_per_round: int = 5
    steps_per_round: int = 2000
    beta: float = 0.0
    label_budget: int | None = None
    query: str = "all"
    query_threshold: float = 0.5
    ensemble_size: int = 1

    def check_settings(self) -> None:
        """Raise `ConfigError` naming the first bad setting."""
        for name in ("rounds", "demo_episodes", "episodes_per_round", "steps_per_round", "ensemble_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name in ("rounds", "demo_episodes") else 1):
                raise ConfigError(name, f"must be a whole number of at least "
                                  f"{0 if name in ('rounds', 'demo_episodes') else 1}, got {value!r}",
                                  f"set {name} to a positive whole number")
        if not 0.0 <= self.beta <= 1.0:
            raise ConfigError("beta", f"must lie in [0, 1], got {self.beta}", "use 0 (the paper's choice) up to 1")
        if self.label_budget is not None and self.label_budget < 1:
            raise ConfigError("label_budget", f"must be positive or None, got {self.label_budget}",
                              "set a positive number of labels, or None for no cap")
        if self.query not in ("all", "uncertain"):
            raise ConfigError("query", f"must be 'all' or 'uncertain', got {self.query!r}", "use 'all' or 'uncertain'")
        if self.query == "uncertain" and self.ensemble_size < 2:
            raise ConfigError("ensemble_size", "query='uncertain' needs at least 2 policies to measure disagreement",
                              "set ensemble_size=5 (or query='all')")
        if self.query_threshold < 0:
            raise ConfigError("query_threshold", f"must be >= 0, got {self.query_threshold}", "use 0 or more")


@dataclass(frozen=True, kw_only=True)
class DAggerConfig(DAggerSettings, BCConfig):
    """DAgger for continuous actions: BC's policy and update (see `BCConfig`) plus the loop's settings."""

    TYPE = "dagger"
    query_threshold: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_settings()


@dataclass(frozen=True, kw_only=True)
class DiscreteDAggerConfig(DAggerSettings, DiscreteBCConfig):
    """DAgger for discrete actions: discrete BC's policy and update (see `DiscreteBCConfig`) plus the loop's
    settings."""

    TYPE = "discrete_dagger"
    query_threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_settings()


SPEC = AlgoSpec("dagger", DAggerConfig, init=bc.init, update=bc.update, act=bc.act, needs_environment=True)
DISCRETE_SPEC = AlgoSpec("discrete_dagger", DiscreteDAggerConfig, init=discrete_bc.init, update=discrete_bc.update,
                         act=discrete_bc.act, action_space="discrete", needs_environment=True)
