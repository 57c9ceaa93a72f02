"""Verdicts against the truth: the audit and the gate on every shipped scenario, the clinic confounding
family and the D4RL-style datasets.

    python -m bench.verdicts [--only NAME ...] [--skip-runs]

A scenario row runs `tether run` (quick profile) and compares the gate's decision on every policy (the
BC baseline and the candidates) with its exact true value against the behaviour policy's (both
undiscounted). The logs support an improvement when some policy is truly better by more than `MARGIN`
of the behaviour's value and the logs do not mislead: on tabular scenarios, the policy the logs recommend
(greedy in the MDP they estimate, `FiniteMDP.certainty_equivalent_table`) must not be truly worse than the
behaviour. A row is a true go when the gate sends a truly better policy where the logs support one; a
"go" for a policy that is not truly better, or on logs that mislead, is a false go.
D4RL-style rows (100,000 steps) report the audit's verdict only (a run per dataset is beyond this
machine's budget): they must stay offline-rl or bc-only for expert logs. Rows are appended to
`bench/results/verdicts.log.jsonl` as they finish, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench._results import RESULTS, write_results

MARGIN = 0.05  # a true gain above 5% of |behaviour value| counts as a supported improvement
D4RL_SIZE = 100_000
LOG = RESULTS / "verdicts.log.jsonl"


def scenario_row(name: str, scenario=None) -> dict:
    """Run the workflow on a scenario and judge each gate decision against the exact truth.

    `scenario`: an unregistered one (a member of the clinic family), run from a saved log of it."""
    from tether.algos.registry import load_learner
    from tether.data import save_dataset
    from tether.envs.scenarios import get_scenario
    from tether.workflow.config import RunConfig
    from tether.workflow.run import run

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if scenario is None:
            scenario = get_scenario(name)
            config = RunConfig(data=name)
        else:
            data_path = Path(tmp) / f"{name}.npz"
            save_dataset(scenario.logs(), data_path)
            config = RunConfig(data=str(data_path))
        results = run(config, Path(tmp) / "run", log=lambda *_: None)
        truths = {c: scenario.true_value(load_learner(Path(tmp) / "run" / "learners" / c / "model.tether"), 1.0)
                  for c in results.decisions}
    behavior = scenario.behavior_value(1.0)
    decisions = {c: d.decision for c, d in results.decisions.items()}
    margin = MARGIN * max(abs(behavior), 1.0)
    misleading = None
    if scenario.mdp is not None:  # the policy the logs recommend, valued exactly: do they mislead?
        recommended = scenario.mdp.value(scenario.mdp.certainty_equivalent_table(scenario.logs()))
        misleading = recommended < behavior
    gone = [c for c in decisions if decisions[c] == "go"]
    false_go = [c for c in gone if truths[c] <= behavior or misleading]
    supported = [] if misleading else [c for c in decisions if truths[c] > behavior + margin]
    true_go = [c for c in supported if decisions[c] == "go"]
    truth = ("the logs mislead: the policy they recommend is truly worse than the behaviour "
             f"({recommended:.2f})" if misleading else
             "supported improvement: " + ", ".join(f"{c} {truths[c]:.2f}" for c in supported) if supported
             else "no policy truly better")
    return {"scenario": name, "kind": "simulator (exact)", "failure_mode": scenario.failure_mode,
            "truth": f"{truth} (behaviour {behavior:.2f})",
            "audit_verdict": results.audit.verdict,
            "gate_decisions": ", ".join(f"{c}: {d}" for c, d in decisions.items()),
            "why_not_go": " | ".join(f"{c}: " + "; ".join(d.reasons[:3]) for c, d in results.decisions.items()
                                     if d.decision != "go"),
            "false_go": len(false_go), "supported": int(bool(supported)), "true_go": int(bool(true_go)),
            "correct": not false_go and bool(true_go) == bool(supported),
            "seconds": round(time.perf_counter() - started, 1)}


def d4rl_row(name: str) -> dict:
    """The audit's verdict on a D4RL-style dataset (offline-rl expected, bc-only for expert logs)."""
    from tether.audit import audit
    from tether.datasets import get_dataset

    started = time.perf_counter()
    data, _ = get_dataset(name, size=D4RL_SIZE, create_env=False)
    report = audit(data)
    drivers = report.diagnostics["hidden_drivers"]
    expected = "bc-only" if "-expert-" in name and "medium" not in name else "offline-rl"
    return {"scenario": name, "kind": "D4RL-style (audit only)", "failure_mode": "none",
            "truth": f"published: {expected} (D4RL results)", "audit_verdict": report.verdict,
            "gate_decisions": "not run", "false_go": 0, "supported": 0, "true_go": 0,
            "correct": report.verdict == expected,
            "decision_gain": round(drivers["decisions"]["gain"], 4),
            "decision_relative": round(drivers["decisions"]["relative"], 3),
            "outcome_share": round(drivers["outcomes"]["share"], 4),
            "seconds": round(time.perf_counter() - started, 1)}


def _family() -> dict:
    from tether.envs.scenarios import clinic_scenario

    return {f"clinic-c{c:g}": clinic_scenario(c) for c in (0.25, 0.5, 1.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="row names to (re)compute")
    parser.add_argument("--skip-runs", action="store_true", help="compute D4RL audit rows only (report all rows)")
    args = parser.parse_args()
    from tether.datasets import dataset_names
    from tether.envs.scenarios import scenario_names

    done = {}
    if LOG.exists():
        for line in LOG.read_text().splitlines():
            row = json.loads(line)
            done[row["scenario"]] = row
    family = _family()
    jobs: list = [(n, d4rl_row, ()) for n in dataset_names()]  # cheap rows first
    jobs += [(n, scenario_row, (s,)) for n, s in family.items()] + [(n, scenario_row, ()) for n in scenario_names()]
    for name, make_row, extra in jobs:
        if name in done and not (args.only and name in args.only):
            continue
        if (args.only and name not in args.only) or (args.skip_runs and make_row is scenario_row):
            continue
        row = make_row(name, *extra)
        done[name] = row
        with LOG.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    rows = [done[n] for n, *_ in jobs if n in done]
    runs = [r for r in rows if r["gate_decisions"] != "not run"]
    summary = {"false_go_rate": sum(r["false_go"] for r in runs) / max(sum(len(r["gate_decisions"].split(","))
                                                                         for r in runs), 1),
               "true_go_rate": (sum(r["true_go"] for r in runs) / sum(r["supported"] for r in runs)
                                if any(r["supported"] for r in runs) else None),
               "rows_correct": sum(r["correct"] for r in rows), "rows": len(rows),
               "not_yet_run": [n for n, *_ in jobs if n not in done]}
    table = [{k: r[k] for k in ("scenario", "truth", "audit_verdict", "gate_decisions", "correct")} for r in rows]
    write_results("verdicts", {"summary": summary, "records": rows}, table,
                  f"Verdicts against the truth: false-go rate {summary['false_go_rate']:.0%}, true-go rate "
                  + ("n/a" if summary["true_go_rate"] is None else f"{summary['true_go_rate']:.0%}")
                  + f", {summary['rows_correct']}/{summary['rows']} rows correct (quick profile, 2-core CPU)"
                  + (f"; not yet run: {', '.join(summary['not_yet_run'])}" if summary["not_yet_run"] else ""))


if __name__ == "__main__":
    main()
