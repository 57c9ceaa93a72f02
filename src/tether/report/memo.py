"""The deployment memo: the same content as Markdown (`memo.md`) and self-contained HTML (`memo.html`,
charts inline as SVG), written atomically from a run's typed `RunResults`; this package only renders.

It answers, in order: the decision per candidate and why; what the data and the audit say; what
behaviour cloning established; whether any candidate improved the evaluator signal enough to
justify more investigation; whether training was unstable; which state regions need support
diagnostics; what evidence is required before use on a real decision system; and, where a
benchmark simulator was used, its truth and why that is not production proof.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np

from tether._atomic import write_atomically
from tether.report import svg
from tether.workflow.results import RunResults

BADGE = {"go": "#2ca02c", "investigate": "#ff7f0e", "no-go": "#d62728"}


def _fmt(x) -> str:
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.3g}"


def sections(results: RunResults) -> list[tuple[str, list[str], list[str]]]:
    """`(title, markdown paragraphs/lists, inline SVG charts)` per section."""
    audit, decisions = results.audit, results.decisions
    baseline, candidates = results.baseline, results.candidates
    evaluation, training = results.evaluation, results.training
    behavior = results.behavior_value
    config = results.config
    out: list[tuple[str, list[str], list[str]]] = []

    rows = ["| policy | decision | key reasons |", "|---|---|---|"]
    for name in [baseline, *candidates]:
        d = decisions[name]
        shown = d.evidence if d.decision == "go" else d.reasons
        label = f"{name} (baseline)" if name == baseline else name
        rows.append(f"| {label} | **{d.decision}** | {'; '.join(shown[:3]) or 'all gate conditions hold'} |")
    out.append(("Decision", [
        f"Data: `{config.data}`; profile `{config.profile}`. "
        "A candidate goes to a guarded online test only when the audit allows offline RL, it beats the "
        "behaviour-cloning baseline, an estimator whose diagnostics pass puts the lower end of its improvement "
        "over the behaviour policy above zero, its support check passes and training was stable. The baseline is "
        "judged the same way (a bc-only audit allows it, and it has no baseline to beat): when it goes, imitating "
        "the logged habit is itself a supported improvement, and a candidate that only matches it adds nothing.",
        "\n".join(rows)], []))

    summary = results.data_summary
    reasons = [f"- **{r.verdict}** `{r.diagnostic}` = {_fmt(r.value)} (threshold {r.threshold}): {r.text}"
               for r in audit.reasons] or ["- no diagnostic fired"]
    size = audit.diagnostics["size"]
    out.append(("Data and audit", [
        f"{summary.steps:,} steps in {summary.episodes:,} episodes; episode return median "
        f"{size['return_percentiles']['50']:.3g} (p5 {size['return_percentiles']['5']:.3g}, p95 "
        f"{size['return_percentiles']['95']:.3g}); propensities "
        f"{'logged' if summary.propensities_logged else 'not logged'}. Audit verdict: **{audit.verdict}**.",
        "\n".join(reasons), "Next steps from the audit: " + "; ".join(audit.next_steps)],
        [svg.histogram(summary.returns, "return distribution of the logged episodes", "return")]))

    bc = evaluation[baseline].estimates["FQE"]
    bc_truth = evaluation[baseline].truth
    truth_text = "" if not bc_truth else f" True value (simulator): {_fmt(bc_truth.value)}."
    out.append(("The behaviour-cloning baseline", [
        f"`{baseline}` trained for {training[baseline].steps:,} steps. FQE puts its value at {_fmt(bc.value)} "
        f"(95% interval {_fmt(bc.interval[0])} to {_fmt(bc.interval[1])}); the behaviour policy's logged value "
        f"is {_fmt(behavior.mean)} (interval {_fmt(behavior.interval[0])} to {_fmt(behavior.interval[1])}). "
        f"Estimand: {bc.estimand}." + truth_text,
        "This is the imitation baseline every candidate must beat."], []))

    chart_rows, lines = [], ["| candidate | estimator | estimate | interval | improvement over behaviour | "
                             "improvement interval | diagnostics |", "|---|---|---|---|---|---|---|"]
    for name in [baseline, *candidates]:
        gains = decisions[name].improvements
        for est_name, est in evaluation[name].estimates.items():
            if not np.isfinite(est.value):
                continue
            gain = gains.get(est_name)
            lines.append(f"| {name} | {est_name} | {_fmt(est.value)} | [{_fmt(est.interval[0])}, "
                         f"{_fmt(est.interval[1])}] | {_fmt(gain[0]) if gain else '-'} | "
                         f"{'[' + _fmt(gain[1]) + ', ' + _fmt(gain[2]) + ']' if gain else '-'} | "
                         f"{'pass' if est.trusted else 'FAIL: ' + '; '.join(est.warnings[:2])} |")
            if est_name in ("FQE", "WDR", "WIS"):
                chart_rows.append((f"{name[:12]} {est_name}", est.value, est.interval[0], est.interval[1]))
    histories = {name: evaluation[name].estimates["FQE"].history or [] for name in [baseline, *candidates]}
    traces = {name: (range(1, len(t) + 1), t) for name, t in histories.items() if len(t) >= 2}
    improved = [n for n in [baseline, *candidates] if any(g[1] > 0 for g in decisions[n].improvements.values())]
    out.append(("Did any candidate improve the evaluator signal?", [
        ("Policies with an improvement interval above zero for some estimator: " + ", ".join(improved) + "."
         if improved else "No policy has an improvement interval above zero for any estimator."),
        "\n".join(lines)],
        [svg.interval_chart(chart_rows, f"estimated value (gamma {config.gamma}) with 95% intervals", "value",
                            behavior.mean, "behaviour (logged)"),
         *([svg.line_chart(traces, "FQE estimate after each tenth of its training (flat at the end = converged)",
                           "FQE epoch", "estimated value")] if traces else [])]))

    stab, charts = [], []
    for name in [baseline, *candidates]:
        problems = training[name].instabilities
        stab.append(f"- `{name}`: " + ("; ".join(problems) if problems else "no divergence, value blow-up or collapse "
                                       "detected"))
        history = training[name].history
        key = next((k for k in ("average_value", "critic_loss", "q_loss", "loss", "actor_loss")
                    if history and k in history[-1][1]), None)
        if key:
            charts.append(svg.line_chart({name: ([h[1]["step"] for h in history], [h[1][key] for h in history])},
                                         f"{name}: {key} per epoch", "gradient step", key))
    out.append(("Training stability", ["\n".join(stab)], charts))

    support_lines, support_charts = [], []
    for name in candidates:
        report = evaluation[name].support
        worst = report.worst_regions(2)
        verdict = "passed" if report.passed else "**failed**"
        regions = ", ".join(f"{r['region']} ({r['off_support']:.0%} off, {r['share']:.0%} of data)" for r in worst)
        support_lines.append(f"- `{name}`: {verdict}; {report.off_support:.1%} off support overall; "
                             f"worst regions {regions}")
        support_charts.append(svg.bar_chart([(str(r["region"]), r["off_support"]) for r in report.regions],
                                            f"{name}: share off the logged support, per state region", "off-support",
                                            1.0))
        model_report = evaluation[name].model_support
        if model_report is not None:
            worst = model_report.worst_regions(2)
            regions = ", ".join(f"{r['region']} ({r['off_support']:.0%} beyond, {r['share']:.0%} of data)"
                                for r in worst)
            verdict = "passed" if model_report.passed else "**failed**"
            support_lines.append(f"  - dynamics model: {verdict}; at {model_report.off_support:.1%} of the logged "
                                 f"states the candidate's action takes the model beyond what it knows; worst regions "
                                 f"{regions}")
            support_charts.append(svg.bar_chart(
                [(str(r["region"]), r["off_support"]) for r in model_report.regions],
                f"{name}: share of states where its action leaves the dynamics model's knowledge, per region",
                "beyond the model", 1.0))
    out.append(("Where the candidates leave the data", [
        "Regions are k-means clusters of the logged states; discrete candidates are checked against actions the "
        "behaviour takes with under 5% probability there, continuous ones against the spread of logged actions "
        "in nearby states. Where the run fitted a dynamics model, a state is beyond the model when its elites "
        "disagree at the candidate's action more than on any logged step. Regions that fail need support "
        "diagnostics before any use.", "\n".join(support_lines)],
        support_charts))

    evidence = []
    for name in [baseline, *candidates]:
        d = decisions[name]
        export = results.exports.get(name)
        serving = "" if export is None else (
            f" Policy for the test: `{export.path}` (ONNX, the greedy policy)." if export.path is not None
            else f" No ONNX export: {(export.error or '').split(';')[0]}.")
        evidence.append(f"- `{name}` ({d.decision}): evidence: " + ("; ".join(d.evidence) or "none") +
                        ". Unsafe only if: " + ("; ".join(d.unsafe_if) or "-") + "." + serving)
    out.append(("Evidence required before use on a real decision system", [
        "Offline estimates rest on assumptions no log can prove. Before any candidate acts on real cases: "
        "a guarded online test (small traffic share, a stop rule on the metric that matters, the behaviour "
        "policy as control), propensities logged at decision time, and the support diagnostics above resolved.",
        "\n".join(evidence)], []))

    if results.truth_kind:
        rows = ["| policy | estimated (FQE) | true value | true undiscounted return | gate | the truth says |",
                "|---|---|---|---|---|---|"]
        for name in [baseline, *candidates]:
            truth, fqe = evaluation[name].truth, evaluation[name].estimates["FQE"]
            error = "" if truth is None or truth.standard_error is None else f" +- {_fmt(truth.standard_error)}"
            rows.append(f"| {name} | {_fmt(fqe.value)} [{_fmt(fqe.interval[0])}, {_fmt(fqe.interval[1])}] | "
                        f"{_fmt(truth.value if truth else None)}{error} | "
                        f"{_fmt(truth.undiscounted if truth else None)} | {decisions[name].decision} | "
                        f"{_truth_says(truth, behavior.interval)} |")
        out.append(("Benchmark truth, and why it is not production proof", [
            f"This run used a benchmark simulator ({results.truth_kind}), so the policies' true values are known: "
            "exact values from the simulator's tables, or the mean over fresh episodes of the greedy policy from "
            "the task's own start states (with its standard error). True values are discounted like the "
            f"estimates (gamma {config.gamma}) and compared with the behaviour's logged value, "
            f"{_fmt(behavior.mean)} (interval {_fmt(behavior.interval[0])} to {_fmt(behavior.interval[1])}).",
            "\n".join(rows),
            "A simulator is a model someone wrote: its dynamics, its reward and its hidden variables are known and "
            "fixed. A real decision system has unknown confounders, drifting populations and outcomes that arrive "
            "late, so a policy that wins here has shown that the method works on this benchmark, not that it is "
            "safe on real cases."], []))

    out.append(("Reproduce", [
        f"Data fingerprint `{results.fingerprint}`; seed {config.seed}; versions "
        + ", ".join(f"{k} {v}" for k, v in results.versions.items()) +
        f". Run time {results.seconds:.0f}s. The run directory holds config.json, audit.json, each learner's "
        "metrics.jsonl, checkpoint and model, evaluation/*.json and results.json; `tether run --resume DIR` "
        "continues an interrupted run."], []))
    return out


def _truth_says(truth, behavior: tuple[float, float]) -> str:
    """Whether the policy is truly better than the behaviour: its true value (two standard errors either side
    for rollouts) against the interval of the behaviour's logged value."""
    if truth is None or truth.value is None:
        return "-"
    error = 2.0 * (truth.standard_error or 0.0)
    if truth.value - error > behavior[1]:
        return "better than the behaviour"
    if truth.value + error < behavior[0]:
        return "worse than the behaviour"
    return "level with the behaviour"


