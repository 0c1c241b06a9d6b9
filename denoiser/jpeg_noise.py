"""JPEG compression artefacts (Pillow), after optional Gaussian noise."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from denoiser.errors import ConfigurationError
from denoiser.noise_model import NoiseModel, register_noise


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


# jpeg's qualities run from CIFAR-10-C's mildest (80) to the JPEG-artefact-removal literature's hardest standard
# point (10), through 40 (CIFAR-10-C's most severe) and 25 (ImageNet-C's mildest): their PSNR falls in even
# steps of 2–3 dB (camera: 36.2, 33.3, 32.0, 30.8, 28.4 dB; CIFAR-10 colour: 30.9 … 23.1 dB), where
# ImageNet-C's (25, 18, 15, 10, 7) spans only 3–4 dB and starts at the worst of these.
@register_noise("jpeg", ladder=(80, 60, 40, 25, 10))
def jpeg(level: float, sigma: float = 0.0, scale: float = 1.0) -> NoiseModel:
    """JPEG compression (Pillow) at quality level (1–100, lower is worse), after optional N(0, (sigma/scale)²) noise."""
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise ConfigurationError(f"jpeg sigma must be a number, got {sigma!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ConfigurationError(f"jpeg scale must be a number, got {scale!r}")
    return JpegNoise(float(level), float(sigma), float(scale))
