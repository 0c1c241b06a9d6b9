"""Noise models. Each maps (clean batch in [0, 1], torch.Generator) to a noisy batch in [0, 1].

Every model is elementwise: on a colour batch (N, 3, H, W) each channel of each pixel gets its
own independent draw, which the records say with :func:`protocol_for` ("per channel").

Every draw takes an explicit generator, never the global RNG, so that a seed fixes
the noise. A noise model is built from its family name and one severity level:
``create_noise("gaussian", 0.1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from denoiser.errors import ConfigurationError
from denoiser.registry import Registry

MAX_PHOTON_SCALE = 1e12  # Poisson noise of λ = 1e12 is ~1e-6 on [0, 1]: already no noise; float32 counts overflow far beyond


@dataclass(frozen=True)
class NoiseModel:
    """Base of the noise models: a family name and its severity level."""

    level: float

    family = "none"
    level_name = "level"

    @property
    def equivalent_sigma(self) -> float:
        """Standard deviation of the noise on a mid-grey (0.5) image, before clamping: how the
        classical baselines set their strength for any family."""
        raise NotImplementedError

    @property
    def protocol(self) -> str:
        """Exactly what this noise does, for records, e.g. ``y = clamp(x + N(0, σ²), 0, 1), σ = 0.1``."""
        return f"{self.family} {self.level_name} {self.level:g}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


NOISE: Registry[NoiseModel] = Registry("noise model")


def register_noise(name: str):  # noqa: ANN201 - a decorator
    """Decorator: register a noise model, a factory taking level (and options) and returning a NoiseModel:
    ``@register_noise("name")``."""
    return NOISE.register(name)


def create_noise(name: str, level: float, **options: Any) -> NoiseModel:
    """The noise model of family ``name`` at severity ``level`` (its meaning depends on the family),
    with the family's options, e.g. ``create_noise("gaussian", 25, scale=255, clip=False)``."""
    return NOISE.create(name, level=level, **options)


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
            raise ConfigurationError(f"gaussian sigma must be ≥ 0, got {self.level}")
        if not self.scale > 0 or self.scale == float("inf"):
            raise ConfigurationError(f"gaussian scale must be > 0, got {self.scale}")

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


@NOISE.register("gaussian")
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


@NOISE.register("poisson")
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


@NOISE.register("salt-pepper")
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


@NOISE.register("speckle")
def speckle(level: float) -> NoiseModel:
    """Multiplicative noise y = clamp(x + x·N(0, σ²), 0, 1); level is σ."""
    return SpeckleNoise(float(level))


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


@dataclass(frozen=True)
class EstimatedNoise(NoiseModel):
    """The noise already in a paired image (real noise): nothing to add, and a σ estimated from the
    noisy image alone, so that the classical baselines can set their strength."""

    level: float  # the estimated σ on the [0, 1] scale

    family = "real"
    level_name = "estimated σ"
    estimator = "skimage.restoration.estimate_sigma (wavelet median absolute deviation)"

    @property
    def equivalent_sigma(self) -> float:
        return self.level

    @property
    def protocol(self) -> str:
        return f"noise already in the images; σ estimated by {self.estimator}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise TypeError("real noise is in the noisy images already: it cannot be drawn")

    @classmethod
    def of(cls, noisy: torch.Tensor) -> EstimatedNoise:
        """The σ of one noisy image (1, C, H, W); in colour the mean of the channels' estimates."""
        from skimage.restoration import estimate_sigma

        if noisy.shape[1] == 1:
            return cls(float(estimate_sigma(noisy.detach().cpu().double().numpy()[0, 0])))
        image = noisy.detach().cpu().double()[0].permute(1, 2, 0).numpy()  # (H, W, C)
        return cls(float(estimate_sigma(image, channel_axis=-1, average_sigmas=True)))


def _end_of_first_term(protocol: str) -> int:
    """Where the first comma-separated term of a protocol string ends, commas inside brackets not
    counting (``y = clamp(x + N(0, σ²), 0, 1)`` is one term); its length where there is no such comma."""
    depth = 0
    for index, character in enumerate(protocol):
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif character == "," and depth == 0:
            return index
    return len(protocol)


def protocol_for(noise: NoiseModel, channels: int) -> str:
    """The noise's protocol on images of ``channels`` channels: ``noise.protocol`` itself for one channel;
    for more, " per channel" after the noise term, as every noise model draws each channel independently,
    e.g. ``y = x + N(0, σ²) per channel, not clipped, σ = 25/255``. Real noise is not drawn: its record
    says instead that the σ estimated in each channel is averaged over the channels."""
    protocol = noise.protocol
    if channels == 1:
        return protocol
    if isinstance(noise, EstimatedNoise):
        return f"{protocol}, averaged over the {channels} channels"
    end = _end_of_first_term(protocol)
    return f"{protocol[:end]} per channel{protocol[end:]}"
