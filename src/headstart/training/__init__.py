"""Training: Lightning modules, and one Trainer run for every modality."""

from .images import TrainingResult, default_epochs, fit_network
from .module import MiniLMModule, TransferModule
from .trainer import TrainerRun, run_trainer

__all__ = ["MiniLMModule", "TrainerRun", "TrainingResult", "TransferModule", "default_epochs", "fit_network",
           "run_trainer"]
