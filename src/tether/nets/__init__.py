"""Networks shared by every learner: MLPs, policy heads and critic ensembles."""

from tether.nets.mlp import MLP, QEnsemble, TanhGaussianActor, tanh_gaussian_log_prob

__all__ = ["MLP", "QEnsemble", "TanhGaussianActor", "tanh_gaussian_log_prob"]
