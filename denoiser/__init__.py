"""denoiser: the library of denoise-bench (models, noise, data, training, inference, metrics).

It never imports the ``bench`` application. Names load lazily, so that importing
``denoiser.errors`` (as the command line does before parsing) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "DATASETS": "denoiser.data",
    "register_dataset": "denoiser.data",
    "register_model": "denoiser.models",
    "register_metric": "denoiser.metrics",
    "TrainSettings": "denoiser.training",
    "register_noise": "denoiser.noise",
    "register_baseline": "denoiser.baselines",
    "BASELINES": "denoiser.baselines",
    "ESTIMATORS": "denoiser.estimators",
    "register_estimator": "denoiser.estimators",
    "load_plugins": "denoiser.plugins",
    "ImageSet": "denoiser.data",
    "augment": "denoiser.data",
    "load_dataset": "denoiser.data",
    "split": "denoiser.data",
    "split_three": "denoiser.data",
    "ConfigurationError": "denoiser.errors",
    "DataError": "denoiser.errors",
    "DenoiserError": "denoiser.errors",
    "MODELS": "denoiser.models",
    "count_parameters": "denoiser.models",
    "create_model": "denoiser.models",
    "NOISE": "denoiser.noise",
    "ProtocolKey": "denoiser.protocol",
    "create_noise": "denoiser.noise",
    "make_generator": "denoiser.noise",
    "TrainResult": "denoiser.training",
    "TrainingDiverged": "denoiser.training",
    "pick_device": "denoiser.devices",
    "train": "denoiser.training",
    "Denoiser": "denoiser.interface",
    "LearnedDenoiser": "denoiser.inference",
    "denoise": "denoiser.inference",
    "denoise_whole": "denoiser.inference",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'denoiser' has no attribute {name!r}")
