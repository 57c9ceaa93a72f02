"""Multi-layer perceptrons, the tanh-Gaussian actor and vmapped critic ensembles."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_STD_MIN = -20.0  # rlkit / D4RL behaviour-policy clamp
LOG_STD_MAX = 2.0
INITS = ("lecun", "torch", "edac")
# bound at import: flax re-evaluates initializers' shapes inside `apply`, and the update cross-check
# (bench.crosscheck) stands in for `jax.random.uniform` while it traces an update
_uniform = jax.random.uniform


def check_init(init: str, field: str = "init") -> None:
    """Raise a ValueError naming `field` unless `init` is one of `INITS`."""
    if init not in INITS:
        raise ValueError(f"{field} must be one of {', '.join(INITS)}, got {init!r}")


@jax.custom_vjp
def _linear(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


def _linear_forward(x: jax.Array, kernel: jax.Array):
    return _linear(x, kernel), (x, kernel)


def _linear_backward(residuals, g: jax.Array):
    x, kernel = residuals
    grad_x = jax.lax.dot_general(g, kernel, (((g.ndim - 1,), (1,)), ((), ())))
    rows_x, rows_g = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])  # one contracting axis
    if kernel.shape[1] < kernel.shape[0]:
        # a narrow head (6 actions, 1 value): XLA's CPU matmul is several times faster writing the
        # [out, in] product, and transposing a few hundred values costs nothing
        return grad_x, jax.lax.dot_general(rows_g, rows_x, (((0,), (0,)), ((), ()))).T
    return grad_x, jax.lax.dot_general(rows_x, rows_g, (((0,), (0,)), ((), ())))  # [in, out], as stored


_linear.defvjp(_linear_forward, _linear_backward)


def matmul(x: jax.Array, kernel: jax.Array, dimension_numbers, precision=None, preferred_element_type=None):
    """`nn.Dense`'s `x @ kernel` (`x` `[..., in]`, kernel `[in, out]`), with the same values and
    gradients as `lax.dot_general`, but a backward pass that forms the kernel's gradient as `x^T g`,
    already in the kernel's `[in, out]` layout (narrow heads excepted, see `_linear_backward`).

    JAX's own rule forms `g^T x` (`[out, in]`) and transposes it. Under the seed `vmap` XLA on a CPU
    keeps that transpose and folds it into Adam's moment updates, which then read the gradient with a
    stride. Without it BC's step took 28% less time on a 2-core CPU. Any other contraction, or an
    explicit precision or output type, goes to `lax.dot_general` unchanged.
    """
    if (dimension_numbers != (((x.ndim - 1,), (0,)), ((), ())) or kernel.ndim != 2
            or precision is not None or preferred_element_type is not None):
        return jax.lax.dot_general(x, kernel, dimension_numbers, precision=precision,
                                   preferred_element_type=preferred_element_type)
    return _linear(x, kernel)


def dense_init(init: str, fan_in: int, output_bound: float | None = None) -> dict:
    """`nn.Dense` keyword arguments for `init`: `"lecun"` is flax's default (lecun-normal kernel, zero
    bias); `"torch"` is PyTorch's `nn.Linear` default, kernel and bias uniform on +-1/sqrt(fan_in);
    `"edac"` is the EDAC paper's (used by SAC-N, EDAC and ReBRAC): PyTorch's kernel with biases 0.1, and
    an output layer (`output_bound` given) uniform on +-output_bound, kernel and bias, so the first
    outputs are near 0. Either way the layer multiplies with `matmul` (same values, a faster backward pass)."""
    check_init(init)
    if init == "lecun":
        return {"dot_general": matmul}
    bound = 1.0 / fan_in**0.5 if init == "torch" or output_bound is None else output_bound

    def uniform(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        return _uniform(key, shape, dtype, -bound, bound)

    bias = uniform if init == "torch" or output_bound is not None else nn.initializers.constant(0.1)
    return {**dense_init("lecun", fan_in), "kernel_init": uniform, "bias_init": bias}


ACTIVATIONS = {"relu": nn.relu, "swish": nn.swish}


class MLP(nn.Module):
    """MLP (ReLU, or `"swish"` as dynamics models use); `hidden_dims` then a linear output of `output_dim`
    (none if 0)."""

    hidden_dims: Sequence[int]
    output_dim: int = 0
    layer_norm: bool = False
    weight_init: str = "lecun"
    activation: str = "relu"
    output_bound: float = 3e-3  # the output layer's bound under "edac" (critics 3e-3, actors 1e-3)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden_dims:
            x = nn.Dense(width, **dense_init(self.weight_init, x.shape[-1]))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = ACTIVATIONS[self.activation](x)
        if self.output_dim:
            x = nn.Dense(self.output_dim, **dense_init(self.weight_init, x.shape[-1], self.output_bound))(x)
        return x


class TanhGaussianActor(nn.Module):
    """Gaussian policy squashed by tanh. Returns `(mean, log_std)`, each `[batch, action_dim]`."""

    hidden_dims: Sequence[int]
    action_dim: int
    weight_init: str = "lecun"

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = MLP(self.hidden_dims, weight_init=self.weight_init, name="trunk")(observations)
        mean = nn.Dense(self.action_dim, name="mean", **dense_init(self.weight_init, h.shape[-1], 1e-3))(h)
        log_std = nn.Dense(self.action_dim, name="log_std", **dense_init(self.weight_init, h.shape[-1], 1e-3))(h)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def tanh_gaussian_log_prob(
    pre_tanh: jax.Array, mean: jax.Array, log_std: jax.Array
) -> jax.Array:
    """Log-density of `tanh(pre_tanh)` under a tanh-squashed Gaussian, summed over action dims.

    Uses the numerically stable `log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))`.
    """
    gauss = -0.5 * (((pre_tanh - mean) / jnp.exp(log_std)) ** 2) - log_std - 0.5 * jnp.log(2 * jnp.pi)
    squash = 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))
    return jnp.sum(gauss - squash, axis=-1)


class QEnsemble(nn.Module):
    """`n_critics` independent Q(s, a) MLPs evaluated in one vmapped call: returns `[n_critics, batch]`.

    `actions` is `[batch, action_dim]`, shared by the members, or `[n_critics, batch, action_dim]`, one
    batch per member (so a gradient with respect to them is per member: EDAC's diversity term).
    """

    hidden_dims: Sequence[int]
    n_critics: int = 2
    layer_norm: bool = False
    weight_init: str = "lecun"

    @nn.compact
    def __call__(self, observations: jax.Array, actions: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=0,
            out_axes=0,
            axis_size=self.n_critics,
        )
        # each member gets its own (broadcast) copy of the input: every layer is then a matmul batched
        # over the leading member axis, where a shared input made XLA interleave the member axis into
        # the activations' layout and transpose them back at every layer
        if actions.ndim == observations.ndim + 1:
            observations = jnp.broadcast_to(observations, (self.n_critics, *observations.shape))
            x = jnp.concatenate([observations, actions], axis=-1)
        else:
            x = jnp.concatenate([observations, actions], axis=-1)
            x = jnp.broadcast_to(x, (self.n_critics, *x.shape))
        return ensemble(self.hidden_dims, 1, self.layer_norm, self.weight_init)(x)[..., 0]


class DeterministicActor(nn.Module):
    """`tanh(MLP(s))`: actions in [-1, 1], `[batch, action_dim]`."""

    hidden_dims: Sequence[int]
    action_dim: int
    weight_init: str = "lecun"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, observations: jax.Array) -> jax.Array:
        return jnp.tanh(MLP(self.hidden_dims, self.action_dim, layer_norm=self.layer_norm,
                            weight_init=self.weight_init, output_bound=1e-3)(observations))


class GaussianActor(nn.Module):
    """Gaussian with a tanh-bounded mean and a state-independent log-std (IQL's policy).

    Returns `(mean [batch, action_dim], log_std [action_dim])`.
    """

    hidden_dims: Sequence[int]
    action_dim: int
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = jnp.tanh(MLP(self.hidden_dims, self.action_dim)(observations))
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


def gaussian_log_prob(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Diagonal Gaussian log-density summed over the last axis."""
    z = (x - mean) / jnp.exp(log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


class ValueNet(nn.Module):
    """V(s): `[batch]`."""

    hidden_dims: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, observations: jax.Array) -> jax.Array:
        return MLP(self.hidden_dims, 1, self.layer_norm)(observations)[..., 0]


class ConditionalVAE(nn.Module):
    """BCQ's generative model of logged actions given the state.

    `__call__(s, a, key)` returns `(reconstruction, mean, log_std)`; `decode(s, z)` maps a latent to
    an action, squashed into [-1, 1] by tanh when `squash` (the paper's decoder; d3rlpy 2.8.1's is
    linear); with `z=None` it samples a clipped latent as BCQ does. The encoder's log-std is clipped
    to [-4, 15], as the paper's code and d3rlpy's BCQ do.
    """

    hidden_dims: Sequence[int]
    action_dim: int
    latent_dim: int
    squash: bool = True
    weight_init: str = "lecun"

    def setup(self) -> None:
        width = self.hidden_dims[-1]
        self.encoder = MLP(self.hidden_dims, weight_init=self.weight_init)
        self.encoder_mean = nn.Dense(self.latent_dim, **dense_init(self.weight_init, width))
        self.encoder_log_std = nn.Dense(self.latent_dim, **dense_init(self.weight_init, width))
        self.decoder = MLP(self.hidden_dims, self.action_dim, weight_init=self.weight_init)

    def __call__(self, observations: jax.Array, actions: jax.Array, key: jax.Array):
        h = self.encoder(jnp.concatenate([observations, actions], axis=-1))
        mean, log_std = self.encoder_mean(h), jnp.clip(self.encoder_log_std(h), -4.0, 15.0)
        z = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return self.decode(observations, z), mean, log_std

    def decode(self, observations: jax.Array, z: jax.Array) -> jax.Array:
        out = self.decoder(jnp.concatenate([observations, z], axis=-1))
        return jnp.tanh(out) if self.squash else out

    def sample(self, observations: jax.Array, key: jax.Array) -> jax.Array:
        z = jnp.clip(jax.random.normal(key, (*observations.shape[:-1], self.latent_dim)), -0.5, 0.5)
        return self.decode(observations, z)


class DiscreteQNet(nn.Module):
    """Q(s, .) for every discrete action: `[batch, n_actions]`."""

    hidden_dims: Sequence[int]
    n_actions: int

    @nn.compact
    def __call__(self, observations: jax.Array) -> jax.Array:
        return MLP(self.hidden_dims, self.n_actions)(observations)
