"""Training: a Lightning module and Trainer for the strategies that update the network."""

from .module import TransferModule
from .trainer import TrainingResult, default_epochs, fit_network

__all__ = ["TrainingResult", "TransferModule", "default_epochs", "fit_network"]
