"""Noise models. Each maps (clean batch in [0, 1], torch.Generator) to a noisy batch in [0, 1].

Every draw takes an explicit generator, never the global RNG, so that a seed fixes
the noise. A noise model is built from its family name and one severity level:
``create_noise("gaussian", 0.1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from denoiser.errors import ConfigurationError
from denoiser.registry import Registry


@dataclass(frozen=True)
class NoiseModel:
    """Base of the noise models: a family name and its severity level."""

    level: float

    family = "none"
    level_name = "level"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


NOISE: Registry[NoiseModel] = Registry("noise model")


def create_noise(name: str, level: float) -> NoiseModel:
    """The noise model of family ``name`` at severity ``level`` (its meaning depends on the family)."""
    return NOISE.create(name, level=level)


@dataclass(frozen=True)
class GaussianNoise(NoiseModel):
    """Additive white Gaussian noise of standard deviation ``level`` (σ on the [0, 1] scale), then clamped."""

    family = "gaussian"
    level_name = "sigma"

    def __post_init__(self) -> None:
        if not self.level >= 0:  # also rejects NaN
            raise ConfigurationError(f"gaussian sigma must be ≥ 0, got {self.level}")

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        # y = clamp(x + σ·n, 0, 1), computed in place on the fresh noise tensor
        return noise.mul_(self.level).add_(clean).clamp_(0.0, 1.0)


@NOISE.register("gaussian")
def gaussian(level: float) -> NoiseModel:
    """y = clamp(x + N(0, σ²), 0, 1); level is σ on the [0, 1] scale (the design's noise)."""
    return GaussianNoise(float(level))


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
