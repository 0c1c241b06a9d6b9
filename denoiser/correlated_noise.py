"""Spatially correlated Gaussian noise, and the valid-mode filter it (and the camera's demosaicing) runs on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from denoiser.errors import ConfigurationError
from denoiser.noise_model import SIGMA_LADDER, NoiseModel, register_noise
from denoiser.pixel_noise import GaussianNoise

MAX_CORRELATION_WIDTH = 16.0  # pixels: the kernel's std; its radius ceil(3·16) = 48 px already spans small images


def filter_valid(values: torch.Tensor, taps: Sequence[float], dim: int) -> torch.Tensor:
    """``values`` correlated with ``taps`` along ``dim`` without padding: that dimension shrinks by
    len(taps) − 1. Sums of shifted slices rather than a convolution, so that the noise is the same
    whatever cuDNN's algorithm choice or TF32 setting (which training changes) on any device."""
    length = values.shape[dim] - len(taps) + 1
    filtered = values.narrow(dim, 0, length) * taps[0]
    for offset in range(1, len(taps)):
        filtered.add_(values.narrow(dim, offset, length), alpha=taps[offset])
    return filtered


@dataclass(frozen=True)
class CorrelatedGaussianNoise(GaussianNoise):
    """Spatially correlated Gaussian noise: white noise filtered by a 2-D Gaussian kernel k of std
    ``width`` pixels, with ‖k‖₂ = 1 so that every pixel's std is σ = ``level / scale``, then clamped
    to [0, 1] unless ``clip`` is false. The white noise is drawn on a canvas larger by the kernel's
    radius on each side and filtered without padding: no edge effect, the same variance everywhere."""

    width: float = 1.0  # pixels, in (0, MAX_CORRELATION_WIDTH]: the kernel's std (clip and scale: gaussian's)

    family = "correlated-gaussian"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.width <= MAX_CORRELATION_WIDTH:
            raise ConfigurationError(
                f"correlated-gaussian width must be > 0 and at most {MAX_CORRELATION_WIDTH:g} pixels, got {self.width}"
            )

    @property
    def radius(self) -> int:
        """Pixels on each side of the kernel's centre: ceil(3·width)."""
        return math.ceil(3 * self.width)

    @property
    def kernel(self) -> tuple[float, ...]:
        """The 1-D taps at offsets −radius … radius, of unit L2 norm; the 2-D kernel is their outer
        product, whose L2 norm is then 1 too."""
        weights = [math.exp(-(offset**2) / (2 * self.width**2)) for offset in range(-self.radius, self.radius + 1)]
        norm = math.sqrt(sum(weight**2 for weight in weights))
        return tuple(weight / norm for weight in weights)

    @property
    def lag_one_correlation(self) -> float:
        """Correlation of the noise at two neighbouring pixels, along either axis: Σ k_i·k_{i+1} / Σ k_i²
        of the 1-D taps (the separable kernel's other axis cancels); about exp(−1/(4·width²)) for width ≥ 1."""
        taps = self.kernel
        return sum(left * right for left, right in zip(taps, taps[1:]))  # Σ k_i² = 1

    @property
    def protocol(self) -> str:
        sigma = f"{self.level:g}/{self.scale:g}" if self.scale != 1 else f"{self.level:g}"
        size = 2 * self.radius + 1
        kernel = f"n ~ N(0, 1) white, k a {size}×{size} Gaussian of std {self.width:g} px with ‖k‖₂ = 1"
        terms = f"{kernel}, σ = {sigma}, lag-1 correlation {self.lag_one_correlation:.4f}"
        return f"y = clamp(x + σ·(k ∗ n), 0, 1), {terms}" if self.clip else f"y = x + σ·(k ∗ n), not clipped, {terms}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, channels, height, width = clean.shape
        margin = 2 * self.radius
        # every channel of every image its own white canvas: (N·C, H + 2r, W + 2r)
        white = torch.randn(
            (batch * channels, height + margin, width + margin), generator=generator, device=clean.device, dtype=clean.dtype
        )
        taps = self.kernel
        filtered = filter_valid(filter_valid(white, taps, 1), taps, 2)  # (N·C, H, W + 2r), then (N·C, H, W)
        noisy = filtered.reshape(clean.shape).mul_(self.sigma).add_(clean)
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy


@register_noise("correlated-gaussian", ladder=SIGMA_LADDER)
def correlated_gaussian(level: float, width: float = 1.0, clip: bool = True, scale: float = 1.0) -> NoiseModel:
    """Gaussian noise of per-pixel σ = level/scale, correlated by a Gaussian kernel of std ``width`` pixels, clamped."""
    if isinstance(width, bool) or not isinstance(width, (int, float)):
        raise ConfigurationError(f"correlated-gaussian width must be a number of pixels, got {width!r}")
    if not isinstance(clip, bool):
        raise ConfigurationError(f"correlated-gaussian clip must be true or false, got {clip!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ConfigurationError(f"correlated-gaussian scale must be a number, got {scale!r}")
    return CorrelatedGaussianNoise(float(level), clip=clip, scale=float(scale), width=float(width))
