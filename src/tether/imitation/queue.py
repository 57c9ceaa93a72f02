"""The states of one DAgger round that wait for an expert's labels, and the labels given so far.

A round's directory holds `queue.npz` (the states: observations, episode and step; plain arrays, read
without pickle), `queue.json` (the run it belongs to, the round, what a labeller sees), optional frames
`frames/<row>.png`, and `labels.json`, which every new label rewrites atomically under a file lock:
a closed browser, a killed server or a crash mid-write loses no label given before it.

Offline labelling: `export_queue` writes the states to Parquet or CSV with an empty action column;
`import_labels` reads the file back, refusing another run's queue, unknown, duplicate or missing rows
and invalid actions, each named by row.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from tether._atomic import write_atomically
from tether.data import ActionSpace
from tether.errors import DatasetError
from tether.imitation.experts import checked_labels

QUEUE_ARRAYS, QUEUE_INFO, LABELS_FILE = "queue.npz", "queue.json", "labels.json"


@dataclass
class LabelQueue:
    """One round's queued states (row `i` is `observations[i]`) and their labels on disk."""

    directory: Path
    run_id: str
    round: int
    observations: np.ndarray
    episodes: np.ndarray
    steps: np.ndarray
    action_space: ActionSpace
    observation_names: tuple[str, ...]
    action_names: tuple[str, ...] | None = None
    descriptions: tuple[str, ...] | None = None
    has_frames: bool = False

    # ------------------------------------------------------------------ creating and reading
    @classmethod
    def create(cls, directory: Path, *, run_id: str, round: int, observations: np.ndarray, episodes: np.ndarray,
               steps: np.ndarray, action_space: ActionSpace, observation_names: tuple[str, ...],
               action_names: tuple[str, ...] | None = None, descriptions: list[str] | None = None,
               frames: list[np.ndarray] | None = None) -> LabelQueue:
        """Write a new queue (frames as PNG first, the info file last: a queue is there once its info is)."""
        directory.mkdir(parents=True, exist_ok=True)
        if frames:
            from PIL import Image

            for row, frame in enumerate(frames):
                buffer = io.BytesIO()
                Image.fromarray(np.asarray(frame, np.uint8)).save(buffer, format="PNG")
                write_atomically(directory / "frames" / f"{row}.png", buffer.getvalue())
        buffer = io.BytesIO()
        np.savez(buffer, observations=np.asarray(observations, np.float32).reshape(len(episodes), -1),
                 episodes=np.asarray(episodes, np.int64), steps=np.asarray(steps, np.int64))
        write_atomically(directory / QUEUE_ARRAYS, buffer.getvalue())
        info = {"run_id": run_id, "round": round, "n_rows": len(episodes), "action_space": action_space.to_json(),
                "observation_names": list(observation_names),
                "action_names": list(action_names) if action_names else None,
                "descriptions": list(descriptions) if descriptions else None, "has_frames": bool(frames)}
        write_atomically(directory / QUEUE_INFO, json.dumps(info))
        return cls.load(directory)

    @classmethod
    def exists(cls, directory: Path) -> bool:
        return (directory / QUEUE_INFO).is_file()

    @classmethod
    def load(cls, directory: Path) -> LabelQueue:
        """Read a queue written by `create` (raises `DatasetError` naming the file if it is not one)."""
        info_path = directory / QUEUE_INFO
        try:
            info = json.loads(info_path.read_text())
            with np.load(directory / QUEUE_ARRAYS, allow_pickle=False) as arrays:
                observations, episodes, steps = (arrays[k] for k in ("observations", "episodes", "steps"))
            return cls(directory, str(info["run_id"]), int(info["round"]), observations, episodes, steps,
                       ActionSpace.from_json(info["action_space"]), tuple(info["observation_names"]),
                       tuple(info["action_names"]) if info.get("action_names") else None,
                       tuple(info["descriptions"]) if info.get("descriptions") else None, bool(info["has_frames"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            if isinstance(err, DatasetError):
                raise
            raise DatasetError(str(info_path), f"is not a readable label queue ({type(err).__name__}: {err})",
                               "point at a round directory written by tether dagger") from None

    @property
    def n_rows(self) -> int:
        return len(self.episodes)

    # ------------------------------------------------------------------ labels
    def _lock(self) -> FileLock:
        return FileLock(str(self.directory / f".{LABELS_FILE}.lock"))

    def labels(self) -> dict[int, dict[str, Any]]:
        """`{row: {"action", "source", "labeller", "time"}}` of every label given so far."""
        path = self.directory / LABELS_FILE
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        if data.get("run_id") != self.run_id or data.get("round") != self.round:
            raise DatasetError(str(path), f"holds labels of run {data.get('run_id')} round {data.get('round')}, "
                               f"not of this queue (run {self.run_id} round {self.round})",
                               "remove the stray file; labels belong beside their own queue")
        return {int(row): entry for row, entry in data["labels"].items()}

    def pending(self) -> list[int]:
        """Rows without a label, in queue order."""
        done = self.labels()
        return [row for row in range(self.n_rows) if row not in done]

    @property
    def complete(self) -> bool:
        return not self.pending()

    def add_labels(self, rows: list[int], actions: Any, *, source: str, labeller: str) -> int:
        """Validate and store labels for `rows` in one atomic write; returns how many labels the queue holds.

        Raises:
            DatasetError: an unknown or already labelled row, a row given twice, or an invalid action.
        """
        rows = [int(r) for r in rows]
        values = checked_labels(actions, len(rows), self.action_space, source)
        seen: set[int] = set()
        for row in rows:
            if not 0 <= row < self.n_rows:
                raise DatasetError("row", f"{row} is not in this queue (rows 0..{self.n_rows - 1})",
                                   "label rows of this round's queue", where=f"round {self.round}")
            if row in seen:
                raise DatasetError("row", f"{row} is labelled twice", "give one label per row")
            seen.add(row)
        with self._lock():
            labels = self.labels()
            again = sorted(seen & labels.keys())
            if again:
                raise DatasetError("row", f"{again[0]} already has a label ({labels[again[0]]['action']})",
                                   "label only pending rows; labels are never overwritten",
                                   where=f"round {self.round}")
            now = time.time()
            for row, action in zip(rows, values, strict=True):
                labels[row] = {"action": action.tolist(), "source": source, "labeller": labeller, "time": now}
            payload = {"run_id": self.run_id, "round": self.round,
                       "labels": {str(r): labels[r] for r in sorted(labels)}}
            write_atomically(self.directory / LABELS_FILE, json.dumps(payload))
        return len(labels)

    def labelled_actions(self) -> tuple[np.ndarray, list[str], list[str]]:
        """`(actions, sources, labellers)` in row order (the queue must be complete)."""
        labels = self.labels()
        missing = [row for row in range(self.n_rows) if row not in labels]
        if missing:
            raise DatasetError("labels", f"{len(missing)} row(s) of round {self.round} have no label "
                               f"(first: row {missing[0]})", "label them before the round is aggregated")
        entries = [labels[row] for row in range(self.n_rows)]
        dtype = np.int64 if self.action_space.is_discrete else np.float32
        return (np.asarray([e["action"] for e in entries], dtype), [e["source"] for e in entries],
                [e["labeller"] for e in entries])

    # ------------------------------------------------------------------ offline labelling
    def export(self, path: Path) -> Path:
        """Write the pending rows to `path` (`.parquet` or `.csv`) with empty action column(s)."""
        import pyarrow as pa

        rows = self.pending()
        columns: dict[str, Any] = {"run_id": [self.run_id] * len(rows), "round": [self.round] * len(rows),
                                   "row": rows, "episode": self.episodes[rows].tolist(),
                                   "step": self.steps[rows].tolist()}
        for j, name in enumerate(self.observation_names):
            columns[name] = self.observations[rows, j].tolist()
        if self.descriptions:
            columns["state"] = [self.descriptions[r] for r in rows]
        if self.action_space.is_discrete:
            columns["action"] = pa.array([None] * len(rows), pa.int64())
        else:
            for j in range(self.action_space.action_dim):
                columns[f"action_{j}"] = pa.array([None] * len(rows), pa.float64())
        table = pa.table(columns)
        return _write_table(table, Path(path))

    def import_labels(self, path: Path, labeller: str = "person", partial: bool = False) -> int:
        """Store the labels of a file written by `export` and filled in; returns how many rows it labelled.

        Raises:
            DatasetError: another run's or round's file, unknown or duplicate rows, rows left unlabelled
                (unless `partial`), invalid actions; nothing is stored then.
        """
        table = _read_table(Path(path))
        names = set(table.column_names)
        action_columns = (["action"] if self.action_space.is_discrete
                          else [f"action_{j}" for j in range(self.action_space.action_dim)])
        for needed in ["run_id", "round", "row", *action_columns]:
            if needed not in names:
                raise DatasetError(str(path), f"has no column {needed!r}",
                                   "fill in the file tether dagger export wrote, keeping its columns")
        data = {k: table.column(k).to_pylist() for k in ["run_id", "round", "row", *action_columns]}
        labellers = table.column("labeller").to_pylist() if "labeller" in names else None
        for i, (run_id, round_) in enumerate(zip(data["run_id"], data["round"], strict=True)):
            if str(run_id) != self.run_id or int(round_) != self.round:
                raise DatasetError(str(path), f"row {i} belongs to run {run_id} round {round_}, not to this queue "
                                   f"(run {self.run_id} round {self.round})",
                                   "import the file exported from this run's current round", where=f"line {i + 2}")
        rows, actions, who = [], [], []
        seen: dict[int, int] = {}
        for i, row in enumerate(data["row"]):
            if row is None:
                raise DatasetError(str(path), "a row number is empty", "keep the row column as exported",
                                   where=f"line {i + 2}")
            if int(row) in seen:
                raise DatasetError(str(path), f"queue row {row} appears twice (lines {seen[int(row)] + 2} and {i + 2})",
                                   "keep one line per queued row", where=f"line {i + 2}")
            seen[int(row)] = i
            values = [data[c][i] for c in action_columns]
            if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values):
                if partial:
                    continue
                raise DatasetError(str(path), f"queue row {row} has no action", "label every row, or import with "
                                   "--partial to store only the filled ones", where=f"line {i + 2}")
            rows.append(int(row))
            actions.append(values[0] if self.action_space.is_discrete else values)
            who.append(str(labellers[i]) if labellers and labellers[i] else labeller)
        missing = sorted(set(self.pending()) - set(seen))
        if missing and not partial:
            raise DatasetError(str(path), f"lacks {len(missing)} queued row(s) (first: row {missing[0]})",
                               "import the whole exported file, or use --partial")
        if not rows:
            return 0
        if len(set(who)) == 1:
            self.add_labels(rows, np.asarray(actions), source="human", labeller=who[0])
        else:
            for person in sorted(set(who)):
                mine = [k for k, w in enumerate(who) if w == person]
                self.add_labels([rows[k] for k in mine], np.asarray([actions[k] for k in mine]), source="human",
                                labeller=person)
        return len(rows)


def _write_table(table, path: Path) -> Path:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    if path.suffix == ".parquet":
        pq.write_table(table, buffer)
    elif path.suffix == ".csv":
        pcsv.write_csv(table, buffer)
    else:
        raise DatasetError(str(path), "has an unknown extension", "export to a .parquet or .csv file")
    return write_atomically(path, buffer.getvalue())


def _read_table(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DatasetError(str(path), "does not exist", "pass the labelled file's path")
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        if path.suffix == ".csv":
            return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
                column_types={"run_id": pa.string(), "labeller": pa.string()}))
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(str(path), f"cannot be read ({err})", "pass the file tether dagger export wrote") from None
    raise DatasetError(str(path), "has an unknown extension", "import a .parquet or .csv file")
