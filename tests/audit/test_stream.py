"""The streamed Parquet audit: exact size figures, bounded sample, same verdicts as in memory."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tether.audit import audit
from tether.audit.stream import audit_parquet
from tether.data import DatasetError, save_dataset
from tether.data.tabular import dataset_to_table
from tether.envs import scenario_logs


@pytest.mark.parametrize("name", ["fraud", "treatment-confounded", "recommender-narrow"])
def test_streamed_audit_matches_the_in_memory_audit(tmp_path, name):
    data, _ = scenario_logs(name, None, seed=0)
    path = save_dataset(data, tmp_path / "log.parquet")
    in_memory = audit(data)
    # batches far smaller than the file, so episodes straddle batch boundaries; a sample of a third of the steps
    report = audit_parquet(path, batch_rows=997, sample_rows=data.n_steps // 3)
    assert report.verdict == in_memory.verdict, [r.text for r in report.reasons]
    size, exact = report.diagnostics["size"], in_memory.diagnostics["size"]
    for key in ("steps", "episodes", "length_min", "length_max", "truncated_share", "reward_sparsity", "return_mean"):
        assert size[key] == pytest.approx(exact[key], rel=1e-9), key
    streamed = report.diagnostics["streamed"]
    assert streamed["rows"] == data.n_steps and streamed["episodes"] == data.n_episodes
    assert 0 < streamed["sampled_rows"] <= data.n_steps // 3


def test_a_sample_that_holds_everything_reproduces_the_in_memory_diagnostics(tmp_path):
    data, _ = scenario_logs("fraud", None, seed=1)
    path = save_dataset(data, tmp_path / "log.parquet")
    report = audit_parquet(path, batch_rows=500, sample_rows=10 * data.n_steps)
    in_memory = audit(data)
    assert report.diagnostics["streamed"]["sampled_episodes"] == data.n_episodes
    for group in ("coverage", "action_support", "propensities", "drift"):
        assert _close(report.diagnostics[group], in_memory.diagnostics[group]), group


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-6, abs=1e-9)
    return a == b


def test_the_episode_sample_is_uniform_over_episodes(tmp_path):
    from tether.audit.stream import _EpisodeSample

    data, _ = scenario_logs("fraud", None, seed=2)
    chunks = [data.select_episodes(np.arange(start, min(start + 97, data.n_episodes)))
              for start in range(0, data.n_episodes, 97)]  # as the stream offers them, batch by batch
    kept = np.zeros(data.n_episodes)
    runs = 200
    for seed in range(runs):
        sample = _EpisodeSample(data.n_steps // 4, seed)
        for start, chunk in zip(range(0, data.n_episodes, 97), chunks, strict=True):
            sample.offer(chunk, start)
        assert 0 < len(sample.order) <= data.n_episodes // 4 and np.all(np.diff(np.sort(sample.order)) > 0)
        kept[sample.order] += 1
    # every episode is kept with the same chance, a quarter (equal lengths here): binomial counts around runs / 4
    share = kept / runs
    assert abs(share.mean() - 0.25) < 0.01 and share.min() > 0.1 and share.max() < 0.4
    assert np.corrcoef(share, np.arange(data.n_episodes))[0, 1] ** 2 < 0.05  # no drift with the log position
    report = audit_parquet(save_dataset(data, tmp_path / "log.parquet"), batch_rows=2000,
                           sample_rows=data.n_steps // 4, seed=0)
    assert report.diagnostics["streamed"]["sampled_episodes"] <= data.n_episodes // 4


def test_interleaved_episodes_are_refused_with_the_fix(tmp_path):
    data, _ = scenario_logs("fraud", None, seed=0)
    table = dataset_to_table(data)
    order = np.argsort(np.asarray(table["step"]), kind="stable")  # step 0 of every episode first
    pq.write_table(table.take(order), tmp_path / "interleaved.parquet")
    with pytest.raises(DatasetError, match="episode_id.*no end marker") as err:
        audit_parquet(tmp_path / "interleaved.parquet", batch_rows=1000)
    assert "sort the file" in str(err.value)


def test_action_space_is_inferred_in_a_first_pass_when_the_file_does_not_declare_it(tmp_path):
    data, _ = scenario_logs("fraud", None, seed=0)
    table = dataset_to_table(data).replace_schema_metadata(None)
    pq.write_table(table, tmp_path / "plain.parquet")
    report = audit_parquet(tmp_path / "plain.parquet", batch_rows=1000)
    assert report.diagnostics["streamed"]["rows"] == data.n_steps
    assert report.verdict == audit(data).verdict


def test_cli_streams_parquet_on_request_and_refuses_other_files(tmp_path):
    import json

    from typer.testing import CliRunner

    from tether.cli.main import app

    data, _ = scenario_logs("treatment-confounded", None, seed=0)
    path = save_dataset(data, tmp_path / "log.parquet")
    runner = CliRunner()
    result = runner.invoke(app, ["audit", str(path), "--stream", "--json", "--fail-on", "do-not-train"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "do-not-train" and report["diagnostics"]["streamed"]["rows"] == data.n_steps
    result = runner.invoke(app, ["audit", str(path), "--stream"])
    assert "streamed" in result.stdout and "do-not-train" in result.stdout
    npz = save_dataset(data, tmp_path / "log.npz")
    result = runner.invoke(app, ["audit", str(npz), "--stream"])
    assert result.exit_code != 0 and "Parquet" in result.output
