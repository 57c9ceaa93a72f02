"""Audit a Parquet log larger than memory: one streamed pass, bounded memory.

The pass reads `batch_rows` rows at a time and keeps two things:

- exact per-episode figures (return, length, truncation, first timestamp) and the count of zero
  rewards, so the size diagnostics are computed on every logged step;
- a uniform sample of whole episodes holding at most `sample_rows` steps (bottom-k sampling: each
  episode draws a random key, the smallest keys that fit the budget are kept), on which the
  model-based diagnostics run (coverage, regions, action support, reproducibility, drift). The
  in-memory audit samples these too (100k-200k steps), so streaming changes their precision little.

Rows of one episode must be contiguous in the file (the order tether and most loggers write); an
episode that reappears after another has started is an error that says how to fix it. Memory grows
with `batch_rows + sample_rows` steps plus a few numbers per episode, not with the file.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tether.audit import diagnostics as diag
from tether.audit.verdict import AuditReport, decide
from tether.data import ActionSpace, LoggedDataset
from tether.data.dataset import ActionKind, infer_action_space, metadata_entry, parse_metadata_json, prefer_stored_space
from tether.data.errors import DatasetError
from tether.data.tabular import (
    TabularSchema,
    _matrix,
    _wide_columns,
    table_to_dataset,
)

TIME_KEYS = ("timestamps", "timestamp", "time")


class _EpisodeSample:
    """A uniform sample of whole episodes under a step budget, kept in log order."""

    def __init__(self, budget: int, seed: int) -> None:
        self.budget, self.rng = budget, np.random.default_rng(seed)
        self.data: LoggedDataset | None = None
        self.keys = np.zeros(0)
        self.order = np.zeros(0, np.int64)  # global index of each kept episode

    def offer(self, chunk: LoggedDataset, first_index: int) -> None:
        keys = self.rng.random(chunk.n_episodes)
        threshold = self.keys.max() if self.data is not None and self.data.n_steps >= self.budget else np.inf
        candidates = np.flatnonzero(keys < threshold)
        if len(candidates) == 0:
            return
        pool = [chunk.select_episodes(candidates)] if self.data is None else [self.data,
                                                                             chunk.select_episodes(candidates)]
        merged = LoggedDataset.concatenate(pool)
        all_keys = np.concatenate([self.keys, keys[candidates]])
        all_order = np.concatenate([self.order, first_index + candidates])
        by_key = np.argsort(all_keys, kind="stable")
        fits = np.cumsum(merged.episode_lengths[by_key]) <= self.budget
        fits[0] = True  # always keep at least one episode
        kept = np.sort(by_key[fits])
        self.data, self.keys, self.order = merged.select_episodes(kept), all_keys[kept], all_order[kept]

    def in_log_order(self) -> LoggedDataset:
        assert self.data is not None
        return self.data.select_episodes(np.argsort(self.order, kind="stable"))


def audit_parquet(path: str | Path, schema: TabularSchema | None = None,
                  action_space: ActionSpace | ActionKind | None = None,
                  *, batch_rows: int = 65_536, sample_rows: int = 200_000, reference: LoggedDataset | None = None,
                  seed: int = 0) -> AuditReport:
    """Audit the Parquet log at `path` in one streamed pass (see the module docstring)."""
    import pyarrow.parquet as pq

    start = time.perf_counter()
    schema = schema or TabularSchema()
    path = Path(path)
    if not path.exists():
        raise DatasetError(str(path), "file does not exist", "check the path")
    try:
        # pre-buffering (Arrow's default) keeps every row group it has read ahead: 700 MB more peak
        # memory on a 5M-step file; unbuffered reads of 1 MB stay flat
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(str(path), f"cannot be read as parquet ({str(err).splitlines()[0][:200]})",
                           "check that the file is complete, valid parquet") from None
    stored = parse_metadata_json((parquet.schema_arrow.metadata or {}).get(b"tether", b"{}"), str(path),
                                 "'tether' schema metadata")
    metadata = {"source": "parquet", **metadata_entry(stored, "metadata", str(path)), "path": str(path)}
    action_space = prefer_stored_space(stored.get("action_space"), action_space)
    if not isinstance(action_space, ActionSpace):
        action_space, note = _action_space_from_column(parquet, schema, batch_rows, action_space)
        metadata["action_space_inferred"] = f"{note}; read in a first pass (declare the space to skip it)"

    sample = _EpisodeSample(sample_rows, seed)
    returns, lengths, truncated, first_times = [], [], [], []
    zero_rewards = 0
    finished: set = set()
    pending: pa.Table | None = None
    n_episodes = 0

    reward_range = [np.inf, -np.inf]

    def take(table: pa.Table) -> None:
        nonlocal zero_rewards, n_episodes
        ids = table[schema.episode_id].to_pylist()
        _check_contiguous(table, schema, ids)
        chunk = table_to_dataset(table, schema, action_space, metadata)
        seen = finished.intersection(ids)
        if seen:
            raise DatasetError(schema.episode_id, f"episode {next(iter(seen))!r} reappears after other episodes "
                               "started; streaming needs each episode's rows together",
                               "sort the file by episode and step, or audit it in memory (tether audit "
                               "--no-stream)")
        finished.update(ids)
        returns.append(chunk.episode_returns())
        lengths.append(chunk.episode_lengths)
        truncated.append(chunk.truncations[chunk.episode_ends - 1])
        key = next((k for k in TIME_KEYS if k in chunk.extras), None)
        if key is not None:
            first_times.append(chunk.extras[key][chunk.episode_starts].astype(np.float64))
        zero_rewards += int(np.sum(chunk.rewards == 0))
        reward_range[:] = [min(reward_range[0], float(chunk.rewards.min())),
                           max(reward_range[1], float(chunk.rewards.max()))]
        sample.offer(chunk, n_episodes)
        n_episodes += chunk.n_episodes

    if schema.episode_id not in parquet.schema_arrow.names:  # checked once, before any row is read
        raise DatasetError(schema.episode_id, f"no such column (columns: {parquet.schema_arrow.names[:12]})",
                           "rename your column or map it: TabularSchema(episode_id='your_column')")
    for batch in parquet.iter_batches(batch_size=batch_rows):
        table = pa.Table.from_batches([batch])
        if pending is not None:
            table = pa.concat_tables([pending, table])
        ids = table[schema.episode_id]
        last = pc.equal(ids, ids[-1])
        pending = table.filter(last)
        complete = table.filter(pc.invert(last))
        if complete.num_rows:
            take(complete)
    if pending is not None and pending.num_rows:
        take(pending)
    if n_episodes == 0:
        raise DatasetError("rows", "the file holds no steps", "log at least one step")

    episode_returns, episode_lengths = np.concatenate(returns), np.concatenate(lengths)
    data = sample.in_log_order()
    results = {
        "size": diag.size_summary(episode_returns, episode_lengths, np.concatenate(truncated), zero_rewards, metadata,
                                  reward_range=(reward_range[0], reward_range[1])),
        **diag.learned_diagnostics(data, reference, seed),
        "action_space": {"kind": data.action_space.kind,
                         "how": metadata.get("action_space_inferred", "declared")},
    }
    report = decide(results, action_space.is_discrete)
    report.diagnostics["streamed"] = {"rows": int(episode_lengths.sum()), "episodes": n_episodes,
                                      "sampled_rows": data.n_steps, "sampled_episodes": data.n_episodes,
                                      "batch_rows": batch_rows}
    report.diagnostics["seconds"] = time.perf_counter() - start
    return report


def _check_contiguous(table: pa.Table, schema: TabularSchema, ids: list) -> None:
    """Every episode in a complete chunk must end (terminated or truncated) before the next one starts."""
    ended = np.zeros(table.num_rows, bool)
    for name in (schema.terminated, schema.truncated):
        if name in table.column_names:
            ended |= np.asarray(table[name].to_numpy(zero_copy_only=False), bool)
    _, inverse = np.unique(np.asarray(ids, dtype=object).astype(str), return_inverse=True)
    open_episodes = np.flatnonzero(np.bincount(inverse, weights=ended) == 0)
    if len(open_episodes):
        episode = ids[int(np.flatnonzero(inverse == open_episodes[0])[0])]
        raise DatasetError(schema.episode_id, f"episode {episode!r} has no end marker before other episodes' rows "
                           "begin; streaming reads each episode's rows together, ending with terminated or "
                           "truncated", "sort the file by episode and step and mark episode ends, or audit it "
                           "in memory (tether audit --no-stream)")


def _action_space_from_column(parquet, schema: TabularSchema, batch_rows: int,
                              kind: ActionKind | None) -> tuple[ActionSpace, str]:
    columns = parquet.schema_arrow.empty_table()
    names = [schema.action] if schema.action in columns.column_names else _wide_columns(columns, schema.action)
    low = high = None
    integral = True
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=names):
        actions, _ = _matrix(pa.Table.from_batches([batch]), schema.action)
        integral = integral and bool(np.all(actions == np.round(actions)))
        low = actions.min(0) if low is None else np.minimum(low, actions.min(0))
        high = actions.max(0) if high is None else np.maximum(high, actions.max(0))
    if low is None or high is None:
        raise DatasetError(schema.action, "no action column", "map it: TabularSchema(action='your_column')")
    if not integral and kind is None:
        kind = "continuous"
    return infer_action_space(np.stack([low, high]), kind)


