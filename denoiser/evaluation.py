"""Evaluation: per-image metrics of a denoiser on clean images under a noise model with fixed seed."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import torch

from denoiser import metrics
from denoiser.noise import NoiseModel, make_generator

Denoiser = Callable[[torch.Tensor], torch.Tensor]  # (N, 1, H, W) noisy → (N, 1, H, W) estimate, both in [0, 1]


@dataclass(frozen=True)
class Scores:
    """Aggregated metrics of one denoiser on one (noise, level): means and standard deviations over images."""

    mse: float
    psnr: float
    ssim: float
    psnr_std: float
    ssim_std: float
    psnr_noisy: float
    ssim_noisy: float
    n_images: int

    @property
    def delta_psnr(self) -> float:
        """Gain in dB over the noisy input on the same images and noise."""
        return self.psnr - self.psnr_noisy


def evaluation_seed(base_seed: int, noise: NoiseModel) -> int:
    """The seed of the evaluation noise at one (family, level): stable, and independent of
    the order in which levels are listed, so every model sees the same noisy images."""
    return base_seed + zlib.crc32(f"{noise.family}:{noise.level!r}".encode())


def add_noise(clean: torch.Tensor, noise: NoiseModel, seed: int) -> torch.Tensor:
    """Noise drawn on the CPU from ``seed``, so the noisy images do not depend on the device."""
    return noise(clean.cpu(), make_generator(seed)).to(clean.device)


def score(clean: torch.Tensor, noisy: torch.Tensor, estimate: torch.Tensor) -> Scores:
    """Per-image MSE, PSNR and SSIM of ``estimate`` (and of ``noisy``, for ΔPSNR), averaged over images.

    The estimate is scored as returned (every shipped denoiser returns [0, 1]), and so is the noisy
    input, which unclipped Gaussian noise leaves outside [0, 1]: the noisy PSNR is the literature's."""
    clean, noisy, estimate = clean.cpu(), noisy.cpu(), estimate.cpu()
    psnr = metrics.psnr(clean, estimate)
    ssim = metrics.ssim(clean, estimate)
    return Scores(
        mse=metrics.mse(clean, estimate).mean().item(),
        psnr=psnr.mean().item(),
        ssim=ssim.mean().item(),
        psnr_std=psnr.std(correction=0).item(),
        ssim_std=ssim.std(correction=0).item(),
        psnr_noisy=metrics.psnr(clean, noisy).mean().item(),
        ssim_noisy=metrics.ssim(clean, noisy).mean().item(),
        n_images=len(clean),
    )


def evaluate(denoiser: Denoiser, clean: torch.Tensor, noise: NoiseModel, seed: int) -> Scores:
    """Add seeded noise to ``clean``, denoise it and score the result."""
    noisy = add_noise(clean, noise, seed)
    return score(clean, noisy, denoiser(noisy))


def evaluate_whole(denoiser: Denoiser, images: list[torch.Tensor], noise: NoiseModel, seed: int) -> Scores:
    """The same for whole images of different sizes, each (1, 1, H, W): each image gets its own seeded
    noise (``seed + index``) and its own PSNR and SSIM over the whole image, then they are averaged."""
    psnr, ssim, mse, psnr_noisy, ssim_noisy = [], [], [], [], []
    for index, clean in enumerate(images):
        noisy = add_noise(clean, noise, seed + index)
        estimate = denoiser(noisy).cpu()
        clean, noisy = clean.cpu(), noisy.cpu()
        psnr.append(metrics.psnr(clean, estimate))
        ssim.append(metrics.ssim(clean, estimate))
        mse.append(metrics.mse(clean, estimate))
        psnr_noisy.append(metrics.psnr(clean, noisy))
        ssim_noisy.append(metrics.ssim(clean, noisy))
    psnr, ssim = torch.cat(psnr), torch.cat(ssim)
    return Scores(
        mse=torch.cat(mse).mean().item(), psnr=psnr.mean().item(), ssim=ssim.mean().item(),
        psnr_std=psnr.std(correction=0).item(), ssim_std=ssim.std(correction=0).item(),
        psnr_noisy=torch.cat(psnr_noisy).mean().item(), ssim_noisy=torch.cat(ssim_noisy).mean().item(), n_images=len(images),
    )
