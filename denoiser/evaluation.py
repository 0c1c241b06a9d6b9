"""Evaluation: per-image metrics of a denoiser on clean images under a noise model with fixed seed."""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from denoiser import metrics
from denoiser.noise import EstimatedNoise, NoiseModel, make_generator

Denoiser = Callable[[torch.Tensor], torch.Tensor]  # (N, 1, H, W) noisy → (N, 1, H, W) estimate, both in [0, 1]


@dataclass(frozen=True)
class Scores:
    """Aggregated metrics of one denoiser on one (noise, level): means and standard deviations over images,
    and the per-image PSNR and SSIM themselves, in image order, so that two denoisers scored on the same
    noisy images can later be compared image by image (a paired comparison) without scoring them again."""

    mse: float
    psnr: float
    ssim: float
    psnr_std: float
    ssim_std: float
    psnr_noisy: float
    ssim_noisy: float
    n_images: int
    psnr_per_image: tuple[float, ...] = ()
    ssim_per_image: tuple[float, ...] = ()

    @property
    def delta_psnr(self) -> float:
        """Gain in dB over the noisy input on the same images and noise."""
        return self.psnr - self.psnr_noisy


def evaluation_seed(base_seed: int, noise: NoiseModel) -> int:
    """The seed of the evaluation noise at one (family, level): stable, and independent of
    the order in which levels are listed, so every model sees the same noisy images."""
    return base_seed + zlib.crc32(f"{noise.family}:{noise.level!r}".encode())


def add_noise(clean: torch.Tensor, noise: NoiseModel, seed: int) -> torch.Tensor:
    """Noise drawn on the CPU from ``seed``, so the noisy images do not depend on the device. The noise
    model gets its own copy of ``clean``: one that writes into its input cannot change the images scored."""
    return noise(clean.to("cpu", copy=True), make_generator(seed)).to(clean.device)


def run_isolated(denoiser: Callable[..., torch.Tensor], noisy: torch.Tensor, *options: object) -> torch.Tensor:
    """``denoiser(copy of noisy, *options)``: a denoiser that writes into its input changes only its own
    copy, never the noisy images the harness scores (the noisy input's PSNR, ΔPSNR) nor images shared
    with other cells; the torch settings it changes (threads, default dtype, grad mode) are put back
    before the harness scores its output."""
    state = (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled())
    try:
        return denoiser(noisy.clone(), *copy.deepcopy(options))  # the noise model too: its σ is recorded after
    finally:
        torch.set_num_threads(state[0])
        torch.set_default_dtype(state[1])
        torch.set_grad_enabled(state[2])


def _per_image(clean: torch.Tensor, noisy: torch.Tensor, estimate: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each metric of one batch, one value per image: (B,) tensors on the CPU."""
    clean, noisy, estimate = clean.cpu(), noisy.cpu(), estimate.cpu()
    return {
        "mse": metrics.mse(clean, estimate),
        "psnr": metrics.psnr(clean, estimate),
        "ssim": metrics.ssim(clean, estimate),
        "psnr_noisy": metrics.psnr(clean, noisy),
        "ssim_noisy": metrics.ssim(clean, noisy),
    }


def _aggregate_images(per_image: list[dict[str, torch.Tensor]]) -> Scores:
    """:func:`_aggregate` over images scored one at a time (whole images of different sizes)."""
    return _aggregate({name: torch.cat([values[name] for values in per_image]) for name in per_image[0]})


def _aggregate(values: dict[str, torch.Tensor]) -> Scores:
    """Means over images, the spread of PSNR and SSIM, and their per-image values."""
    psnr, ssim = values["psnr"], values["ssim"]
    return Scores(
        mse=values["mse"].mean().item(),
        psnr=psnr.mean().item(),
        ssim=ssim.mean().item(),
        psnr_std=psnr.std(correction=0).item(),
        ssim_std=ssim.std(correction=0).item(),
        psnr_noisy=values["psnr_noisy"].mean().item(),
        ssim_noisy=values["ssim_noisy"].mean().item(),
        n_images=len(psnr),
        psnr_per_image=tuple(psnr.tolist()),
        ssim_per_image=tuple(ssim.tolist()),
    )


def score(clean: torch.Tensor, noisy: torch.Tensor, estimate: torch.Tensor) -> Scores:
    """Per-image MSE, PSNR and SSIM of ``estimate`` (and of ``noisy``, for ΔPSNR), averaged over images.

    The estimate is scored as returned (every shipped denoiser returns [0, 1]), and so is the noisy
    input, which unclipped Gaussian noise leaves outside [0, 1]: the noisy PSNR is the literature's."""
    return _aggregate(_per_image(clean, noisy, estimate))


def evaluate(denoiser: Denoiser, clean: torch.Tensor, noise: NoiseModel, seed: int) -> Scores:
    """Add seeded noise to ``clean``, denoise it and score the result."""
    noisy = add_noise(clean, noise, seed)
    return score(clean, noisy, run_isolated(denoiser, noisy))


def evaluate_whole(denoiser: Denoiser, images: list[torch.Tensor], noise: NoiseModel, seed: int) -> Scores:
    """The same for whole images of different sizes, each (1, 1, H, W): each image gets its own seeded
    noise (``seed + index``) and its own PSNR and SSIM over the whole image, then they are averaged."""
    per_image = []
    for index, clean in enumerate(images):
        noisy = add_noise(clean, noise, seed + index)
        per_image.append(_per_image(clean, noisy, run_isolated(denoiser, noisy)))
    return _aggregate_images(per_image)


def evaluate_pairs(
    denoiser: Callable[[torch.Tensor, NoiseModel], torch.Tensor], pairs: list[tuple[str, torch.Tensor, torch.Tensor]]
) -> tuple[Scores, list[float]]:
    """Score ``denoiser(noisy, noise)`` on paired images whose noise is real: each noisy image goes
    in as it is, with its σ estimated from it alone (:class:`EstimatedNoise`); returns the scores
    and the estimated σ of each image."""
    per_image, sigmas = [], []
    for _, clean, noisy in pairs:
        noise = EstimatedNoise.of(noisy)
        sigmas.append(noise.level)
        per_image.append(_per_image(clean, noisy, run_isolated(denoiser, noisy, noise)))
    return _aggregate_images(per_image), sigmas
