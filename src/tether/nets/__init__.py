"""Networks shared by every learner: MLPs, policy heads, value nets, critic ensembles and BCQ's VAE."""

from tether.nets.mlp import (
    MLP,
    ConditionalVAE,
    DeterministicActor,
    DiscreteQNet,
    GaussianActor,
    QEnsemble,
    TanhGaussianActor,
    ValueNet,
    gaussian_log_prob,
    tanh_gaussian_log_prob,
)

__all__ = [
    "MLP", "ConditionalVAE", "DeterministicActor", "DiscreteQNet", "GaussianActor", "QEnsemble", "TanhGaussianActor",
    "ValueNet", "gaussian_log_prob", "tanh_gaussian_log_prob",
]
