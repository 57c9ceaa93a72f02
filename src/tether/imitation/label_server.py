"""`tether dagger label`: a local web page where a person labels the states a DAgger run queued.

A real HTTP server (the standard library's threading server, bound to 127.0.0.1 by default) serves
one self-contained page and a small JSON API over the run directory:

    GET  /                  the page: the next pending state (its fields as a table, the frame when the
                            task renders, the full state for decision simulators) and the action controls
    GET  /api/queue         the current round's queue: counts, spaces, and the next pending state
    POST /api/label         {"row": int, "action": int | [float], "labeller": str} -> stores one label
    GET  /frames/<row>.png  a queued state's frame

Each label is validated (row, type, bounds) and written atomically before the answer is sent, so a
closed browser or a killed server loses nothing; the DAgger loop (waiting, or run again) picks the
labels up. The server reads the run directory at every request: a new round's queue appears without
a restart.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, TetherError
from tether.imitation.dagger import RUN_FILE, current_queue
from tether.imitation.queue import LabelQueue

MAX_BODY = 1 << 16

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tether: label states</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}
h1{font-size:1.3rem} table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ccc;padding:.2rem .6rem}
td.v{font-family:monospace;text-align:right} #frame{max-width:24rem;display:block;margin:.5rem 0}
button{font-size:1rem;margin:.2rem;padding:.4rem .9rem} #status{margin:.6rem 0;font-weight:600}
.error{color:#b00020} .done{color:#006400} input{font-size:1rem} #state{font-family:monospace}
</style></head><body>
<h1>Label the states the policy reached</h1>
<p id="progress">loading...</p>
<p>Labeller: <input id="labeller" value="__LABELLER__" size="16"></p>
<div id="item" hidden>
  <p>Row <b id="row"></b> (episode <span id="episode"></span>, step <span id="step"></span>)
     <span id="state"></span></p>
  <img id="frame" alt="rendered state" hidden>
  <table id="fields"><thead><tr><th>field</th><th>value</th></tr></thead><tbody></tbody></table>
  <div id="controls"></div>
</div>
<p id="status"></p>
<script>
"use strict";
let current = null;
function el(tag, attrs, text) { const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
function status(text, cls) {
  const s = document.getElementById("status"); s.textContent = text; s.className = cls || ""; }
async function refresh() {
  const response = await fetch("/api/queue"); const q = await response.json();
  const item = document.getElementById("item");
  if (!q.next) {
    item.hidden = true;
    document.getElementById("progress").textContent = q.round === null
      ? "No states wait for labels. This page checks again every two seconds."
      : `All ${q.n_rows} states of round ${q.round} are labelled: the DAgger loop can continue.`;
    current = null; setTimeout(refresh, 2000); return;
  }
  current = q;
  document.getElementById("progress").textContent =
    `Round ${q.round}: ${q.labelled} of ${q.n_rows} states labelled, ${q.pending} to go.`;
  const n = q.next; item.hidden = false;
  document.getElementById("row").textContent = n.row;
  document.getElementById("episode").textContent = n.episode;
  document.getElementById("step").textContent = n.step;
  document.getElementById("state").textContent = n.description ? "state: " + n.description : "";
  const frame = document.getElementById("frame");
  if (n.frame) { frame.src = n.frame; frame.hidden = false; } else { frame.hidden = true; }
  const body = document.querySelector("#fields tbody"); body.replaceChildren();
  q.observation_names.forEach((name, i) => { const tr = el("tr");
    tr.append(el("td", {}, name), el("td", {class: "v"}, n.observation[i].toFixed(4))); body.append(tr); });
  const controls = document.getElementById("controls"); controls.replaceChildren();
  if (q.action_space.kind === "discrete") {
    for (let a = 0; a < q.action_space.n; a++) {
      const b = el("button", {id: "action-" + a, "data-action": a}, q.action_names ? q.action_names[a] : String(a));
      b.addEventListener("click", () => submit(a)); controls.append(b);
    }
  } else {
    q.action_space.low.forEach((low, j) => {
      const label = el("label", {}, `action ${j} [${low}, ${q.action_space.high[j]}] `);
      label.append(el("input", {id: "action-" + j, type: "number", step: "any", min: low,
                                max: q.action_space.high[j], value: "0"}));
      controls.append(label, el("br"));
    });
    const b = el("button", {id: "submit"}, "Label");
    b.addEventListener("click", () => submit(q.action_space.low.map((_, j) =>
      Number(document.getElementById("action-" + j).value))));
    controls.append(b);
  }
}
async function submit(action) {
  const labeller = document.getElementById("labeller").value.trim() || "person";
  const response = await fetch("/api/label", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({row: current.next.row, action: action, labeller: labeller})});
  const answer = await response.json();
  if (!response.ok) { status(answer.error, "error"); return; }
  status(`saved row ${current.next.row}`); await refresh();
}
const who = document.getElementById("labeller");
who.value = localStorage.getItem("tether-labeller") || who.value;  // the name survives a reload or a restart
who.addEventListener("input", () => localStorage.setItem("tether-labeller", who.value.trim()));
refresh();
</script></body></html>
"""


