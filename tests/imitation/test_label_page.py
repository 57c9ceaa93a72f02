"""The labelling page in a real headless Chromium: a person's clicks become labels on disk, through a killed
server, and the DAgger loop continues with them."""

from __future__ import annotations

import json
import threading

import gymnasium as gym
import numpy as np

from tests._browser import Browser, chromium_path
from tether.algos.dagger import DiscreteDAggerConfig
from tether.imitation import HumanExpert, LabelQueue, task_from_env, train_dagger
from tether.imitation.label_server import LabelServer


class Corridor(gym.Env):
    """Walk right along five cells; renders the walker as a red block."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode: str | None = None):
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 4.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.position, self.t = 2, 0

    def _obs(self):
        return np.array([self.position, 4 - self.position], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = 2, 0
        return self._obs(), {}

    def step(self, action):
        self.position = int(np.clip(self.position + (1 if action == 1 else -1), 0, 4))
        self.t += 1
        return self._obs(), float(self.position == 4), self.position == 4, self.t >= 6, {}

    def render(self):
        frame = np.full((20, 100, 3), 255, np.uint8)
        frame[:, 20 * self.position: 20 * self.position + 20] = (200, 0, 0)
        return frame


def _serve(run_dir, port: int = 0):
    server = LabelServer(run_dir, port=port, labeller="nobody")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _stop(server, thread):
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _label_current(browser: Browser, action: int) -> None:
    row = browser.evaluate("document.getElementById('row').textContent")
    browser.click(f"#action-{action}")
    browser.wait_for(f"document.getElementById('status').textContent === 'saved row {row}'")


def test_a_person_labels_through_the_page_and_a_killed_server_loses_nothing(tmp_path):
    chromium_path()
    task = task_from_env(lambda **kw: Corridor(**kw), "corridor")
    config = DiscreteDAggerConfig(rounds=1, demo_episodes=2, episodes_per_round=1, steps_per_round=200,
                                  observation_scaler=None)
    run_dir = tmp_path / "run"
    waiting = train_dagger(config, task, HumanExpert("ana"), run_dir, show_progress=False)
    queue = LabelQueue.load(run_dir / "rounds" / "000")
    assert waiting.pending == queue.n_rows >= 4 and queue.has_frames  # random rollouts, rendered for the person
    server, thread = _serve(run_dir)
    with Browser() as browser:
        browser.goto(server.url)
        browser.wait_for("document.getElementById('row').textContent !== ''")
        assert browser.wait_for("document.getElementById('frame').complete && "
                                "document.getElementById('frame').naturalWidth") == 100  # the rendered state
        shown = browser.evaluate("[...document.querySelectorAll('#fields tbody td.v')]"
                                 ".map(td => Number(td.textContent))")
        assert shown == queue.observations[0].tolist()
        buttons = browser.evaluate("[...document.querySelectorAll('#controls button')].map(b => b.textContent)")
        assert buttons == ["0", "1"]
        browser.type_into("#labeller", "ana")
        for _ in range(3):
            _label_current(browser, 1)
        invalid = browser.evaluate("fetch('/api/label', {method: 'POST', body: JSON.stringify({row: 3, action: 7})})"
                                   ".then(r => r.json().then(j => [r.status, j.error]))")
        assert invalid[0] == 400 and "outside 0..1" in invalid[1]

        _stop(server, thread)  # the server dies mid-queue: the three labels are already on disk
        assert sorted(queue.labels()) == [0, 1, 2]
        server, thread = _serve(run_dir, port=server.server_address[1])  # the same page, so the same name
        browser.goto(server.url)
        browser.wait_for(f"document.getElementById('progress').textContent.includes('3 of {queue.n_rows}')")
        for _ in range(queue.n_rows - 3):
            _label_current(browser, 1)
        browser.wait_for("document.getElementById('progress').textContent.includes('are labelled')")

        labels = json.loads((run_dir / "rounds" / "000" / "labels.json").read_text())["labels"]
        assert len(labels) == queue.n_rows
        assert {(e["action"], e["source"], e["labeller"]) for e in labels.values()} == {(1, "human", "ana")}

        resumed = train_dagger(config, task, HumanExpert("ana"), run_dir, show_progress=False)  # round 1 queues
        assert resumed.pending > 0 and resumed.rounds[0].labels == queue.n_rows
        browser.wait_for("document.getElementById('progress').textContent.startsWith('Round 1')", timeout_s=20)
        for _ in range(resumed.pending):
            _label_current(browser, 1)
        assert not browser.console, browser.console
    _stop(server, thread)
    finished = train_dagger(config, task, HumanExpert("ana"), run_dir, show_progress=False)
    assert finished.finished and finished.dataset is not None
    rounds = finished.dataset.extras["dagger_round"]
    assert set(finished.dataset.extras["labeller"]) == {"ana"} and set(rounds) == {0, 1}
    assert np.all(finished.dataset.actions == 1)
    assert finished.learner.predict(np.array([[2.0, 2.0]], np.float32)).tolist() == [1]  # it learned the person's rule