def to_markdown(results: RunResults) -> str:
    """The deployment memo as Markdown."""
    parts = [f"# Deployment memo: {results.config.data}", ""]
    for title, paragraphs, _ in sections(results):
        parts += [f"## {title}", ""] + [p + "\n" for p in paragraphs]
    return "\n".join(parts)


def _md_block_to_html(block: str) -> str:
    lines = block.split("\n")
    if lines[0].startswith("|"):
        head = [c.strip() for c in lines[0].strip("|").split("|")]
        body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
        return ("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>" +
                "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body) +
                "</tbody></table>")
    if lines[0].startswith("- "):
        return "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>"
    return f"<p>{_inline(block)}</p>"


def _inline(text: str) -> str:
    out, bold, code = [], False, False
    for ch in escape(text):
        if ch == "`":
            out.append("</code>" if code else "<code>")
            code = not code
        else:
            out.append(ch)
    html = "".join(out)
    while "**" in html:
        html = html.replace("**", "</b>" if bold else "<b>", 1)
        bold = not bold
    for decision, color in BADGE.items():
        html = html.replace(f"<b>{decision}</b>", f'<b style="color:{color}">{decision}</b>')
    return html


def to_html(results: RunResults) -> str:
    """The deployment memo as one self-contained HTML page (charts inline as SVG)."""
    body = [f"<h1>Deployment memo: {escape(results.config.data)}</h1>"]
    for title, paragraphs, charts in sections(results):
        body.append(f"<section><h2>{escape(title)}</h2>")
        body += [_md_block_to_html(p) for p in paragraphs]
        body += [f'<figure>{chart}</figure>' for chart in charts]
        body.append("</section>")
    style = ("body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left;vertical-align:top}code{background:#f3f3f3;padding:0 3px}figure{margin:1em 0}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tether memo: '
            f'{escape(results.config.data)}</title><style>{style}</style></head><body>'
            + "\n".join(body) + "</body></html>\n")


def write_memo(results: RunResults, out: Path) -> tuple[Path, Path]:
    """Write `memo.md` and `memo.html` into `out`, each atomically; returns their paths."""
    out = Path(out)
    markdown = write_atomically(out / "memo.md", to_markdown(results))
    return markdown, write_atomically(out / "memo.html", to_html(results))
