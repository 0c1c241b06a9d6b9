"""Noise-level estimators: the σ of a noisy image from the image alone, as a classical denoiser in real use
must set its strength (``sigma: estimated``). A registry like the others: ``@register_estimator("name")``
above a function ``(noisy (1, C, H, W) in [0, 1]) -> σ`` on the [0, 1] scale, one number over all channels.

- ``wavelet`` (the default): scikit-image's ``estimate_sigma``, the median absolute deviation of the finest
  diagonal wavelet band (Donoho and Johnstone 1994), averaged over the channels. Blind to noise at coarser
  scales: spatially correlated noise (demosaicing, JPEG, ``correlated-gaussian``) reads far too low.
- ``weak-texture``: the noise std in the flattest patches of the image, at every scale up to the patch size,
  in the spirit of Liu, Tanaka and Okutomi, "Single-image noise level estimation for blind denoising" (IEEE
  TIP 2013). Overestimates weak noise on images without flat areas, where texture reads as noise.

``weak-texture``: the image is cut into non-overlapping patches of ``min(32, side // 4)`` pixels; each
patch's content is judged by the variance of a Gaussian-smoothed copy (σ 2 px, which keeps the shapes and
removes most of the noise), patches with more than 1 % of clipped pixels (0 or 1) are left out, and of the
10 % whose smoothed content varies least, the median variance about a fitted plane (the smooth gradients
of a flat region removed; 3 degrees of freedom subtracted) is the noise variance.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from denoiser.correlated_noise import filter_valid
from denoiser.registry import Registry

Estimator = Callable[[torch.Tensor], float]

ESTIMATORS: Registry[float] = Registry("noise estimator")
DEFAULT_ESTIMATOR = "wavelet"  # what sigma: estimated has always meant: existing records keep their meaning


def register_estimator(name: str):  # noqa: ANN201 - a decorator
    """Decorator: register a noise estimator, ``(noisy (1, C, H, W) in [0, 1]) -> σ``:
    ``@register_estimator("name")``."""
    return ESTIMATORS.register(name)


def estimate(name: str, noisy: torch.Tensor) -> float:
    """The σ of one noisy image (1, C, H, W) by the registered estimator ``name``."""
    return float(ESTIMATORS.get(name).factory(noisy))


def describe(name: str) -> str:
    """How records name an estimator: the first line of its docstring, e.g. for ``wavelet``
    ``skimage.restoration.estimate_sigma (wavelet median absolute deviation)``."""
    return ESTIMATORS.get(name).summary or name


@ESTIMATORS.register("wavelet")
def wavelet(noisy: torch.Tensor) -> float:
    """skimage.restoration.estimate_sigma (wavelet median absolute deviation)"""
    from skimage.restoration import estimate_sigma

    if noisy.shape[1] == 1:
        return float(estimate_sigma(noisy.detach().cpu().double().numpy()[0, 0]))
    image = noisy.detach().cpu().double()[0].permute(1, 2, 0).numpy()  # (H, W, C)
    return float(estimate_sigma(image, channel_axis=-1, average_sigmas=True))


WEAK_TEXTURE_PATCH = 32  # pixels, at most; a quarter of the shorter side on smaller images
WEAK_TEXTURE_SMOOTHING = 2.0  # px: the Gaussian that judges a patch's content
WEAK_TEXTURE_FRACTION = 0.1  # the share of the flattest patches whose median variance is the estimate
CLIPPED_SHARE = 0.01  # a patch with more clipped pixels than this says nothing of the noise


@ESTIMATORS.register("weak-texture")
def weak_texture(noisy: torch.Tensor) -> float:
    """the noise std in the flattest 10 % of 32×32 patches (weak-texture selection, plane removed)"""
    image = noisy.detach().cpu().double()
    size = max(4, min(WEAK_TEXTURE_PATCH, min(image.shape[-2:]) // 4))
    patches = _tiles(image, size)  # (count, C, size, size)
    content = _tiles(_gaussian_blur(image, WEAK_TEXTURE_SMOOTHING), size).var(dim=(-1, -2)).mean(1)
    clipped = ((patches <= 0) | (patches >= 1)).double().mean(dim=(1, 2, 3)) > CLIPPED_SHARE
    usable = (~clipped).nonzero().flatten()
    if len(usable) == 0:
        usable = torch.arange(len(patches))  # every patch clipped: the best there is
    flattest = usable[content[usable].argsort()[: max(1, round(WEAK_TEXTURE_FRACTION * len(usable)))]]
    return math.sqrt(max(_plane_residual_variance(patches[flattest]).median().item(), 0.0))


def _tiles(image: torch.Tensor, size: int) -> torch.Tensor:
    """The non-overlapping size×size patches of (1, C, H, W): (count, C, size, size); the remainder is left out."""
    channels = image.shape[1]
    tiles = image[0].unfold(1, size, size).unfold(2, size, size)  # (C, rows, columns, size, size)
    return tiles.permute(1, 2, 0, 3, 4).reshape(-1, channels, size, size)


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(1, C, H, W) blurred by a Gaussian of std ``sigma`` pixels, each channel alone, edges reflected."""
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    taps = (kernel / kernel.sum()).tolist()
    padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    return filter_valid(filter_valid(padded, taps, -1), taps, -2)  # separable: rows, then columns


def _plane_residual_variance(patches: torch.Tensor) -> torch.Tensor:
    """Each patch's variance about its least-squares plane a + b·row + c·column, per channel, averaged over
    the channels, with the plane's 3 degrees of freedom subtracted: (count,)."""
    size = patches.shape[-1]
    ramp = torch.linspace(-1, 1, size, dtype=patches.dtype)
    design = torch.stack([torch.ones(size, size, dtype=patches.dtype), ramp[:, None].expand(size, size), ramp.expand(size, size)])
    basis, _ = torch.linalg.qr(design.reshape(3, -1).T)  # (size², 3), orthonormal columns
    flat = patches.reshape(*patches.shape[:2], -1)  # (count, C, size²)
    residual = flat - (flat @ basis) @ basis.T
    return residual.pow(2).sum(-1).div(size * size - 3).mean(1)
