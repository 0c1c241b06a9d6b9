"""The camera noise family: sensor noise in linear light on a Bayer mosaic, demosaiced, through the sRGB
tone curve and an optional JPEG, calibrated so that its level is the output's std on mid-grey."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from denoiser.correlated_noise import filter_valid
from denoiser.errors import ConfigurationError
from denoiser.jpeg_noise import JpegNoise
from denoiser.noise_model import SIGMA_LADDER, NoiseModel, register_noise

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
    Sums of shifted slices, as :func:`filter_valid`, so that the result is the same on any device."""
    channels = bayer_channels(mosaic.shape[-2], mosaic.shape[-1], mosaic.device)  # (H + 2, W + 2)
    masks = torch.stack([channels == channel for channel in range(3)]).to(mosaic.dtype)  # (3, H + 2, W + 2)
    planes = mosaic * masks  # (N, 3, H + 2, W + 2): each channel's samples, zero elsewhere
    taps = (0.5, 1.0, 0.5)  # [[1,2,1],[2,4,2],[1,2,1]]/4 is their outer product
    red_blue = filter_valid(filter_valid(planes[:, 0::2], taps, 2), taps, 3)  # (N, 2, H, W)
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


@register_noise("camera", ladder=SIGMA_LADDER)  # gaussian's σ on mid-grey, shaped by a camera's pipeline
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
