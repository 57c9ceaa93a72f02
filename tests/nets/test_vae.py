"""BCQ's conditional VAE: the paper's tanh decoder or d3rlpy's linear one, and the encoder's log-std clip."""

import jax
import jax.numpy as jnp
import numpy as np

from tether.nets import ConditionalVAE

OBS, ACT = jnp.ones((5, 3)) * 4.0, jnp.ones((5, 2))


def test_linear_decoder_is_the_tanh_decoder_before_its_squash():
    squashed, linear = ConditionalVAE((8,), 2, 4), ConditionalVAE((8,), 2, 4, squash=False)
    params = squashed.init(jax.random.key(0), OBS, ACT, jax.random.key(1))  # both have the same parameters
    z = jax.random.normal(jax.random.key(2), (5, 4))
    raw = linear.apply(params, OBS, z, method=ConditionalVAE.decode)
    np.testing.assert_allclose(squashed.apply(params, OBS, z, method=ConditionalVAE.decode), np.tanh(raw), rtol=1e-6)
    scaled = jax.tree.map(lambda x: 50.0 * x, params)  # a decoder that reaches past [-1, 1]
    assert float(jnp.max(jnp.abs(linear.apply(scaled, OBS, z, method=ConditionalVAE.decode)))) > 1.0


def test_encoder_log_std_is_clipped_to_the_papers_bounds():
    vae = ConditionalVAE((8,), 2, 4)
    params = jax.tree.map(lambda x: 500.0 * x, vae.init(jax.random.key(0), OBS, ACT, jax.random.key(1)))
    _, _, log_std = vae.apply(params, OBS, ACT, jax.random.key(1))
    assert float(jnp.min(log_std)) == -4.0 and float(jnp.max(log_std)) == 15.0