def queue_view(run_dir: Path) -> dict[str, Any]:
    """What the page shows: the current queue's counts and spaces, and its next pending state."""
    queue = current_queue(run_dir)
    if queue is None:
        return {"round": _finished_round(run_dir), "n_rows": _finished_rows(run_dir), "next": None}
    pending = queue.pending()
    row = pending[0]
    return {"run_id": queue.run_id, "round": queue.round, "n_rows": queue.n_rows, "pending": len(pending),
            "labelled": queue.n_rows - len(pending), "action_space": queue.action_space.to_json(),
            "action_names": list(queue.action_names) if queue.action_names else None,
            "observation_names": list(queue.observation_names),
            "next": {"row": row, "episode": int(queue.episodes[row]), "step": int(queue.steps[row]),
                     "observation": queue.observations[row].astype(float).tolist(),
                     "description": queue.descriptions[row] if queue.descriptions else None,
                     "frame": f"/frames/{row}.png" if queue.has_frames else None}}


def _latest_queue(run_dir: Path) -> LabelQueue | None:
    for directory in sorted((run_dir / "rounds").glob("[0-9][0-9][0-9]"), reverse=True):
        if LabelQueue.exists(directory):
            return LabelQueue.load(directory)
    return None


def _finished_round(run_dir: Path) -> int | None:
    queue = _latest_queue(run_dir)
    return queue.round if queue is not None else None


def _finished_rows(run_dir: Path) -> int:
    queue = _latest_queue(run_dir)
    return queue.n_rows if queue is not None else 0


class _Handler(BaseHTTPRequestHandler):
    server: LabelServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the command prints what matters
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def do_GET(self) -> None:
        run_dir = self.server.run_dir
        try:
            if self.path in ("/", "/index.html"):
                page = PAGE.replace("__LABELLER__", _html_attr(self.server.labeller))
                self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
            elif self.path == "/api/queue":
                self._json(HTTPStatus.OK, queue_view(run_dir))
            elif self.path.startswith("/frames/") and self.path.endswith(".png"):
                queue = current_queue(run_dir)
                row = self.path.removeprefix("/frames/").removesuffix(".png")
                frame = queue.directory / "frames" / f"{int(row)}.png" if queue is not None and row.isdigit() else None
                if frame is None or not frame.is_file():
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no frame {row}"})
                else:
                    self._send(HTTPStatus.OK, frame.read_bytes(), "image/png")
            elif self.path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}"})
        except TetherError as err:
            self._json(HTTPStatus.CONFLICT, {"error": str(err)})

    def do_POST(self) -> None:
        if self.path != "/api/label":
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "send one JSON label of at most 64 KiB"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            row, action = int(body["row"]), body["action"]
            labeller = str(body.get("labeller") or self.server.labeller)[:80]
        except (ValueError, KeyError, TypeError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": 'send {"row": int, "action": ..., "labeller": str}'})
            return
        queue = current_queue(self.server.run_dir)
        if queue is None:
            self._json(HTTPStatus.CONFLICT, {"error": "no states wait for labels"})
            return
        try:
            with self.server.write_lock:
                held = queue.add_labels([row], [action], source="human", labeller=labeller)
        except TetherError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        self._json(HTTPStatus.OK, {"row": row, "labelled": held, "pending": queue.n_rows - held})


def _html_attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


class LabelServer(ThreadingHTTPServer):
    """The labelling server over `run_dir` (`serve_forever()` to run; `url` once bound)."""

    daemon_threads = True

    def __init__(self, run_dir: str | Path, host: str = "127.0.0.1", port: int = 8765, labeller: str = "person"):
        self.run_dir = Path(run_dir)
        if not (self.run_dir / RUN_FILE).is_file():
            raise ConfigError("run_dir", f"{self.run_dir} holds no DAgger run ({RUN_FILE} is missing)",
                              "start one with `tether dagger --expert human ...` first")
        self.labeller = labeller
        self.write_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"
