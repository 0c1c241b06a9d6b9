"""Image-quality metrics, batched in torch: each maps two (B, 1, H, W) batches in [0, 1] to a (B,) tensor,
on the device the batches are on. A registry by name (``register_metric``, plugins included): every
registered metric is computed per image in every cell, stored, ranked, reported and gated.

Definitions follow scikit-image (SPEC §7) so that numbers compare with the literature:
PSNR per image (averaged afterwards, not the PSNR of the mean MSE), and SSIM of
Wang et al. 2004 with an 11-tap Gaussian window of σ = 1.5.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from denoiser.registry import Registry

SSIM_SIGMA = 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)  # scikit-image's truncate=3.5 → 5, i.e. 11 taps
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(clean: torch.Tensor, estimate: torch.Tensor) -> None:
    if clean.shape != estimate.shape or clean.dim() != 4:
        raise ValueError(
            f"metrics need two (B, C, H, W) batches of one shape, got {tuple(clean.shape)} and {tuple(estimate.shape)}"
        )


def mse(clean: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image on the [0, 1] scale, (B,)."""
    _check_pair(clean, estimate)
    difference = clean.double() - estimate.double()
    return difference.square().flatten(1).mean(dim=1)


PSNR_CEILING = 100.0  # dB: the PSNR of an MSE of 1e-10, given to an exact estimate (scikit-image: infinity)


