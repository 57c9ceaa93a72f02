"""Parquet and CSV logs in tether's long format: one row per logged step.

Columns (names are the `TabularSchema` defaults; map your own names onto them):

| column | type | meaning |
|---|---|---|
| `episode_id` | any | episode the step belongs to (rows of one episode need not be adjacent) |
| `step` | int | step index inside the episode, increasing by 1 (optional: row order is used) |
| `obs` or `obs_0..obs_{d-1}` | list of float, or one float column per dimension | observation |
| `action` or `action_0..` | int (discrete), float, list of float, or one column per dimension | logged action |
| `reward` | float | reward received after the action |
| `terminated` / `truncated` | bool or 0/1 | episode end: by the environment / by a time limit or the log |
| `propensity` | float, optional | behaviour policy's probability (density if continuous) of the logged action |
| `next_obs` or `next_obs_0..` | optional | successor observation (needed to bootstrap a truncated last step) |
| `action_probs` or `action_probs_0..` | optional | behaviour distribution over discrete actions |
| `action_masks` or `action_masks_0..` | optional | discrete actions allowed in the state (bool) |

Any other numeric column is kept as a per-step extra (for example a `timestamp`). tether writes
Parquet with list columns and its metadata in the file's schema metadata; CSV with one column per
dimension and a `<file>.tether.json` sidecar holding the action space and metadata.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tether.data.dataset import (
    ActionKind,
    ActionSpace,
    LoggedDataset,
    infer_action_space,
    metadata_entry,
    parse_metadata_json,
    prefer_stored_space,
)
from tether.data.errors import DatasetError


@dataclass(frozen=True, kw_only=True)
class TabularSchema:
    """Names of the long-format columns in your file (see the module docstring)."""

    episode_id: str = "episode_id"
    step: str | None = "step"
    observation: str = "obs"
    action: str = "action"
    reward: str = "reward"
    terminated: str = "terminated"
    truncated: str = "truncated"
    propensity: str | None = "propensity"
    next_observation: str | None = "next_obs"
    action_probs: str | None = "action_probs"
    action_masks: str | None = "action_masks"


def _read_table(path: Path, kind: str) -> pa.Table:
    if not path.exists():
        raise DatasetError(str(path), "file does not exist", "check the path")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
        table.column_names  # noqa: B018  (names that are not UTF-8 fail here, not later)
        return table
    except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
        raise DatasetError(str(path), f"cannot be read as {kind} ({str(err).splitlines()[0][:200]})",
                           f"check that the file is complete, valid {kind}") from None


def _wide_columns(table: pa.Table, prefix: str) -> list[str]:
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)$")
    found = sorted((int(m[1]), name) for name in table.column_names if (m := pattern.match(name)))
    if found and [i for i, _ in found] != list(range(len(found))):
        raise DatasetError(prefix, f"columns {[n for _, n in found]} skip an index",
                           f"name them {prefix}_0..{prefix}_k")
    return [name for _, name in found]


def _matrix(table: pa.Table, name: str) -> tuple[np.ndarray, list[str]]:
    """A `[rows, dim]` array from a list column `name` or wide columns `name_0..`; returns used columns."""
    values, used = _optional_matrix(table, name)
    if values is None:
        raise DatasetError(name, f"no column {name!r} or {name}_0.. (columns: {table.column_names[:12]})",
                           f"rename your column or map it: TabularSchema({_field_for(name)}='your_column')")
    return values, used


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _check_numeric(table: pa.Table, name: str) -> None:
    """Refuse a text column (or list of text) naming the column, the first row that is not a number and the fix.

    Only the column's type is read unless it holds text, so numeric columns cost nothing here."""
    kind = table.schema.field(name).type
    value_kind = kind.value_type if _is_list(kind) else kind
    if not (pa.types.is_string(value_kind) or pa.types.is_large_string(value_kind) or pa.types.is_binary(value_kind)):
        return
    column = table[name].combine_chunks()
    if _is_list(kind):
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        rows = np.repeat(np.arange(len(column)), np.nan_to_num(lengths).astype(int))
        values = pc.list_flatten(column).to_pylist()
    else:
        rows, values = np.arange(len(column)), column.to_pylist()
    for row, value in zip(rows, values, strict=True):
        try:
            float(value)
        except (TypeError, ValueError):
            raise DatasetError(name, f"holds text {str(value)[:40]!r}, not a number", "log numbers only (encode "
                               "categories as ids, or drop the text)", where=f"row {int(row)}") from None
    raise DatasetError(name, "holds numbers stored as text", "write the column as numbers", where="row 0")


