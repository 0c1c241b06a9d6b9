"""Noise models. Each maps (clean batch in [0, 1], torch.Generator) to a noisy batch in [0, 1].

Most models draw each channel independently (``per_channel``): on a colour batch (N, 3, H, W) every
channel gets its own draw, which the records say with :func:`protocol_for` ("per channel"). The
exception is ``jpeg``, which encodes the three channels of a colour image as one JPEG, and the
records say so instead. Every model but ``correlated-gaussian`` and ``camera`` is also independent
from pixel to pixel.

Every draw takes an explicit generator, never the global RNG, so that a seed fixes
the noise. A noise model is built from its family name and one severity level:
``create_noise("gaussian", 0.1)``. This module is where the families are gathered (importing it
registers every built-in one): the base and the registry are :mod:`denoiser.noise_model`, the families
:mod:`denoiser.pixel_noise`, :mod:`denoiser.correlated_noise`, :mod:`denoiser.jpeg_noise` and
:mod:`denoiser.camera`; here too, blind training noise and the noise that is not drawn (estimated, real).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from denoiser.camera import (
    DEMOSAICED_SHARES,
    LINEAR_KNEE,
    MID_GREY_LINEAR,
    MID_GREY_SLOPE,
    SRGB_KNEE,
    CameraNoise,
    bayer_channels,
    calibrated_linear_variance,
    demosaic_bilinear,
    linear_to_srgb,
    srgb_to_linear,
)
from denoiser.correlated_noise import MAX_CORRELATION_WIDTH, CorrelatedGaussianNoise, filter_valid
from denoiser.errors import ConfigurationError
from denoiser.jpeg_noise import JpegNoise
from denoiser.levels import LevelRange
from denoiser.noise_model import (
    NOISE,
    SIGMA_LADDER,
    NoiseModel,
    ladder,
    level_label,
    make_generator,
    protocol_for,
    register_noise,
)
from denoiser.pixel_noise import (
    MAX_PHOTON_SCALE,
    GaussianNoise,
    PoissonGaussianNoise,
    PoissonNoise,
    SaltPepperNoise,
    SpeckleNoise,
)
from denoiser.protocol import ProtocolKey

__all__ = [
    "DEMOSAICED_SHARES",
    "LINEAR_KNEE",
    "MAX_CORRELATION_WIDTH",
    "MAX_PHOTON_SCALE",
    "MID_GREY_LINEAR",
    "MID_GREY_SLOPE",
    "NOISE",
    "SIGMA_LADDER",
    "SRGB_KNEE",
    "BlindNoise",
    "CameraNoise",
    "CorrelatedGaussianNoise",
    "EstimatedNoise",
    "GaussianNoise",
    "JpegNoise",
    "NoiseModel",
    "PoissonGaussianNoise",
    "PoissonNoise",
    "ProtocolKey",
    "RealNoise",
    "SaltPepperNoise",
    "SpeckleNoise",
    "bayer_channels",
    "calibrated_linear_variance",
    "create_noise",
    "demosaic_bilinear",
    "filter_valid",
    "ladder",
    "level_label",
    "linear_to_srgb",
    "make_generator",
    "protocol_for",
    "register_noise",
    "srgb_to_linear",
]


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