def psnr(clean: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image with data range 1, (B,). Equal to scikit-image's
    wherever that is finite; an exact estimate (MSE 0, e.g. the noisy input at σ = 0) gets
    ``PSNR_CEILING`` instead of infinity, a number that averages, ranks and fits in JSON. A NaN in
    the estimate stays NaN: that cell is failed."""
    return (10.0 * torch.log10(1.0 / mse(clean, estimate))).clamp(max=PSNR_CEILING)


@functools.lru_cache(maxsize=8)
def _gaussian_taps(device: torch.device) -> torch.Tensor:
    offsets = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64, device=device)
    taps = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return taps / taps.sum()  # (11,)


@functools.lru_cache(maxsize=32)
def _band(size: int, device: torch.device) -> torch.Tensor:
    """(size, size − 10) float32 matrix whose column j holds the 11 taps at rows j … j + 10:
    ``images @ band`` filters along the last axis over the valid region only."""
    taps = _gaussian_taps(device).float()
    band = torch.zeros(size, size - 2 * SSIM_RADIUS, device=device)
    for column in range(size - 2 * SSIM_RADIUS):
        band[column : column + taps.numel(), column] = taps
    return band


BAND_LIMIT = 512  # pixels: a longer side is filtered in blocks, as one band matrix's product grows with its cube
BLOCK = 256  # output columns per block beyond BAND_LIMIT


def _filter_last(images: torch.Tensor) -> torch.Tensor:
    """(…, W) → (…, W-10): the 11 taps along the last axis over the valid region. Up to BAND_LIMIT
    one band product; beyond, blocks of BLOCK columns, so the cost grows with the side, not its cube
    (one 6000×6000 image: minutes and gigabytes by one band, a second in blocks)."""
    width = images.shape[-1]
    if width <= BAND_LIMIT:
        return images @ _band(width, images.device)
    valid = width - 2 * SSIM_RADIUS
    blocks = [
        images[..., start : min(start + BLOCK, valid) + 2 * SSIM_RADIUS]
        @ _band(min(BLOCK, valid - start) + 2 * SSIM_RADIUS, images.device)
        for start in range(0, valid, BLOCK)
    ]
    return torch.cat(blocks, dim=-1)


def _filtered_moments(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x, y, x² + y² and xy of (N, H, W) images, each Gaussian-filtered along both axes over the valid
    region: (4, N, W-10, H-10), transposed (the mean does not mind)."""
    height, width = x.shape[-2:]
    if max(height, width) > BAND_LIMIT:
        return torch.stack([_filter_last(_filter_last(moment).mT) for moment in (x, y, x * x + y * y, x * y)])
    along_rows = torch.empty(4, x.shape[0], height, width - 2 * SSIM_RADIUS, device=x.device)
    for index, moment in enumerate((x, y, x * x + y * y, x * y)):
        torch.matmul(moment, _band(width, x.device), out=along_rows[index])  # (N, H, W-10)
    return along_rows.mT @ _band(height, x.device)  # (4, N, W-10, H-10)


def ssim(clean: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image, (B,), equal to ``skimage.metrics.structural_similarity(
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)`` within 1e-6.

    scikit-image averages the SSIM map after cropping 5 pixels from each border, which is
    exactly the region where an 11-tap filter needs no padding; so filtering over the valid
    region gives the same numbers without any border rule. The separable Gaussian filter is
    two matrix products with banded matrices, in float32: measured here, that is an order of
    magnitude faster than a loop over scikit-image (float64 convolutions were slower than the
    loop), with errors near 1e-7. Only σx² + σy² enters the formula, so four filtered maps
    suffice (x, y, x² + y², xy); the second product yields the maps transposed, which the mean
    does not mind (23 → 15 ms for 256 images here). Images must be at least 11×11.
    """
    _check_pair(clean, estimate)
    batch, channels, height, width = clean.shape
    if min(height, width) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"ssim needs images of at least {2 * SSIM_RADIUS + 1}×{2 * SSIM_RADIUS + 1}, got {height}×{width}")
    x = clean.float().reshape(batch * channels, height, width)
    y = estimate.float().reshape(batch * channels, height, width)
    mean_x, mean_y, mean_squares, mean_xy = _filtered_moments(x, y)
    mean_x_mean_y = mean_x * mean_y
    squared_means = mean_x * mean_x + mean_y * mean_y
    c1 = SSIM_K1**2  # (K1 · data range)², data range 1
    c2 = SSIM_K2**2
    numerator = (2 * mean_x_mean_y + c1) * (2 * (mean_xy - mean_x_mean_y) + c2)
    denominator = (squared_means + c1) * (mean_squares - squared_means + c2)  # σx² + σy² = E[x² + y²] − μx² − μy²
    ssim_map = numerator / denominator  # (B·C, W-10, H-10)
    return ssim_map.double().flatten(1).mean(dim=1).view(batch, channels).mean(dim=1)


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Metric:
    """One image-quality metric: ``function(clean, estimate)`` maps two (B, C, H, W) batches in [0, 1]
    on any device to (B,) values there; whether higher is better; the digits tables show; and the
    decimals each per-image value is stored to (None: as computed)."""

    name: str
    function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    higher_is_better: bool
    digits: int
    title: str  # a table's column header, e.g. "PSNR dB"
    decimals: int | None = None

    def __call__(self, clean: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        return self.function(clean, estimate)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(
    name: str, *, higher_is_better: bool, digits: int = 4, title: str = "", decimals: int | None = None
) -> Callable[[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Decorator: register ``function(clean, estimate) -> (B,) tensor`` as metric ``name``. Every sweep then
    scores every cell with it per image, stores it, ranks it (``leaderboard --metric NAME``), reports it
    and gates it where a baseline holds it; nothing else needs an edit."""

    def decorate(
        function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        metric = Metric(name, function, higher_is_better, digits, title or name.upper(), decimals)

        def factory() -> Metric:
            return metric

        factory.__module__, factory.__qualname__, factory.__doc__ = function.__module__, function.__qualname__, function.__doc__
        METRICS.register(name)(factory)
        return function

    return decorate


def registered() -> list[Metric]:
    """Every registered metric: the package's own first (MSE, PSNR, SSIM), then the plugins', by name."""
    own = [METRICS.create(name) for name in ("mse", "psnr", "ssim")]
    return own + [METRICS.create(name) for name in METRICS.names() if name not in ("mse", "psnr", "ssim")]


register_metric("mse", higher_is_better=False, digits=5, title="MSE")(mse)
register_metric("psnr", higher_is_better=True, digits=2, title="PSNR dB", decimals=4)(psnr)
register_metric("ssim", higher_is_better=True, digits=4, title="SSIM", decimals=6)(ssim)
