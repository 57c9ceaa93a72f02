"""imitation side of bench/dagger.py; runs inside bench/.venv-imitation (imitation 1.0.1, gymnasium 0.29).

    python bench/peers/imitation_dagger.py '{"env_id": ..., "expert": "expert.onnx", "seed": 0,
        "budgets": [labels, ...], "episodes": 2, "eval_episodes": 10, "scratch": DIR}'

SimpleDAggerTrainer with its defaults (BC with a 2x32 policy, 4 epochs per round, beta = linear over
15 rounds) asks the ONNX expert for every visited state; rounds collect `episodes` episodes. Training
continues until each label budget in turn (imitation finishes the round's episodes, so it may pass the
budget: the labels it really used are reported), then the greedy policy is rolled out for
`eval_episodes` seeded episodes. One JSON line per budget: labels, return, cumulative wall seconds.
"""

import json
import sys
import time

import numpy as np
import onnxruntime
import torch as th
from _peer_common import evaluate  # bench/peers is the script's own folder
from imitation.algorithms import bc
from imitation.algorithms.dagger import SimpleDAggerTrainer
from imitation.util.util import make_vec_env
from stable_baselines3.common import policies


class OnnxExpert(policies.BasePolicy):
    """An ONNX policy file as the SB3 policy imitation expects of an expert."""

    def __init__(self, observation_space, action_space, path):
        super().__init__(observation_space, action_space)
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def _predict(self, observation, deterministic=False):
        actions = self.session.run(None, {self.input_name: observation.cpu().numpy().astype(np.float32)})[0]
        return th.as_tensor(actions)


def main() -> None:
    spec = json.loads(sys.argv[1])
    rng = np.random.default_rng(spec["seed"])
    th.manual_seed(spec["seed"])
    venv = make_vec_env(spec["env_id"], rng=rng, n_envs=1)
    expert = OnnxExpert(venv.observation_space, venv.action_space, spec["expert"])
    learner = bc.BC(observation_space=venv.observation_space, action_space=venv.action_space, rng=rng)
    trainer = SimpleDAggerTrainer(venv=venv, scratch_dir=spec["scratch"] + "/imitation", expert_policy=expert,
                                  rng=rng, bc_trainer=learner)
    wall, used = 0.0, 0
    for budget in spec["budgets"]:
        started = time.perf_counter()
        if budget > used:
            trainer.train(budget - used, rollout_round_min_episodes=spec["episodes"], rollout_round_min_timesteps=1)
        wall += time.perf_counter() - started  # training only, as tether's rows
        used = sum(len(trajectory) for trajectory in trainer._all_demos)
        print(json.dumps({"round": trainer.round_num, "labels": used, "wall_s": wall,
                          "return": evaluate(trainer.policy, spec["env_id"], spec["eval_episodes"])}), flush=True)


if __name__ == "__main__":
    main()
