"""GAIL and AIRL runs: checkpoints that restore exactly, resume, refusal of another run's directory, a
diverging or collapsing discriminator, the absorbing state's reward in closed form, the registry, and
the command line end to end (train, resume, transfer)."""

from __future__ import annotations

import json

import jax
import numpy as np
import onnxruntime
import pytest
from typer.testing import CliRunner

from tether.algos import TrainingDivergedError, get_algo
from tether.algos.airl import AIRLConfig
from tether.algos.gail import GAILConfig
from tether.algos.ppo import PPOConfig
from tether.algos.registry import INTERACTIVE, get_interactive, interactive_config_from_json
from tether.cli.main import app
from tether.envs.classic import make_classic_logs
from tether.errors import ConfigError
from tether.imitation import load_policy, resolve_task, train_airl, train_gail
from tether.imitation.adversarial import run_adversarial
from tether.imitation.gail import GAILAdversary, with_absorbing

SMALL_PPO = PPOConfig(n_envs=2, n_steps=64, batch_size=64, n_epochs=2)
ROLLOUT = 128
DEMOS = make_classic_logs("cartpole", epsilon=0.0, n_episodes=1, seed=0)
runner = CliRunner()


def _leaves_equal(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("train, config_cls", [(train_gail, GAILConfig), (train_airl, AIRLConfig)])
def test_a_checkpoint_restores_exactly_and_a_run_resumes_to_its_length(tmp_path, train, config_cls):
    config = config_cls(ppo=SMALL_PPO, total_steps=2 * ROLLOUT, checkpoint_every=1)
    first = train(config, "cartpole", DEMOS, seed=3, run_dir=tmp_path)
    # the same settings and length on the same directory: nothing to learn, every state as saved
    again = train(config, "cartpole", DEMOS, seed=3, run_dir=tmp_path)
    _leaves_equal(again.policy.state, first.policy.state)
    _leaves_equal(again.discriminator.state, first.discriminator.state)
    assert again.history == json.loads(json.dumps(first.history))
    longer = train(config_cls(ppo=SMALL_PPO, total_steps=4 * ROLLOUT, checkpoint_every=1), "cartpole", DEMOS, seed=3,
                   run_dir=tmp_path)
    assert longer.policy.steps_done == 4 * ROLLOUT and [h["steps"] for h in longer.history] == [128, 256, 384, 512]
    assert json.loads((tmp_path / "history.json").read_text()) == json.loads(json.dumps(longer.history))
    observations = DEMOS.observations[:7]
    policy = load_policy(tmp_path / "policy.tether", config.get_type())
    np.testing.assert_array_equal(policy.predict(observations), longer.policy.predict(observations))
    with pytest.raises(ConfigError, match="holds a .* run with a different demonstrations"):
        train(config, "cartpole", make_classic_logs("cartpole", epsilon=0.0, n_episodes=1, seed=1), seed=3,
              run_dir=tmp_path)
    with pytest.raises(ConfigError, match="different seed"):
        train(config, "cartpole", DEMOS, seed=4, run_dir=tmp_path)


class _ScriptedLoss:
    """An adversary whose discriminator loss follows a script (to drive the run's divergence checks)."""

    def __init__(self, losses):
        self.losses = list(losses)

    def reward(self, transitions):
        return np.zeros(len(transitions["observations"]))

    def update(self, ppo, transitions):
        return {"disc_loss": self.losses.pop(0)}

    def checkpoint(self):
        return {"state": {"w": np.zeros(2)}, "rng": {}}

    def restore(self, saved):
        pass


def test_a_diverging_discriminator_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    config = GAILConfig(ppo=SMALL_PPO, total_steps=3 * ROLLOUT, checkpoint_every=1)
    task = resolve_task("cartpole")
    with pytest.raises(TrainingDivergedError, match="disc_learning_rate"):
        run_adversarial(config, task, DEMOS, _ScriptedLoss([0.9, 0.8, float("nan")]), 0, tmp_path)
    assert [h["steps"] for h in json.loads((tmp_path / "history.json").read_text())] == [128, 256]
    with pytest.warns(UserWarning, match="collapsed to 0.0001.*raise gradient_penalty"):
        run_adversarial(config, task, DEMOS, _ScriptedLoss([1e-4, 1e-4, 1e-4]), 0)


def test_the_absorbing_state_adds_its_discounted_reward_at_terminations_only():
    demos = make_classic_logs("cartpole", epsilon=1.0, n_episodes=3, seed=0)  # random play: every episode falls
    config = GAILConfig(ppo=SMALL_PPO, absorbing=True)
    adversary = GAILAdversary(config, resolve_task("cartpole"), demos, seed=0)
    terminations = demos.transitions().terminations
    assert len(adversary.expert) == len(terminations) + int(terminations.sum())
    rows = with_absorbing(np.zeros((2, 5), np.float32), np.array([0.0, 1.0, 1.0]))
    np.testing.assert_array_equal(rows[:, -1], [0, 0, 1, 1])
    steps = demos.transitions()
    transitions = {"observations": steps.observations[:6], "actions": steps.actions[:6],
                   "next_observations": steps.next_observations[:6],
                   "terminations": np.array([0, 0, 1, 0, 0, 1], np.float32)}
    absorbing = np.zeros((1, adversary.expert.shape[1]), np.float32)
    absorbing[0, -1] = 1
    plain = adversary.discriminator.logits(np.concatenate([adversary._inputs(transitions), np.zeros((6, 1))], 1))
    stay = np.logaddexp(0, adversary.discriminator.logits(absorbing)[0]) * 0.99 / 0.01
    expected = np.logaddexp(0, plain) + stay * transitions["terminations"]
    np.testing.assert_allclose(adversary.reward(transitions), expected, rtol=1e-5)


def test_the_registry_lists_gail_and_airl_and_rebuilds_their_configs():
    assert sorted(INTERACTIVE) == ["airl", "gail"]
    for config in (GAILConfig(ppo=SMALL_PPO, disc_hidden_dims=(8,)), AIRLConfig(potential_hidden_dims=(4, 4))):
        assert interactive_config_from_json(json.loads(json.dumps(config.to_json()))) == config
        assert get_interactive(config.get_type()).config_cls is type(config)
    with pytest.raises(ConfigError, match="learns by acting in an environment.*tether gail --env"):
        get_algo("gail")
    with pytest.raises(ConfigError, match="unknown learner 'gial'.*gail"):
        get_interactive("gial")


def test_gail_and_airl_from_the_command_line_train_resume_export_and_transfer(tmp_path):
    common = ["--env", "cartpole", "--expert", "scripted", "--demo-episodes", "1", "--n-envs", "2"]
    result = runner.invoke(app, ["gail", *common, "--steps", "1024", "--run-dir", str(tmp_path / "g"), "--onnx",
                                 "--tensorboard"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "g").iterdir()} >= {"checkpoint.tether", "policy.tether", "policy.onnx",
                                                            "history.json", "tensorboard"}
    policy = load_policy(tmp_path / "g" / "policy.tether")
    observations = DEMOS.observations[:9]
    session = onnxruntime.InferenceSession(str(tmp_path / "g" / "policy.onnx"))
    np.testing.assert_array_equal(session.run(None, {"observations": observations})[0], policy.predict(observations))
    result = runner.invoke(app, ["gail", *common, "--steps", "2048", "--run-dir", str(tmp_path / "g")])
    assert result.exit_code == 0 and len(json.loads((tmp_path / "g" / "history.json").read_text())) == 4
    result = runner.invoke(app, ["airl", *common, "--steps", "512", "--run-dir", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["airl", "transfer", str(tmp_path / "a" / "reward.tether"), "--env", "cartpole",
                                 "--steps", "512", "--n-envs", "2", "--run-dir", str(tmp_path / "t")])
    assert result.exit_code == 0 and load_policy(tmp_path / "t" / "policy.tether").predict(observations).shape == (9,)
    result = runner.invoke(app, ["airl", "transfer", str(tmp_path / "a" / "reward.tether"), "--env", "acrobot"])
    assert result.exit_code == 2 and "scores 4 observation fields, acrobot has 6" in result.output
    result = runner.invoke(app, ["gail", "--expert", "scripted"])
    assert result.exit_code == 2 and "--env: names no task" in result.output
    result = runner.invoke(app, ["train", "airl", str(tmp_path / "missing.npz")])
    assert result.exit_code == 2 and "tether airl --env" in result.output


def test_airl_terminations_lead_to_a_learned_absorbing_state_and_the_transfer_reward_counts_it(tmp_path):
    from tether.imitation.airl import AIRLAdversary, SavedReward, _sampled

    demos = make_classic_logs("cartpole", epsilon=1.0, n_episodes=3, seed=0)  # random play: every episode falls
    adversary = AIRLAdversary(AIRLConfig(ppo=SMALL_PPO), resolve_task("cartpole"), demos, seed=0)
    ended = demos.transitions().terminations > 0
    rows = adversary.expert
    assert len(rows["loop"]) == len(ended) + ended.sum() and rows["loop"].sum() == ended.sum()
    np.testing.assert_array_equal(rows["next_observations"][: len(ended)][ended, -1], 1.0)  # into the absorbing state
    np.testing.assert_array_equal(rows["next_observations"][: len(ended)][ended, :-1], 0.0)
    assert not rows["terminations"].any()  # its h is learned, never masked
    assert float(adversary.discriminator.shaped(_sampled(rows, np.arange(5), np.zeros(5))).std()) == 0.0  # starts at 0
    for _ in range(30):  # move g and h away from zero so the formula below is not trivially 0 = 0
        adversary.discriminator.update(_sampled(rows, np.arange(32), np.zeros(32)),
                                       _sampled(rows, np.arange(32, 64), np.zeros(32)))
    steps = demos.transitions()
    transitions = {"observations": steps.observations[:6], "actions": steps.actions[:6],
                   "next_observations": steps.next_observations[:6], "log_probs": np.full(6, -0.5, np.float32),
                   "terminations": np.array([0, 0, 1, 0, 0, 1], np.float32)}
    built = adversary._rows(transitions)
    f = adversary.discriminator.shaped(_sampled(built, np.arange(8), np.zeros(8)))
    np.testing.assert_allclose(f[6], f[7], rtol=1e-6)  # every loop is the same absorbing state
    expected = f[:6] + 0.5 + transitions["terminations"] * f[6] * 0.99 / 0.01
    np.testing.assert_allclose(adversary.reward(transitions), expected, rtol=1e-4, atol=1e-4)
    saved = SavedReward(adversary.discriminator.save_reward(tmp_path / "reward.tether"))
    g = adversary.discriminator.state_reward(transitions["observations"])
    np.testing.assert_allclose(saved.transition_reward(transitions),
                               g + transitions["terminations"] * saved.absorbing_reward() * 99, rtol=1e-4, atol=1e-4)
    assert saved.observation_dim == 4 and saved.absorbing_reward() != 0.0
