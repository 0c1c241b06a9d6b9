"""Classical denoisers: no training; their parameters follow from the known noise model and level.

Each maps (noisy batch (N, 1, H, W) in [0, 1], the noise model that made it) to an
estimate of the same shape, and says which parameters it used (written in the cell record).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from denoiser.noise import NoiseModel
from denoiser.registry import Registry


@dataclass(frozen=True)
class Baseline:
    """Base of the classical denoisers."""

    name = "baseline"

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        """The parameters used at this noise model and level."""
        return {}

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        raise NotImplementedError


BASELINES: Registry[Baseline] = Registry("baseline")


def create_baseline(name: str, **params: Any) -> Baseline:
    """Build the registered classical denoiser ``name``."""
    return BASELINES.create(name, **params)


@dataclass(frozen=True)
class Identity(Baseline):
    name = "noisy"

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        return noisy


@BASELINES.register("noisy")
def noisy() -> Baseline:
    """The noisy input itself: the floor every denoiser must beat (ΔPSNR is measured against it)."""
    return Identity()
