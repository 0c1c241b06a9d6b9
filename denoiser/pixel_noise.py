"""Noise families drawn independently at every pixel: Gaussian, Poisson (shot), salt-and-pepper (impulse),
speckle (multiplicative) and Poisson–Gaussian (sensor), each registered with its ladder of severities."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from denoiser.errors import ConfigurationError
from denoiser.noise_model import SIGMA_LADDER, NoiseModel, register_noise

MAX_PHOTON_SCALE = 1e12  # Poisson noise of λ = 1e12 is ~1e-6 on [0, 1]: already no noise; float32 counts overflow far beyond


@dataclass(frozen=True)
class GaussianNoise(NoiseModel):
    """Additive white Gaussian noise of standard deviation σ = ``level / scale`` on the [0, 1] scale,
    then clamped to [0, 1] (the design's) unless ``clip`` is false (the denoising literature's)."""

    clip: bool = True
    scale: float = 1.0  # 255 for levels given on the 0–255 scale, as the literature does

    family = "gaussian"
    level_name = "sigma"

    def __post_init__(self) -> None:
        if not self.level >= 0 or self.level == float("inf"):  # also rejects NaN
            raise ConfigurationError(f"{self.family} sigma must be ≥ 0, got {self.level}")
        if not self.scale > 0 or self.scale == float("inf"):
            raise ConfigurationError(f"{self.family} scale must be > 0, got {self.scale}")

    @property
    def sigma(self) -> float:
        return self.level / self.scale

    @property
    def equivalent_sigma(self) -> float:
        return self.sigma

    @property
    def protocol(self) -> str:
        sigma = f"{self.level:g}/{self.scale:g}" if self.scale != 1 else f"{self.level:g}"
        return f"y = clamp(x + N(0, σ²), 0, 1), σ = {sigma}" if self.clip else f"y = x + N(0, σ²), not clipped, σ = {sigma}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        # y = clamp(x + σ·n, 0, 1), computed in place on the fresh noise tensor
        noisy = noise.mul_(self.sigma).add_(clean)
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy


@register_noise("gaussian", ladder=SIGMA_LADDER, level_label="σ (std of the noise, [0, 1] scale)")
def gaussian(level: float, clip: bool = True, scale: float = 1.0) -> NoiseModel:
    """y = clamp(x + N(0, σ²), 0, 1), σ = level/scale (the design's); clip: false leaves y unclipped (the literature's)."""
    if not isinstance(clip, bool):
        raise ConfigurationError(f"gaussian clip must be true or false, got {clip!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ConfigurationError(f"gaussian scale must be a number, got {scale!r}")
    return GaussianNoise(float(level), clip, float(scale))


@dataclass(frozen=True)
class PoissonNoise(NoiseModel):
    """Shot noise: photon counts ~ Poisson(level · x), divided by level; a lower photon scale is noisier."""

    family = "poisson"
    level_name = "photons"

    def __post_init__(self) -> None:
        if not 0 < self.level <= MAX_PHOTON_SCALE:  # also rejects NaN; beyond, float32 counts lose the noise
            raise ConfigurationError(f"poisson photon scale must be > 0 and at most {MAX_PHOTON_SCALE:g}, got {self.level}")

    @property
    def equivalent_sigma(self) -> float:
        return (0.5 / self.level) ** 0.5  # std of Poisson(0.5·λ)/λ

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        counts = torch.poisson(clean.clamp(0, 1) * self.level, generator=generator)
        return counts.div_(self.level).clamp_(0.0, 1.0)


@register_noise("poisson", ladder=(250, 100, 50, 30, 15))  # photons: fewer is noisier
def poisson(level: float) -> NoiseModel:
    """Shot noise y = Poisson(λ·x)/λ, clamped; level is the photon scale λ (lower is noisier)."""
    return PoissonNoise(float(level))


@dataclass(frozen=True)
class SaltPepperNoise(NoiseModel):
    """Impulse noise: each pixel is replaced with probability ``level``, by 1 or 0 with equal chance."""

    family = "salt-pepper"
    level_name = "amount"

    def __post_init__(self) -> None:
        if not 0 <= self.level <= 1:
            raise ConfigurationError(f"salt-pepper amount must be between 0 and 1, got {self.level}")

    @property
    def equivalent_sigma(self) -> float:
        return 0.5 * self.level**0.5  # a flipped mid-grey pixel is off by 0.5

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        draws = torch.rand((2, *clean.shape), generator=generator, device=clean.device, dtype=clean.dtype)
        flipped = draws[0] < self.level
        salt = draws[1] < 0.5
        noisy = clean.clone()
        noisy[flipped & salt] = 1.0
        noisy[flipped & ~salt] = 0.0
        return noisy


@register_noise("salt-pepper", ladder=(0.01, 0.02, 0.05, 0.08, 0.14))
def salt_pepper(level: float) -> NoiseModel:
    """Impulse noise as skimage's random_noise(mode='s&p'): a fraction ``level`` of pixels set to 0 or 1."""
    return SaltPepperNoise(float(level))


