"""DAgger against exact values on the tightrope (where behaviour cloning provably compounds its errors), its
resume, budget and bad experts, the label queue's offline path, and every expert source."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from tether.algos.dagger import DAggerConfig, DiscreteDAggerConfig
from tether.algos.discrete_bc import DiscreteBCConfig
from tether.algos.registry import load_learner
from tether.cli.main import app
from tether.envs.tightrope import expert_table, tightrope
from tether.errors import ConfigError, DatasetError
from tether.imitation import (
    CallableExpert,
    HumanExpert,
    LabelQueue,
    OnnxExpert,
    OptimalExpert,
    ZooExpert,
    expert_from_spec,
    resolve_task,
    train_dagger,
)

MDP = tightrope()  # horizon 20, gusts 0.2: the expert's demonstrations rarely leave the rope
TIGHTROPE = dict(demo_episodes=5, episodes_per_round=5, steps_per_round=1000, observation_scaler=None)


def round_values(run_dir, records) -> list[tuple[int, float]]:
    """(labels, exact value of the acting policy) after each round."""
    return [(r.labels, MDP.value(load_learner(run_dir / "rounds" / f"{r.round:03d}" / "policy.tether")
                                 .seed_learners()[0])) for r in records]


@pytest.fixture(scope="module")
def tightrope_runs(tmp_path_factory):
    expert = OptimalExpert(MDP, table=expert_table(MDP))
    root = tmp_path_factory.mktemp("dagger")
    plain = train_dagger(DiscreteDAggerConfig(rounds=4, **TIGHTROPE), "tightrope", expert, root / "plain",
                         show_progress=False)
    gated = train_dagger(DiscreteDAggerConfig(rounds=4, query="uncertain", ensemble_size=5, **TIGHTROPE), "tightrope",
                         expert, root / "gated", show_progress=False)
    return expert, plain, gated


def test_dagger_reaches_the_experts_exact_value_where_behaviour_cloning_does_not(tightrope_runs):
    expert, plain, _ = tightrope_runs
    target = 0.95 * MDP.value(expert.table)
    values = round_values(plain.run_dir, plain.rounds)
    assert values[0][1] < 0.75 * MDP.value(expert.table)  # BC on round 0's demonstrations: errors compound
    assert values[-1][1] >= target  # within 4 rounds of 5 rollouts each, exact
    # BC given as many expert labels (more demonstrations) stays below DAgger on average over seeds
    demos = MDP.make_logs(expert.table, n_episodes=-(-plain.labels // MDP.horizon), seed=1)
    bc = DiscreteBCConfig(observation_scaler=None).create()
    bc.fit(demos, n_steps=1000, n_steps_per_epoch=1000, seeds=[0, 1, 2], show_progress=False)
    assert demos.n_steps >= plain.labels
    assert np.mean([MDP.value(s) for s in bc.seed_learners()]) < values[-1][1]


def test_uncertainty_gated_dagger_asks_fewer_labels_for_the_same_value(tightrope_runs):
    expert, plain, gated = tightrope_runs
    target = 0.95 * MDP.value(expert.table)
    first = {name: next(labels for labels, value in round_values(run.run_dir, run.rounds) if value >= target)
             for name, run in (("plain", plain), ("gated", gated))}
    assert first["gated"] <= 0.5 * first["plain"], first
    assert all(r.queried < r.visited for r in gated.rounds[1:])  # it skipped the states it was sure of


def test_provenance_per_row_and_the_budget_caps_the_labels(tmp_path):
    expert = OptimalExpert(MDP)
    result = train_dagger(DiscreteDAggerConfig(rounds=5, label_budget=130, **{**TIGHTROPE, "steps_per_round": 200}),
                          "tightrope", expert, tmp_path / "run", show_progress=False)
    data = result.dataset
    assert result.labels == data.n_steps == 130 and len(result.rounds) == 2  # 100 demonstrated, then 30 asked
    assert data.extras["dagger_round"].tolist() == [0] * 100 + [1] * 30
    assert set(data.extras["label_source"]) == {"optimal:tightrope"}
    on_rope = data.observations[:, 1::3].sum(1) == 1  # features of offset 0
    assert np.all(data.actions[on_rope] == MDP.greedy_table()[np.argmax(data.observations[on_rope], 1)].argmax(1))
    assert (tmp_path / "run" / "policy.tether").exists() and (tmp_path / "run" / "dataset.npz").exists()


class Flaky:
    """The optimal expert that breaks at its `fail_at`-th answer: raising (a killed process) or answering garbage."""

    def __init__(self, fail_at: int, garbage: bool):
        self.inner, self.calls, self.fail_at, self.garbage = OptimalExpert(MDP), 0, fail_at, garbage
        self.source, self.synchronous = self.inner.source, True

    def label(self, observations, infos):
        self.calls += 1
        if self.calls == self.fail_at:
            if self.garbage:
                return np.full(len(observations), np.nan)
            raise KeyboardInterrupt
        return self.inner.label(observations, infos)


SHORT = DiscreteDAggerConfig(rounds=2, **{**TIGHTROPE, "steps_per_round": 200})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return train_dagger(SHORT, "tightrope", OptimalExpert(MDP), tmp_path_factory.mktemp("whole"), show_progress=False)


@pytest.mark.parametrize("garbage", [False, True], ids=["killed", "bad-answer"])
def test_a_run_broken_mid_round_resumes_to_the_same_policy(tmp_path, garbage, uninterrupted):
    config, whole = SHORT, uninterrupted
    broken = Flaky(fail_at=25, garbage=garbage)  # inside round 1's rollouts (round 0 answers 20 batches)
    if garbage:
        with pytest.raises(DatasetError, match=r"expert: optimal:tightrope returned nan, not an action id at row 0"):
            train_dagger(config, "tightrope", broken, tmp_path / "run", show_progress=False)
    else:
        with pytest.raises(KeyboardInterrupt):
            train_dagger(config, "tightrope", broken, tmp_path / "run", show_progress=False)
    assert (tmp_path / "run" / "rounds" / "000" / "policy.tether").exists()  # round 0 is kept
    resumed = train_dagger(config, "tightrope", OptimalExpert(MDP), tmp_path / "run", show_progress=False)
    assert resumed.dataset.fingerprint() == whole.dataset.fingerprint()
    assert np.array_equal(resumed.learner.predict(MDP.features), whole.learner.predict(MDP.features))
    with pytest.raises(ConfigError, match="another config"):
        train_dagger(DiscreteDAggerConfig(rounds=3, **TIGHTROPE), "tightrope", OptimalExpert(MDP), tmp_path / "run",
                     show_progress=False)


def test_a_persons_labels_round_trip_through_an_exported_file(tmp_path):
    config = DiscreteDAggerConfig(rounds=1, **{**TIGHTROPE, "steps_per_round": 200})
    waiting = train_dagger(config, "tightrope", HumanExpert("ana"), tmp_path / "run", show_progress=False)
    queue = LabelQueue.load(tmp_path / "run" / "rounds" / "000")
    assert waiting.pending == queue.n_rows > 0 and queue.descriptions[0] == "t=0 offset=+0"
    import pyarrow.parquet as pq

    exported = queue.export(tmp_path / "queue.parquet")
    table = pq.read_table(exported)
    assert table.column("action").null_count == queue.n_rows
    answers = expert_table(MDP)[[MDP.state_labels.index(d) for d in table.column("state").to_pylist()]].argmax(1)
    filled = table.set_column(table.column_names.index("action"), "action", [answers.tolist()])

    def write(rows, name):
        pq.write_table(filled.take(rows), tmp_path / name)
        return tmp_path / name
    everything = list(range(queue.n_rows))
    with pytest.raises(DatasetError, match="queue row 0 appears twice"):
        queue.import_labels(write(everything + [0], "dup.parquet"))
    with pytest.raises(DatasetError, match=f"lacks 1 queued row.*first: row {queue.n_rows - 1}"):
        queue.import_labels(write(everything[:-1], "missing.parquet"))
    bad = filled.set_column(table.column_names.index("action"), "action", [[7] * queue.n_rows])
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(DatasetError, match="returned action 7, outside 0..2"):
        queue.import_labels(tmp_path / "bad.parquet")
    other = filled.set_column(0, "run_id", [["someone-else"] * queue.n_rows])
    pq.write_table(other, tmp_path / "other.parquet")
    with pytest.raises(DatasetError, match="belongs to run someone-else"):
        queue.import_labels(tmp_path / "other.parquet")
    assert queue.labels() == {}  # nothing stored by a refused file
    assert queue.import_labels(write(everything[:3], "part.parquet"), partial=True) == 3
    assert queue.import_labels(write(everything[3:], "rest.parquet"), labeller="bo") == queue.n_rows - 3
    stored = queue.labels()
    assert [stored[r]["action"] for r in everything] == answers.tolist()
    assert {stored[r]["labeller"] for r in everything} == {"person", "bo"}
    resumed = train_dagger(config, "tightrope", HumanExpert("ana"), tmp_path / "run", show_progress=False)
    assert resumed.rounds[0].labels == queue.n_rows and resumed.pending > 0  # round 1 now waits


def pendulum_expert(observations):
    """A damped controller: torque against the angle and the angular velocity (labels, not a swing-up)."""
    cos, sin, velocity = observations.T
    return np.clip(-4.0 * np.arctan2(sin, cos) - 1.0 * velocity, -2.0, 2.0)[:, None]


def test_continuous_dagger_with_a_callable_an_onnx_and_a_zoo_expert(tmp_path):
    task = resolve_task("Pendulum-v1")
    expert = CallableExpert(pendulum_expert, source="pd-controller")
    config = DAggerConfig(rounds=1, demo_episodes=2, episodes_per_round=2, steps_per_round=300,
                          query="uncertain", ensemble_size=3, query_threshold=0.02)
    result = train_dagger(config, task, expert, tmp_path / "run", show_progress=False)
    assert result.dataset.actions.shape == (result.labels, 1) and result.rounds[0].labels == 400
    assert 0 < result.rounds[1].queried < result.rounds[1].visited == 400
    assert np.allclose(result.dataset.actions, pendulum_expert(result.dataset.observations), atol=1e-6)

    policy = result.learner.seed_learners()[0]
    onnx = OnnxExpert(policy.save_policy(tmp_path / "policy.onnx"), task.action_space)
    observations = result.dataset.observations[:50]
    assert np.allclose(onnx.label(observations, [{}] * 50), policy.predict(observations), atol=1e-5)

    hopper = resolve_task("hopper")
    zoo = expert_from_spec("zoo", hopper)
    assert isinstance(zoo, ZooExpert) and zoo.source == "zoo:hopper/expert"
    states = np.random.default_rng(0).normal(size=(5, 11)).astype(np.float32)
    assert np.allclose(zoo.label(states, [{}] * 5), zoo.policy.deterministic(states))
    as_onnx = OnnxExpert(zoo.save_onnx(tmp_path / "hopper.onnx"), hopper.action_space)  # as handed to a peer
    assert np.allclose(as_onnx.label(states, [{}] * 5), zoo.label(states, [{}] * 5), atol=1e-5)


def test_bad_experts_and_tasks_are_refused_with_the_setting_to_change(tmp_path):
    with pytest.raises(ConfigError, match="unknown task 'hoper'.*did you mean 'hopper'"):
        resolve_task("hoper")
    with pytest.raises(ConfigError, match="the zoo has no policies for tightrope"):
        expert_from_spec("zoo", resolve_task("tightrope"))
    with pytest.raises(ConfigError, match="not a decision simulator"):
        expert_from_spec("optimal", resolve_task("cartpole"))
    with pytest.raises(ConfigError, match="does not exist"):
        expert_from_spec("onnx:missing.onnx", resolve_task("cartpole"))
    with pytest.raises(ConfigError, match="DiscreteDAggerConfig"):
        train_dagger(DAggerConfig(), "cartpole", expert_from_spec("scripted", resolve_task("cartpole")), tmp_path)
    wrong_shape = CallableExpert(lambda obs: np.zeros((len(obs), 2)), source="two-dims")
    with pytest.raises(DatasetError, match=r"two-dims returned actions of shape \(1, 2\), expected \(1, 1\)"):
        train_dagger(DAggerConfig(rounds=0, demo_episodes=1), "Pendulum-v1", wrong_shape, tmp_path / "p",
                     show_progress=False)
    with pytest.raises(ConfigError, match="ensemble_size"):
        DiscreteDAggerConfig(query="uncertain")
    import gymnasium as gym

    from tether.imitation import task_from_env

    with pytest.raises(ConfigError, match=r"env: mine could not be built \(NameNotFound"):
        task_from_env(lambda **kw: gym.make("NoSuchTask-v0", **kw), "mine")


def test_cli_runs_dagger_and_refuses_it_in_train(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["dagger", "--env", "tightrope", "--expert", "optimal", "--rounds", "1", "--steps",
                                 "100", "--run-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "saved" in result.stdout and (tmp_path / "d" / "policy.tether").exists()
    result = runner.invoke(app, ["train", "dagger", "fraud"])
    assert result.exit_code == 2 and "tether dagger --env" in result.stderr
    result = runner.invoke(app, ["dagger", "label", "--run-dir", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "holds no DAgger run" in result.stderr
    result = runner.invoke(app, ["dagger", "export", str(tmp_path / "q.csv"), "--run-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "no states" in result.stderr
