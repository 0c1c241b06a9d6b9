"""Noise models. Each maps (clean batch in [0, 1], torch.Generator) to a noisy batch in [0, 1].

Most models draw each channel independently (``per_channel``): on a colour batch (N, 3, H, W) every
channel gets its own draw, which the records say with :func:`protocol_for` ("per channel"). The
exception is ``jpeg``, which encodes the three channels of a colour image as one JPEG, and the
records say so instead. Every model but ``correlated-gaussian`` is also independent from pixel to pixel.

Every draw takes an explicit generator, never the global RNG, so that a seed fixes
the noise. A noise model is built from its family name and one severity level:
``create_noise("gaussian", 0.1)``.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from denoiser.errors import ConfigurationError
from denoiser.levels import LevelRange
from denoiser.registry import Registry

MAX_PHOTON_SCALE = 1e12  # Poisson noise of λ = 1e12 is ~1e-6 on [0, 1]: already no noise; float32 counts overflow far beyond
MAX_CORRELATION_WIDTH = 16.0  # pixels: the kernel's std; its radius ceil(3·16) = 48 px already spans small images


@dataclass(frozen=True)
class NoiseModel:
    """Base of the noise models: a family name and its severity level."""

    level: float

    family = "none"
    level_name = "level"
    per_channel: ClassVar[bool] = True  # each channel of a colour image gets its own independent draw

    @property
    def equivalent_sigma(self) -> float | None:
        """Standard deviation of the noise on a mid-grey (0.5) image, before clamping: how the
        classical baselines set their strength for any family. None where the family has no
        meaningful equivalent σ (``jpeg``: compression artefacts depend on the image, not on its grey level)."""
        raise NotImplementedError

    @property
    def colour_handling(self) -> str:
        """How a model that is not ``per_channel`` treats the channels of a colour image, for records."""
        return "channels not drawn independently"

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


def create_noise(name: str, level: float | LevelRange, **options: Any) -> NoiseModel:
    """The noise model of family ``name`` at severity ``level`` (its meaning depends on the family),
    with the family's options, e.g. ``create_noise("gaussian", 25, scale=255, clip=False)``; a
    :class:`~denoiser.levels.LevelRange` gives blind training noise, each image drawing its own level
    (:class:`BlindNoise`)."""
    if isinstance(level, LevelRange):
        for end in (level.min, level.max):  # both ends are levels of the family, with its options
            NOISE.create(name, level=end, **options)
        inside = level.min + 0.4817 * (level.max - level.min)  # and a level drawn between them (jpeg takes whole ones only)
        try:
            NOISE.create(name, level=inside, **options)
        except ConfigurationError as error:
            raise ConfigurationError(f"a range draws any level between its ends, and {error}") from None
        return BlindNoise(level, name, tuple(sorted(options.items())))
    return NOISE.create(name, level=level, **options)


@dataclass(frozen=True)
class BlindNoise(NoiseModel):
    """Training noise of one family whose level every image draws uniformly from a range, from the
    generator, before its noise (blind training, as DnCNN-B: σ uniform in [0, 55]/255 for every patch)."""

    level: LevelRange  # type: ignore[assignment]  # a range, not one level
    name: str = "gaussian"  # the registered family
    options: tuple[tuple[str, Any], ...] = ()  # the family's options, e.g. (("scale", 255.0),)

    def at(self, level: float) -> NoiseModel:
        """The family's noise model at one level of the range."""
        return NOISE.create(self.name, level=level, **dict(self.options))

    @property
    def family(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def level_name(self) -> str:  # type: ignore[override]
        return self.at(self.level.max).level_name

    @property
    def per_channel(self) -> bool:  # type: ignore[override]
        return self.at(self.level.max).per_channel

    @property
    def equivalent_sigma(self) -> float | None:
        return None  # a mixture of levels: no one σ to tell a classical denoiser

    @property
    def protocol(self) -> str:
        """The range, then the family's own protocol at its top, e.g. ``gaussian sigma drawn per image
        uniformly in [0, 55]/255; at the top: y = x + N(0, σ²), not clipped, σ = 55/255``."""
        scale = dict(self.options).get("scale", 1.0)
        per = f"/{scale:g}" if scale != 1 else ""
        top = self.at(self.level.max).protocol
        drawn = f"{self.level_name} drawn per image uniformly in [{self.level.min:g}, {self.level.max:g}]{per}"
        return f"{self.name} {drawn}; at the top: {top}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        draws = torch.rand(len(clean), generator=generator, device=clean.device)  # float32: every device has it
        levels = self.level.min + (self.level.max - self.level.min) * draws  # (N,)
        top = self.at(self.level.max)
        if type(top) is GaussianNoise:  # one draw for the batch, each image at its own σ: no per-image loop, no host sync
            gaussian = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
            sigmas = (levels / top.scale).to(clean.dtype).view(-1, *([1] * (clean.dim() - 1)))
            noisy = gaussian.mul_(sigmas).add_(clean)
            return noisy.clamp_(0.0, 1.0) if top.clip else noisy
        return torch.cat([self.at(level)(clean[index : index + 1], generator) for index, level in enumerate(levels.tolist())])


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


@NOISE.register("poisson-gaussian")
def poisson_gaussian(level: float, shot_fraction: float = 0.8, clip: bool = True) -> NoiseModel:
    """Sensor noise y = clamp(x + sqrt(a·x + b)·N(0, 1), 0, 1); level is σ on mid-grey, shot_fraction the share of a·x."""
    if isinstance(shot_fraction, bool) or not isinstance(shot_fraction, (int, float)):
        raise ConfigurationError(f"poisson-gaussian shot_fraction must be a number, got {shot_fraction!r}")
    if not isinstance(clip, bool):
        raise ConfigurationError(f"poisson-gaussian clip must be true or false, got {clip!r}")
    return PoissonGaussianNoise(float(level), float(shot_fraction), clip)


def _filter_valid(values: torch.Tensor, taps: Sequence[float], dim: int) -> torch.Tensor:
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
        filtered = _filter_valid(_filter_valid(white, taps, 1), taps, 2)  # (N·C, H, W + 2r), then (N·C, H, W)
        noisy = filtered.reshape(clean.shape).mul_(self.sigma).add_(clean)
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy


@NOISE.register("correlated-gaussian")
def correlated_gaussian(level: float, width: float = 1.0, clip: bool = True, scale: float = 1.0) -> NoiseModel:
    """Gaussian noise of per-pixel σ = level/scale, correlated by a Gaussian kernel of std ``width`` pixels, clamped."""
    if isinstance(width, bool) or not isinstance(width, (int, float)):
        raise ConfigurationError(f"correlated-gaussian width must be a number of pixels, got {width!r}")
    if not isinstance(clip, bool):
        raise ConfigurationError(f"correlated-gaussian clip must be true or false, got {clip!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ConfigurationError(f"correlated-gaussian scale must be a number, got {scale!r}")
    return CorrelatedGaussianNoise(float(level), clip=clip, scale=float(scale), width=float(width))


@dataclass(frozen=True)
class JpegNoise(NoiseModel):
    """JPEG compression artefacts: y = decode(encode(round(255·clamp(x + N(0, σ²), 0, 1)), q)) / 255 with
    Pillow, at quality q = ``level`` (a whole number from 1 to 100; lower is more severe), after optional
    Gaussian noise of σ = ``sigma / scale`` (none by default: then the generator is not used, and the
    output depends on the image alone). Grayscale images are encoded as mode L, colour ones as one RGB
    JPEG, which Pillow stores as YCbCr with 4:2:0 chroma subsampling (its default at every quality,
    pinned here so that the record stays true): the channels are not independent."""

    sigma: float = 0.0
    scale: float = 1.0  # 255 for sigma given on the 0–255 scale, as gaussian's

    family = "jpeg"
    level_name = "quality"
    per_channel = False
    subsampling = "4:2:0"  # Pillow's (libjpeg's) default for RGB at every quality, said in the records

    def __post_init__(self) -> None:
        if not (float(self.level).is_integer() and 1 <= self.level <= 100):  # also rejects NaN and inf
            raise ConfigurationError(f"jpeg quality must be a whole number from 1 to 100, got {self.level}")
        if not self.sigma >= 0 or self.sigma == float("inf"):
            raise ConfigurationError(f"jpeg sigma must be ≥ 0, got {self.sigma}")
        if not self.scale > 0 or self.scale == float("inf"):
            raise ConfigurationError(f"jpeg scale must be > 0, got {self.scale}")

    @property
    def quality(self) -> int:
        return int(self.level)

    @property
    def noise_sigma(self) -> float:
        """σ of the Gaussian noise added before compression, on the [0, 1] scale."""
        return self.sigma / self.scale

    @property
    def equivalent_sigma(self) -> None:
        return None  # the artefacts depend on the image's content, not on its grey level

    @property
    def protocol(self) -> str:
        if self.sigma == 0:
            return f"y = decode(encode(round(255·x), quality {self.quality})) / 255, Pillow JPEG"
        sigma = f"{self.sigma:g}/{self.scale:g}" if self.scale != 1 else f"{self.sigma:g}"
        return f"y = decode(encode(round(255·clamp(x + N(0, σ²), 0, 1)), quality {self.quality})) / 255, Pillow JPEG, σ = {sigma}"

    @property
    def colour_handling(self) -> str:
        encoded = f"RGB encoded as one JPEG (YCbCr, {self.subsampling} chroma subsampling)"
        return f"N(0, σ²) drawn per channel, {encoded}" if self.sigma > 0 else encoded

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        channels = clean.shape[1]
        if channels not in (1, 3):
            raise ValueError(f"jpeg encodes grayscale (1 channel) or RGB (3 channel) images, got {channels} channels")
        noisy = clean
        if self.sigma > 0:  # drawn on clean's device, from the generator, before leaving for the CPU
            noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
            noisy = noise.mul_(self.noise_sigma).add_(clean)
        pixels = noisy.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
        decoded = np.stack([self._round_trip(image) for image in pixels])  # (N, H, W, C) uint8
        return torch.from_numpy(decoded).permute(0, 3, 1, 2).to(device=clean.device, dtype=clean.dtype).div_(255)

    def _round_trip(self, pixels: np.ndarray) -> np.ndarray:
        """One (H, W, C) uint8 image through a JPEG file in memory, as (H, W, C) uint8."""
        colour = pixels.shape[2] == 3
        image = Image.fromarray(pixels if colour else pixels[:, :, 0])  # mode RGB, or L
        buffer = io.BytesIO()
        options = {"subsampling": self.subsampling} if colour else {}  # grayscale has no chroma to subsample
        image.save(buffer, format="JPEG", quality=self.quality, **options)
        with Image.open(buffer) as decoded:
            return np.asarray(decoded.convert(image.mode)).reshape(pixels.shape)


@NOISE.register("jpeg")
def jpeg(level: float, sigma: float = 0.0, scale: float = 1.0) -> NoiseModel:
    """JPEG compression (Pillow) at quality level (1–100, lower is worse), after optional N(0, (sigma/scale)²) noise."""
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise ConfigurationError(f"jpeg sigma must be a number, got {sigma!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ConfigurationError(f"jpeg scale must be a number, got {scale!r}")
    return JpegNoise(float(level), float(sigma), float(scale))


SRGB_KNEE = 0.04045  # sRGB value where the EOTF's linear segment meets its power segment (IEC 61966-2-1)
LINEAR_KNEE = SRGB_KNEE / 12.92  # ≈ 0.0031308: the same point on the linear scale
MID_GREY_LINEAR = ((0.5 + 0.055) / 1.055) ** 2.4  # srgb_to_linear(0.5) ≈ 0.214
MID_GREY_SLOPE = (0.5 + 0.055) / (2.4 * MID_GREY_LINEAR)  # d linear_to_srgb / dL at mid-grey ≈ 1.081
# What bilinear demosaicing leaves of the mosaic noise's variance at each kind of output pixel of a flat image,
# each kind a third of the pixels × channels (G: 1, 1, ¼, ¼; R and B: 1, ½, ½, ¼): their mean is 7/12
DEMOSAICED_SHARES = (1.0, 0.5, 0.25)


def calibrated_linear_variance(level: float, channels: int) -> float:
    """The sensor noise's variance v at mid-grey's linear value that gives an output std of exactly ``level`` on
    a mid-grey image (x = 0.5), through the clip at [0, 1] in linear space, the tone curve and, in colour, the
    demosaicing (:data:`DEMOSAICED_SHARES`): :func:`_calibration_curve` inverted by interpolation. Refused
    where no v reaches ``level`` (the clip bounds the std below 0.5)."""
    output, stds = _calibration_curve(1 if channels == 1 else 3)
    if level > output[-1]:
        raise ConfigurationError(f"camera sigma {level:g} is out of reach: the clip at [0, 1] bounds it near {output[-1]:.2f}")
    return float(np.interp(level, output, stds)) ** 2


@functools.cache
def _calibration_curve(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The output std on mid-grey, f(clamp(L_mid + sqrt(s)·σ_L·z, 0, 1)) pooled over the pixel kinds s and
    integrated over z ~ N(0, 1) on a fine grid, at 1,501 linear stds σ_L from 0 to 1, up to where it stops
    growing: (output stds, linear stds), increasing, for :func:`calibrated_linear_variance` to invert. Built
    once per channel count (about 0.2 s in colour)."""
    shares = np.sqrt((1.0,) if channels == 1 else DEMOSAICED_SHARES)
    z = np.linspace(-8.0, 8.0, 801)
    weights = np.exp(-(z**2) / 2)
    weights /= weights.sum()
    stds = np.linspace(0.0, 1.0, 1501)
    linear = np.clip(MID_GREY_LINEAR + shares[:, None, None] * stds[None, :, None] * z[None, None, :], 0.0, 1.0)
    values = linear_to_srgb(torch.from_numpy(linear)).numpy()  # (kinds, stds, z)
    mean = (values * weights).sum(-1).mean(0)
    output = np.sqrt(np.maximum(((values**2) * weights).sum(-1).mean(0) - mean**2, 0.0))
    top = int(np.argmax(output)) + 1
    return output[:top], stds[:top]


def srgb_to_linear(values: torch.Tensor) -> torch.Tensor:
    """The sRGB EOTF on [0, 1]: x/12.92 up to 0.04045, ((x + 0.055)/1.055)^2.4 above."""
    power = ((values.clamp(min=SRGB_KNEE) + 0.055) / 1.055) ** 2.4  # clamped: no power of a negative number
    return torch.where(values <= SRGB_KNEE, values / 12.92, power)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """The sRGB tone curve on [0, 1], the EOTF's inverse: 12.92·L up to 0.0031308, 1.055·L^(1/2.4) − 0.055 above."""
    power = 1.055 * linear.clamp(min=LINEAR_KNEE) ** (1 / 2.4) - 0.055
    return torch.where(linear <= LINEAR_KNEE, linear * 12.92, power)


def bayer_channels(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The channel each site of a sensor canvas samples, (H, W) of 0 (R), 1 (G), 2 (B): Bayer RGGB with R on
    the canvas's odd rows and columns, so that the image inside a one-pixel margin starts with R at its (0, 0)."""
    rows = torch.arange(height, device=device).remainder(2).view(-1, 1)  # 1 on the image's even rows
    columns = torch.arange(width, device=device).remainder(2).view(1, -1)
    return 2 - rows - columns  # odd and odd: R; even and even: B; the rest: G


def demosaic_bilinear(mosaic: torch.Tensor) -> torch.Tensor:
    """Bilinear demosaicing of a (N, 1, H + 2, W + 2) canvas laid out as :func:`bayer_channels`, without
    padding: (N, 3, H, W), every pixel from its full 3×3 neighbourhood. G: the masked G mosaic filtered by
    [[0,1,0],[1,4,1],[0,1,0]]/4; R and B: their masked mosaics filtered by [[1,2,1],[2,4,2],[1,2,1]]/4.
    Sums of shifted slices, as :func:`_filter_valid`, so that the result is the same on any device."""
    channels = bayer_channels(mosaic.shape[-2], mosaic.shape[-1], mosaic.device)  # (H + 2, W + 2)
    masks = torch.stack([channels == channel for channel in range(3)]).to(mosaic.dtype)  # (3, H + 2, W + 2)
    planes = mosaic * masks  # (N, 3, H + 2, W + 2): each channel's samples, zero elsewhere
    taps = (0.5, 1.0, 0.5)  # [[1,2,1],[2,4,2],[1,2,1]]/4 is their outer product
    red_blue = _filter_valid(_filter_valid(planes[:, 0::2], taps, 2), taps, 3)  # (N, 2, H, W)
    green = planes[:, 1:2]
    neighbours = green[:, :, :-2, 1:-1] + green[:, :, 2:, 1:-1] + green[:, :, 1:-1, :-2] + green[:, :, 1:-1, 2:]
    green = neighbours.mul_(0.25).add_(green[:, :, 1:-1, 1:-1])  # (N, 1, H, W)
    return torch.cat([red_blue[:, :1], green, red_blue[:, 1:]], dim=1)


@dataclass(frozen=True)
class CameraNoise(NoiseModel):
    """A camera's noise as its pipeline shapes it (Brooks et al. 2019, "Unprocessing Images for Learned Raw
    Denoising"; Guo et al. 2019, CBDNet): the clean sRGB image is linearised (L = srgb_to_linear(x)), gets
    Poisson–Gaussian sensor noise n ~ N(0, a·L + b) in its normal approximation, is clipped to [0, 1] in
    linear space (the tone curve is undefined below 0) and goes through the sRGB tone curve, then through
    an optional JPEG round trip (``quality``, Pillow, as :class:`JpegNoise`).

    In colour (3 channels) the noise is drawn once per site of a Bayer RGGB mosaic (R at the image's even
    rows and columns), L being the value of the channel the site samples, and only the noise is bilinearly
    demosaiced, which correlates neighbouring pixels (each channel from its own sites, so the three channels
    of one pixel stay uncorrelated): the signal's own demosaicing is taken as perfect, so that the suite
    measures noise and not a demosaicer's artefacts on edges. The mosaic is drawn
    on a canvas one pixel larger on every side (its variance from the edge-replicated image) and demosaiced
    without padding: the edges are as noisy as the centre. In grayscale (1 channel) the sensor is
    monochrome: no mosaic, no demosaicing, independent noise per pixel.

    ``level`` is σ, the std of the output noise (before JPEG) on a mid-grey image (x = 0.5), at every σ: the
    linear variance v at mid-grey is calibrated numerically through the clip, the tone curve and the
    demosaicing (:func:`calibrated_linear_variance`; for small σ it is (σ/s)²/k, s the curve's slope at
    mid-grey, k = 7/12 in colour, 1 in grayscale). ``shot_fraction`` f is the share of v that is
    signal-dependent: a = f·v/L_mid, b = (1 − f)·v. At larger σ the curve's bend leaves the noisy mean darker
    than the clean one (0.02 at σ 0.12), as a camera's does."""

    shot_fraction: float = 0.8  # in [0, 1]: 0 is white Gaussian read noise, 1 pure (approximate) shot noise
    quality: int = 0  # JPEG quality from 1 to 100 after the tone curve; 0: no JPEG

    family = "camera"
    level_name = "sigma"
    per_channel = False

    def __post_init__(self) -> None:
        if not self.level >= 0 or self.level == float("inf"):  # also rejects NaN
            raise ConfigurationError(f"camera sigma must be ≥ 0, got {self.level}")
        if not 0 <= self.shot_fraction <= 1:
            raise ConfigurationError(f"camera shot_fraction must be between 0 and 1, got {self.shot_fraction}")
        if not 0 <= self.quality <= 100:
            raise ConfigurationError(f"camera quality must be 0 (no JPEG) or a whole number from 1 to 100, got {self.quality}")

    def linear_variance(self, channels: int) -> float:
        """v: the sensor noise's variance at mid-grey's linear value that gives σ as the output's std on mid-grey,
        in grayscale (1 channel) or colour (3), where demosaicing leaves 7/12 of it on average
        (:func:`calibrated_linear_variance`; for small σ, (σ/s)²/k, s the tone curve's slope at mid-grey)."""
        return calibrated_linear_variance(self.level, 1 if channels == 1 else 3)

    def a(self, channels: int) -> float:
        """Foi et al.'s a on the linear scale: the variance per unit of linear intensity (shot noise)."""
        return self.shot_fraction * self.linear_variance(channels) / MID_GREY_LINEAR

    def b(self, channels: int) -> float:
        """Foi et al.'s b on the linear scale: the constant variance (read noise)."""
        return (1 - self.shot_fraction) * self.linear_variance(channels)

    @property
    def equivalent_sigma(self) -> float:
        return self.level  # by the calibration of a and b: the output's std on mid-grey

    @property
    def protocol(self) -> str:
        compressed = f", JPEG quality {self.quality} (Pillow)" if self.quality else ""
        pipeline = f"sRGB → linear L, n ~ N(0, a·L + b), clamp(L + n, 0, 1), sRGB tone curve{compressed}"
        terms = f"σ = {self.level:g} on mid-grey, shot share {self.shot_fraction:g}"
        return f"{pipeline}, {terms}; grayscale (a monochrome sensor): a = {self.a(1):.6g}, b = {self.b(1):.6g}"

    @property
    def colour_handling(self) -> str:
        encoded = ", RGB encoded as one JPEG (YCbCr, 4:2:0 chroma subsampling)" if self.quality else ""
        mosaic = "in colour: n drawn once per site of a Bayer RGGB mosaic, each channel bilinearly demosaiced from its own sites"
        return f"{mosaic} (the signal's demosaicing taken as perfect), a = {self.a(3):.6g}, b = {self.b(3):.6g}{encoded}"

    def mosaic_noise(self, linear: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One draw per site of a Bayer canvas: (N, 3, H, W) linear colour image → (N, 1, H, W) noise
        sqrt(a·L + b)·N(0, 1), L the linear value of the channel the site samples (:func:`bayer_channels`)."""
        batch, _, height, width = linear.shape
        channels = bayer_channels(height, width, linear.device).expand(batch, 1, height, width)
        sampled = linear.gather(1, channels)  # (N, 1, H, W): the mosaic's own linear values
        noise = torch.randn(sampled.shape, generator=generator, device=linear.device, dtype=linear.dtype)
        return noise.mul_(sampled.clamp(min=0).mul_(self.a(3)).add_(self.b(3)).sqrt_())

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        channels = clean.shape[1]
        if channels not in (1, 3):
            raise ValueError(f"camera noise takes grayscale (1 channel) or RGB (3 channel) images, got {channels} channels")
        linear = srgb_to_linear(clean.clamp(0, 1))  # (N, C, H, W)
        if channels == 1:  # a monochrome sensor: white noise, one draw per pixel
            noise = torch.randn(linear.shape, generator=generator, device=clean.device, dtype=clean.dtype)
            noisy = noise.mul_(linear.mul(self.a(1)).add_(self.b(1)).sqrt_()).add_(linear)
        else:  # the margin gives every output pixel its full 3×3 neighbourhood of mosaic noise
            canvas = torch.nn.functional.pad(linear, (1, 1, 1, 1), mode="replicate")  # (N, 3, H + 2, W + 2)
            noisy = demosaic_bilinear(self.mosaic_noise(canvas, generator)).add_(linear)
        tone = linear_to_srgb(noisy.clamp_(0.0, 1.0))  # (N, C, H, W) in [0, 1]
        return JpegNoise(float(self.quality))(tone, generator) if self.quality else tone  # no draw: JPEG alone


@NOISE.register("camera")
def camera(level: float, shot_fraction: float = 0.8, quality: int | None = 0) -> NoiseModel:
    """Camera pipeline noise: sRGB → linear, Poisson–Gaussian on a Bayer mosaic, demosaiced, tone curve, optional JPEG."""
    if isinstance(level, bool):
        raise ConfigurationError(f"camera sigma must be a number, got {level!r}")
    if isinstance(shot_fraction, bool) or not isinstance(shot_fraction, (int, float)):
        raise ConfigurationError(f"camera shot_fraction must be a number, got {shot_fraction!r}")
    quality = 0 if quality is None else quality
    if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not float(quality).is_integer():
        raise ConfigurationError(f"camera quality must be 0 (no JPEG) or a whole number from 1 to 100, got {quality!r}")
    return CameraNoise(float(level), float(shot_fraction), int(quality))


# The documented five severities of every family, mild → severe (for poisson and jpeg a lower level is
# more severe), as CIFAR-10-C and ImageNet-C grade their corruptions. poisson-gaussian and
# correlated-gaussian use gaussian's σ: the same noise power on mid-grey at each severity, so that a row
# of results differs from gaussian's only by the signal dependence or the spatial correlation. jpeg's
# qualities run from CIFAR-10-C's mildest (80) to the JPEG-artefact-removal literature's hardest standard
# point (10), through 40 (CIFAR-10-C's most severe) and 25 (ImageNet-C's mildest): their PSNR falls in
# even steps of 2–3 dB (camera: 36.2, 33.3, 32.0, 30.8, 28.4 dB; CIFAR-10 colour: 30.9 … 23.1 dB),
# where ImageNet-C's (25, 18, 15, 10, 7) spans only 3–4 dB and starts at the worst of these.
LADDERS: dict[str, tuple[float, ...]] = {
    "gaussian": (0.04, 0.08, 0.12, 0.15, 0.18),
    "poisson": (250, 100, 50, 30, 15),
    "salt-pepper": (0.01, 0.02, 0.05, 0.08, 0.14),
    "speckle": (0.15, 0.2, 0.25, 0.3, 0.35),
    "poisson-gaussian": (0.04, 0.08, 0.12, 0.15, 0.18),
    "correlated-gaussian": (0.04, 0.08, 0.12, 0.15, 0.18),
    "jpeg": (80, 60, 40, 25, 10),
    "camera": (0.04, 0.08, 0.12, 0.15, 0.18),  # gaussian's σ on mid-grey, now shaped by a camera's pipeline
}


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


@dataclass(frozen=True)
class EstimatedNoise(NoiseModel):
    """A σ estimated from one noisy image alone (``sigma: estimated``), by a registered estimator
    (:mod:`denoiser.estimators`; ``wavelet`` by default): what a classical baseline is told in real use."""

    level: float  # the estimated σ on the [0, 1] scale
    estimator: str = "wavelet"

    family = "real"
    level_name = "estimated σ"
    per_channel = False

    @property
    def colour_handling(self) -> str:
        return "one σ over all channels"

    @property
    def equivalent_sigma(self) -> float:
        return self.level

    @property
    def protocol(self) -> str:
        from denoiser.estimators import describe

        return f"σ estimated by {describe(self.estimator)}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise TypeError("an estimated σ is no noise to draw")

    @classmethod
    def of(cls, noisy: torch.Tensor, estimator: str = "wavelet") -> EstimatedNoise:
        """The σ of one noisy image (1, C, H, W), one number over all its channels."""
        from denoiser.estimators import estimate

        return cls(estimate(estimator, noisy), estimator)


@dataclass(frozen=True)
class RealNoise(NoiseModel):
    """The noise already in a paired image (real camera noise): nothing to draw. Its level is the truth the
    pair knows: the std of noisy − clean over all the image's pixels and channels, what a classical
    baseline in ``sigma: oracle`` mode is told (scikit-image's reference calls, one σ per image)."""

    level: float  # the residual std on the [0, 1] scale

    family = "real"
    level_name = "residual σ"
    per_channel = False

    @property
    def equivalent_sigma(self) -> float:
        return self.level

    @property
    def protocol(self) -> str:
        return "noise already in the images (real pairs); σ told = std of noisy − clean per image"

    @property
    def colour_handling(self) -> str:
        return "one σ over all channels"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise TypeError("real noise is in the noisy images already: it cannot be drawn")

    @classmethod
    def of(cls, clean: torch.Tensor, noisy: torch.Tensor) -> RealNoise:
        """The residual std of one pair, each (1, C, H, W), over all pixels and channels (population std)."""
        residual = noisy.detach().cpu().double() - clean.detach().cpu().double()
        return cls(float(residual.std(correction=0)))


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
    for more, " per channel" after the noise term where the model draws each channel independently
    (``per_channel``), e.g. ``y = x + N(0, σ²) per channel, not clipped, σ = 25/255``; otherwise how the
    model treats the channels after the whole protocol (``colour_handling``), e.g. jpeg's ``…, RGB encoded
    as one JPEG (YCbCr, 4:2:0 chroma subsampling)``. Real noise is not drawn: its record says instead that
    the σ told is one number over all its channels."""
    protocol = noise.protocol
    if channels == 1:
        return protocol
    if not noise.per_channel:
        return f"{protocol}, {noise.colour_handling}"
    end = _end_of_first_term(protocol)
    return f"{protocol[:end]} per channel{protocol[end:]}"