@dataclass(frozen=True)
class SpeckleNoise(NoiseModel):
    """Multiplicative noise y = clamp(x + x·n, 0, 1), n ~ N(0, σ²), with σ = ``level``."""

    family = "speckle"
    level_name = "sigma"

    def __post_init__(self) -> None:
        if not self.level >= 0:
            raise ConfigurationError(f"speckle sigma must be ≥ 0, got {self.level}")

    @property
    def equivalent_sigma(self) -> float:
        return 0.5 * self.level

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        return noise.mul_(self.level).mul_(clean).add_(clean).clamp_(0.0, 1.0)


@register_noise("speckle", ladder=(0.15, 0.2, 0.25, 0.3, 0.35))
def speckle(level: float) -> NoiseModel:
    """Multiplicative noise y = clamp(x + x·N(0, σ²), 0, 1); level is σ."""
    return SpeckleNoise(float(level))


@dataclass(frozen=True)
class PoissonGaussianNoise(NoiseModel):
    """Heteroscedastic sensor noise of variance a·x + b (Foi et al. 2008, "Practical Poissonian-Gaussian
    noise modeling and fitting for single-image raw-data"), in its normal approximation
    y = clamp(x + sqrt(a·x + b)·n, 0, 1), n ~ N(0, 1). ``level`` is σ, the noise std on mid-grey;
    ``shot_fraction`` f is the share of that variance which is signal-dependent: a = 2·f·σ², b = (1 − f)·σ²."""

    shot_fraction: float = 0.8  # in [0, 1]: 0 is white Gaussian noise, 1 pure (approximate) shot noise
    clip: bool = True

    family = "poisson-gaussian"
    level_name = "sigma"

    def __post_init__(self) -> None:
        if not self.level >= 0 or self.level == float("inf"):  # also rejects NaN
            raise ConfigurationError(f"poisson-gaussian sigma must be ≥ 0, got {self.level}")
        if not 0 <= self.shot_fraction <= 1:
            raise ConfigurationError(f"poisson-gaussian shot_fraction must be between 0 and 1, got {self.shot_fraction}")

    @property
    def a(self) -> float:
        """Foi et al.'s a: the variance per unit of intensity (the signal-dependent, Poisson part)."""
        return 2 * self.shot_fraction * self.level**2

    @property
    def b(self) -> float:
        """Foi et al.'s b: the constant variance (the signal-independent, read-out part)."""
        return (1 - self.shot_fraction) * self.level**2

    @property
    def equivalent_sigma(self) -> float:
        return self.level  # sqrt(a·0.5 + b) = sqrt(f·σ² + (1 − f)·σ²)

    @property
    def protocol(self) -> str:
        terms = f"a = {self.a:.6g}, b = {self.b:.6g} (σ = {self.level:g} on mid-grey)"
        if self.clip:
            return f"y = clamp(x + sqrt(a·x + b)·N(0, 1), 0, 1), {terms}"
        return f"y = x + sqrt(a·x + b)·N(0, 1), not clipped, {terms}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        std = clean.clamp(min=0).mul(self.a).add_(self.b).sqrt_()  # x ≥ 0 under the root: a variance is never negative
        noisy = noise.mul_(std).add_(clean)
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy


@register_noise("poisson-gaussian", ladder=SIGMA_LADDER)
def poisson_gaussian(level: float, shot_fraction: float = 0.8, clip: bool = True) -> NoiseModel:
    """Sensor noise y = clamp(x + sqrt(a·x + b)·N(0, 1), 0, 1); level is σ on mid-grey, shot_fraction the share of a·x."""
    if isinstance(shot_fraction, bool) or not isinstance(shot_fraction, (int, float)):
        raise ConfigurationError(f"poisson-gaussian shot_fraction must be a number, got {shot_fraction!r}")
    if not isinstance(clip, bool):
        raise ConfigurationError(f"poisson-gaussian clip must be true or false, got {clip!r}")
    return PoissonGaussianNoise(float(level), float(shot_fraction), clip)