def _optional_matrix(table: pa.Table, name: str) -> tuple[np.ndarray | None, list[str]]:
    """`_matrix`, or `(None, [])` when the table has no such column."""
    if name in table.column_names:
        _check_numeric(table, name)
        column = table[name].combine_chunks()
        kind = column.type
        if _is_list(kind):
            lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
            if len(lengths) and (lengths != lengths[0]).any():
                row = int(np.flatnonzero(lengths != lengths[0])[0])
                raise DatasetError(name, f"shape drift: row {row} has {lengths[row]} values, row 0 has {lengths[0]}",
                                   "log every step with the same number of dimensions", where=f"row {row}")
            values = pc.list_flatten(column).to_numpy(zero_copy_only=False)
            return values.reshape(len(column), -1), [name]
        return column.to_numpy(zero_copy_only=False)[:, None], [name]
    wide = _wide_columns(table, name)
    for column_name in wide:
        _check_numeric(table, column_name)
    if wide:
        return np.stack([table[c].to_numpy(zero_copy_only=False) for c in wide], axis=1), wide
    return None, []


def _field_for(name: str) -> str:
    return {"obs": "observation", "action": "action"}.get(name, name)


def _column(table: pa.Table, name: str, field: str, numeric: bool = True) -> np.ndarray:
    if name not in table.column_names:
        raise DatasetError(name, f"no such column (columns: {table.column_names[:12]})",
                           f"rename your column or map it: TabularSchema({field}='your_column')")
    if numeric:
        _check_numeric(table, name)
        if pa.types.is_null(table[name].type):  # a column of empty cells or 'nan' only: missing values
            return np.full(table.num_rows, np.nan)
    return table[name].to_numpy(zero_copy_only=False)


def _order_rows(episode_ids: np.ndarray, steps: np.ndarray | None) -> np.ndarray:
    """Row order grouping episodes (by first appearance) and sorting steps; checks step continuity."""
    _, first, inverse = np.unique(episode_ids, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))[inverse]  # episode rank by first appearance
    order = np.lexsort((np.arange(len(episode_ids)) if steps is None else steps, rank))
    if steps is not None:
        sorted_rank, sorted_steps = rank[order], steps[order]
        same = sorted_rank[1:] == sorted_rank[:-1]
        bad = np.flatnonzero(same & (np.diff(sorted_steps) != 1))
        if len(bad):
            i = order[bad[0] + 1]
            raise DatasetError("step", f"episode {episode_ids[i]!r} jumps from step {sorted_steps[bad[0]]} to "
                               f"{sorted_steps[bad[0] + 1]} (missing or duplicated steps)",
                               "log every step of an episode once, numbered consecutively", where=f"row {int(i)}")
    return order


def table_to_dataset(table: pa.Table, schema: TabularSchema | None = None,
                     action_space: ActionSpace | ActionKind | None = None, metadata: dict | None = None,
                     extras_dtypes: dict[str, str] | None = None) -> LoggedDataset:
    """Convert a long-format Arrow table into a `LoggedDataset` (see the module docstring)."""
    schema = schema or TabularSchema()
    if table.num_rows == 0:
        raise DatasetError("rows", "the table is empty", "log at least one step")
    episode_ids = _column(table, schema.episode_id, "episode_id", numeric=False)
    steps = None
    if schema.step and schema.step in table.column_names:
        steps = _column(table, schema.step, "step").astype(np.int64)
    order = _order_rows(episode_ids, steps)
    used = {schema.episode_id, schema.step, schema.reward, schema.terminated, schema.truncated}
    observations, cols = _matrix(table, schema.observation)
    used.update(cols)
    actions, cols = _matrix(table, schema.action)
    used.update(cols)
    optional: dict[str, Any] = {}
    for field, name in (("next_observations", schema.next_observation), ("action_probs", schema.action_probs),
                        ("action_masks", schema.action_masks)):
        if name:
            optional[field], cols = _optional_matrix(table, name)
            used.update(cols)
    if schema.propensity and schema.propensity in table.column_names:
        used.add(schema.propensity)
        with np.errstate(divide="ignore", invalid="ignore"):
            optional["behavior_log_probs"] = np.log(_column(table, schema.propensity, "propensity").astype(np.float64))
    if not isinstance(action_space, ActionSpace):
        action_space, note = infer_action_space(actions, action_space)
        metadata = {**(metadata or {}), "action_space_inferred": note}
    if action_space.is_discrete:
        actions = actions[:, 0]
    extras = {}
    for name in table.column_names:
        if name not in used and (pa.types.is_integer(table[name].type) or pa.types.is_floating(table[name].type)
                                 or pa.types.is_boolean(table[name].type) or pa.types.is_timestamp(table[name].type)):
            extras[name] = table[name].to_numpy(zero_copy_only=False)[order]
            if extras_dtypes and name in extras_dtypes:
                try:
                    extras[name] = extras[name].astype(np.dtype(extras_dtypes[name]))
                except (TypeError, ValueError):
                    raise DatasetError("extras_dtypes", f"{name!r} is stored as {extras_dtypes[name]!r}, which is not "
                                       "a numeric dtype", "fix or delete the sidecar's extras_dtypes entry") from None
    ids = episode_ids[order]
    return LoggedDataset.from_episode_ids(
        ids, observations=observations[order], actions=actions[order],
        rewards=_column(table, schema.reward, "reward")[order],
        terminations=_column(table, schema.terminated, "terminated")[order],
        truncations=_column(table, schema.truncated, "truncated")[order], action_space=action_space,
        extras=extras, metadata=metadata or {},
        **{k: None if v is None else v[order] for k, v in optional.items()})


