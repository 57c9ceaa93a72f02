"""The fixed fixture behind tether's importance-sampling regression test: small logs with their inputs
(behaviour propensities, the target policy's action distribution, Q estimates for every action) and the
values two independent libraries give for them.

    python -m venv /tmp/obp && /tmp/obp/bin/pip install torch obp==0.4.1 --no-deps  (+ its runtime deps)
    /tmp/obp/bin/python bench/ope_peer_fixture.py obp
    python -m venv /tmp/scope && /tmp/scope/bin/pip install scope-rl==0.2.1
    /tmp/scope/bin/python bench/ope_peer_fixture.py scope-rl

Each run adds its library's values to `tests/ope/fixtures/ope_peer_fixture.json` (inputs first, drawn
from a fixed seed; a run with another library keeps them). Open Bandit Pipeline values the bandit log
(one-step episodes: IPW, SNIPW, DR, SNDR); SCOPE-RL values the trajectory log (TIS, PDIS, SNTIS,
SNPDIS, DR, SNDR). This script imports neither tether nor anything it depends on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "ope" / "fixtures" / "ope_peer_fixture.json"


def _log(rng: np.random.Generator, n_rows: int, n_actions: int) -> dict:
    """Rows of logged decisions: behaviour and target distributions kept away from zero, Q in [0, 2], rewards
    exact in float32 (tether's storage type), so the comparison tests the estimators, not the rounding."""
    behavior = 0.7 * rng.dirichlet(np.full(n_actions, 2.0), n_rows) + 0.3 / n_actions
    target = 0.8 * rng.dirichlet(np.full(n_actions, 0.5), n_rows) + 0.2 / n_actions
    actions = np.array([rng.choice(n_actions, p=p) for p in behavior])
    rewards = rng.normal(0.5 + 0.3 * actions, 1.0).astype(np.float32).astype(np.float64)  # as tether stores them
    return {"actions": actions.tolist(), "rewards": rewards.tolist(),
            "pscore": behavior[np.arange(n_rows), actions].tolist(), "target_probs": target.tolist(),
            "q_hat": rng.uniform(0.0, 2.0, (n_rows, n_actions)).tolist()}


def inputs() -> dict:
    rng = np.random.default_rng(2026)
    bandit = {"n_actions": 4, **_log(rng, 300, 4)}
    trajectories = {"n_actions": 3, "n_episodes": 60, "steps_per_episode": 8, "gamma": 0.95, **_log(rng, 480, 3)}
    return {"bandit": bandit, "trajectories": trajectories}


def obp_values(bandit: dict) -> dict[str, float]:
    from obp.ope import (
        DoublyRobust,
        InverseProbabilityWeighting,
        SelfNormalizedDoublyRobust,
        SelfNormalizedInverseProbabilityWeighting,
    )

    args = {"reward": np.asarray(bandit["rewards"]), "action": np.asarray(bandit["actions"]),
            "pscore": np.asarray(bandit["pscore"]), "action_dist": np.asarray(bandit["target_probs"])[:, :, None]}
    q_hat = np.asarray(bandit["q_hat"])[:, :, None]
    return {"IPW": InverseProbabilityWeighting().estimate_policy_value(**args),
            "SNIPW": SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**args),
            "DR": DoublyRobust().estimate_policy_value(**args, estimated_rewards_by_reg_model=q_hat),
            "SNDR": SelfNormalizedDoublyRobust().estimate_policy_value(**args, estimated_rewards_by_reg_model=q_hat)}


def scope_rl_values(log: dict) -> dict[str, float]:
    from scope_rl.ope.discrete import (
        DoublyRobust,
        PerDecisionImportanceSampling,
        SelfNormalizedDR,
        SelfNormalizedPDIS,
        SelfNormalizedTIS,
        TrajectoryWiseImportanceSampling,
    )

    args = {"step_per_trajectory": log["steps_per_episode"], "action": np.asarray(log["actions"]),
            "reward": np.asarray(log["rewards"]), "pscore": np.asarray(log["pscore"]),
            "evaluation_policy_action_dist": np.asarray(log["target_probs"]),
            "state_action_value_prediction": np.asarray(log["q_hat"]), "gamma": log["gamma"]}
    estimators = {"TIS": TrajectoryWiseImportanceSampling(), "PDIS": PerDecisionImportanceSampling(),
                  "SNTIS": SelfNormalizedTIS(), "SNPDIS": SelfNormalizedPDIS(), "DR": DoublyRobust(),
                  "SNDR": SelfNormalizedDR()}
    return {name: float(estimator.estimate_policy_value(**args)) for name, estimator in estimators.items()}


def main() -> None:
    library = sys.argv[1] if len(sys.argv) > 1 else ""
    if library not in ("obp", "scope-rl"):
        sys.exit("usage: ope_peer_fixture.py obp|scope-rl")
    fixture = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {"inputs": inputs(), "values": {}}
    if library == "obp":
        import obp

        values = {k: float(v) for k, v in obp_values(fixture["inputs"]["bandit"]).items()}
        fixture["values"]["obp"] = {"version": obp.__version__, "log": "bandit", **values}
    else:
        import scope_rl

        fixture["values"]["scope-rl"] = {"version": scope_rl.__version__, "log": "trajectories",
                                         **scope_rl_values(fixture["inputs"]["trajectories"])}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    print(json.dumps(fixture["values"], indent=1))


if __name__ == "__main__":
    main()
