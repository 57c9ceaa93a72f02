"""Behaviour policies of the zoo: tanh-Gaussian MLPs evaluated in NumPy.

A zoo policy is a file of plain arrays (NumPy `.npz`, read with `allow_pickle=False`), so loading
one never executes code. The arrays are the policy: returns and log-probabilities in the manifest
and in generated datasets are measured with exactly these weights.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tether._atomic import write_atomically

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class ZooPolicy:
    """A tanh-Gaussian policy: ReLU trunk `layers`, then `mean` and `log_std` heads.

    Attributes:
        layers: `(kernel [in, out], bias [out])` per hidden layer.
        mean: the mean head's `(kernel, bias)`.
        log_std: the log-std head's `(kernel, bias)`.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    mean: tuple[np.ndarray, np.ndarray]
    log_std: tuple[np.ndarray, np.ndarray]

    @property
    def observation_dim(self) -> int:
        return int(self.layers[0][0].shape[0])

    @property
    def action_dim(self) -> int:
        return int(self.mean[0].shape[1])

    def distribution(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pre-tanh Gaussian `(mean, log_std)`, each `[..., action_dim]`, for `[..., obs_dim]` input."""
        h = np.asarray(observations, dtype=np.float32)
        for kernel, bias in self.layers:
            h = np.maximum(h @ kernel + bias, 0.0)
        mean = h @ self.mean[0] + self.mean[1]
        log_std = np.clip(h @ self.log_std[0] + self.log_std[1], LOG_STD_MIN, LOG_STD_MAX)
        return mean, log_std

    def deterministic(self, observations: np.ndarray) -> np.ndarray:
        """The mode's squashed mean, `tanh(mean)`."""
        return np.tanh(self.distribution(observations)[0])

    def sample(
        self, observations: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sample actions and their log-probabilities (with the tanh correction).

        Returns:
            `(actions [batch, action_dim] float32, log_probs [batch] float64)`.
        """
        mean, log_std = self.distribution(observations)
        noise = rng.standard_normal(mean.shape).astype(np.float32)
        pre_tanh = mean + np.exp(log_std) * noise
        actions = np.tanh(pre_tanh)
        return actions.astype(np.float32), self.log_prob_pre_tanh(pre_tanh, mean, log_std)

    @staticmethod
    def log_prob_pre_tanh(pre_tanh: np.ndarray, mean: np.ndarray, log_std: np.ndarray) -> np.ndarray:
        """Log-density of `tanh(pre_tanh)`, summed over action dimensions, in float64."""
        u = pre_tanh.astype(np.float64)
        z = (u - mean) / np.exp(log_std)
        gauss = -0.5 * z**2 - log_std - _HALF_LOG_2PI
        squash = 2.0 * (np.log(2.0) - u - np.logaddexp(0.0, -2.0 * u))
        return np.sum(gauss - squash, axis=-1)

    def to_arrays(self, dtype: str = "float16") -> dict[str, Any]:
        """Flat name -> array mapping, the on-disk layout."""
        arrays: dict[str, np.ndarray] = {}
        for i, (kernel, bias) in enumerate(self.layers):
            arrays[f"layer{i}/kernel"], arrays[f"layer{i}/bias"] = kernel, bias
        arrays["mean/kernel"], arrays["mean/bias"] = self.mean
        arrays["log_std/kernel"], arrays["log_std/bias"] = self.log_std
        return {k: np.asarray(v, dtype=dtype) for k, v in arrays.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ZooPolicy:
        """Inverse of `to_arrays`; weights are computed in float32 whatever they were stored as."""
        def pair(name: str) -> tuple[np.ndarray, np.ndarray]:
            try:
                return (np.asarray(arrays[f"{name}/kernel"], np.float32),
                        np.asarray(arrays[f"{name}/bias"], np.float32))
            except KeyError as err:
                raise ValueError(f"policy file lacks array {err.args[0]!r}") from None

        n_layers = sum(1 for k in arrays if k.startswith("layer") and k.endswith("/kernel"))
        return cls(tuple(pair(f"layer{i}") for i in range(n_layers)), pair("mean"), pair("log_std"))

    def save(self, path: str | Path, dtype: str = "float16") -> None:
        """Write the policy as an `.npz` atomically (temp file, then rename)."""
        buffer = io.BytesIO()
        np.savez(buffer, **self.to_arrays(dtype))
        write_atomically(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> ZooPolicy:
        """Read a policy written by `save` (no pickle is ever executed)."""
        with np.load(path, allow_pickle=False) as data:
            return cls.from_arrays({k: data[k] for k in data.files})

    @classmethod
    def from_flax_params(cls, params: dict) -> ZooPolicy:
        """Convert `TanhGaussianActor` parameters into a NumPy policy (float32)."""
        trunk = params["trunk"]
        layers = tuple(
            (np.asarray(trunk[f"Dense_{i}"]["kernel"]), np.asarray(trunk[f"Dense_{i}"]["bias"]))
            for i in range(len(trunk))
        )
        head = lambda name: (np.asarray(params[name]["kernel"]), np.asarray(params[name]["bias"]))  # noqa: E731
        return cls(layers, head("mean"), head("log_std"))