def read_parquet(path: str | Path, schema: TabularSchema | None = None,
                 action_space: ActionSpace | ActionKind | None = None) -> LoggedDataset:
    """Read a long-format Parquet log (tether's own files carry their action space and metadata)."""
    path = Path(path)
    table = _read_table(path, "parquet")
    stored = parse_metadata_json((table.schema.metadata or {}).get(b"tether", b"{}"), str(path),
                                 "'tether' schema metadata")
    action_space = prefer_stored_space(stored.get("action_space"), action_space)
    metadata = {"source": "parquet", **metadata_entry(stored, "metadata", str(path)), "path": str(path)}
    return table_to_dataset(table, schema, action_space, metadata)


def read_csv(path: str | Path, schema: TabularSchema | None = None,
             action_space: ActionSpace | ActionKind | None = None) -> LoggedDataset:
    """Read a long-format CSV log (and its `.tether.json` sidecar when tether wrote it)."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".tether.json")
    stored = parse_metadata_json(sidecar.read_bytes(), str(sidecar), "sidecar") if sidecar.exists() else {}
    action_space = prefer_stored_space(stored.get("action_space"), action_space)
    metadata = {"source": "csv", **metadata_entry(stored, "metadata", str(sidecar)), "path": str(path)}
    dtypes = stored.get("extras_dtypes")
    return table_to_dataset(_read_table(path, "csv"), schema, action_space, metadata,
                            extras_dtypes=dtypes if isinstance(dtypes, dict) else None)


def dataset_to_table(dataset: LoggedDataset, wide: bool = False) -> pa.Table:
    """The long-format table of `dataset` (list columns, or one column per dimension if `wide`)."""
    columns: dict[str, Any] = {"episode_id": dataset.episode_ids, "step": dataset.timesteps}

    def put(name: str, array: np.ndarray) -> None:
        if array.ndim == 1:
            columns[name] = array
        elif wide:
            columns.update({f"{name}_{i}": array[:, i] for i in range(array.shape[1])})
        else:
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(array.ravel()), array.shape[1])

    put("obs", dataset.observations)
    put("action", dataset.actions)
    columns.update(reward=dataset.rewards, terminated=dataset.terminations, truncated=dataset.truncations)
    if dataset.behavior_log_probs is not None:
        columns["propensity"] = np.exp(dataset.behavior_log_probs)
    if dataset.next_observations is not None:
        put("next_obs", dataset.next_observations)
    if dataset.action_probs is not None:
        put("action_probs", dataset.action_probs)
    if dataset.action_masks is not None:
        put("action_masks", dataset.action_masks)
    for name, array in dataset.extras.items():
        put(name, array)
    return pa.table(columns)


def _sidecar_json(dataset: LoggedDataset) -> str:
    meta = {k: v for k, v in dataset.metadata.items() if k != "path"}
    dtypes = {name: str(array.dtype) for name, array in dataset.extras.items() if array.ndim == 1}
    return json.dumps({"action_space": dataset.action_space.to_json(), "metadata": meta, "extras_dtypes": dtypes},
                      default=str)


def write_parquet(dataset: LoggedDataset, path: str | Path) -> Path:
    """Write `dataset` as long-format Parquet, atomically."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = dataset_to_table(dataset)
    table = table.replace_schema_metadata({"tether": _sidecar_json(dataset)})
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def write_csv(dataset: LoggedDataset, path: str | Path) -> Path:
    """Write `dataset` as long-format CSV (one column per dimension) plus its `.tether.json` sidecar."""
    import pyarrow.csv as pacsv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    pacsv.write_csv(dataset_to_table(dataset, wide=True), tmp)
    sidecar = path.with_name(path.name + ".tether.json")
    sidecar_tmp = sidecar.with_name(sidecar.name + f".tmp{os.getpid()}")
    sidecar_tmp.write_text(_sidecar_json(dataset))
    os.replace(sidecar_tmp, sidecar)
    os.replace(tmp, path)
    return path
