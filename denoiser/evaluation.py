"""Evaluation: every registered metric of a denoiser, per image, on clean images under a noise model with a
fixed seed; :class:`Evaluation` is what a cell's record keeps of each."""

from __future__ import annotations

import contextlib
import copy
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from denoiser import metrics
from denoiser.interface import Denoiser
from denoiser.noise import NoiseModel, RealNoise, make_generator

# What is scored: a denoiser (denoiser.interface.Denoiser, which a sweep's learned models and baselines are), or any
# callable alike: (N, C, H, W) noisy and the noise model it was drawn from (it may use its σ) → estimate in [0, 1]
Scored = Denoiser | Callable[[torch.Tensor, NoiseModel], torch.Tensor]


@dataclass
class MetricScores:
    """One metric on one evaluation: its mean and spread over the images, the noisy input's mean
    (None where an older record did not keep it), and each image's value in image order, so that two
    denoisers scored on the same noisy images can be compared image by image without scoring them again."""

    mean: float
    std: float | None = None  # population std over the images
    noisy: float | None = None
    per_image: list[float] = field(default_factory=list)


@dataclass
class Evaluation:
    """Every registered metric of one denoiser on one (noise, level) and data set: what a cell's record
    keeps of each evaluation. Built by :func:`evaluate`, :func:`evaluate_whole` and :func:`evaluate_pairs`."""

    noise: str
    level: float
    n_images: int
    metrics: dict[str, MetricScores] = field(default_factory=dict)  # metric name → its numbers
    settings: dict[str, Any] | None = None  # a classical baseline's settings at this noise
    protocol: str | None = None  # exactly what the noise was, e.g. "y = x + N(0, σ²), not clipped, σ = 25/255"
    protocol_key: dict[str, Any] | None = None  # the same as data (ProtocolKey.identity); None in older records
    dataset: str | None = None  # where it was scored: the training data's test split, or an evaluation data set
    tiled: str | None = None  # how a fixed-size model (the DAE) ran on whole images

    @property
    def name(self) -> str:
        """``gaussian 0.1``: how an evaluation is named in records, tables and the gate."""
        return f"{self.noise} {self.level:g}"

    def mean(self, metric: str) -> float | None:
        scores = self.metrics.get(metric)
        return None if scores is None else scores.mean

    @property
    def psnr(self) -> float:
        return self.metrics["psnr"].mean

    @property
    def ssim(self) -> float:
        return self.metrics["ssim"].mean

    @property
    def psnr_noisy(self) -> float:
        return self.metrics["psnr"].noisy  # type: ignore[return-value]  # every record keeps it

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


@contextlib.contextmanager
def torch_settings_kept() -> Iterator[None]:
    """Within, code may change torch's thread count, default dtype and grad mode: they are put back after."""
    state = (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled())
    try:
        yield
    finally:
        torch.set_num_threads(state[0])
        torch.set_default_dtype(state[1])
        torch.set_grad_enabled(state[2])


def run_isolated(denoiser: Scored, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
    """``denoiser(copy of noisy, copy of noise)``: a denoiser that writes into its input, or changes the
    noise model it is told, changes only its own copies, never the noisy images the harness scores (the
    noisy input's PSNR, ΔPSNR), images shared with other cells, nor the noise of the next image and the
    σ recorded; the torch settings it changes are put back before the harness scores its output."""
    with torch_settings_kept():
        return denoiser(noisy.clone(), copy.deepcopy(noise))


def _per_image(clean: torch.Tensor, noisy: torch.Tensor, estimate: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every registered metric of one batch, of the estimate and of the noisy input: (B,) tensors, computed
    on the estimate's device (a cell's: the GPU for a learned model there)."""
    device = estimate.device
    clean, noisy = clean.to(device), noisy.to(device)
    return {metric.name: (metric(clean, estimate), metric(clean, noisy)) for metric in metrics.registered()}


def _aggregate(values: list[dict[str, tuple[torch.Tensor, torch.Tensor]]], noise: NoiseModel, channels: int) -> Evaluation:
    """Means and spreads over images, and each image's value, of every metric of batches scored in turn;
    ``channels``, the clean images' channel count, words the protocol ("per channel" in colour)."""
    scores = {}
    for metric in metrics.registered():
        estimate = torch.cat([batch[metric.name][0] for batch in values]).double()
        noisy = torch.cat([batch[metric.name][1] for batch in values]).double()
        per_image = (
            estimate.tolist() if metric.decimals is None else [round(value, metric.decimals) for value in estimate.tolist()]
        )
        scores[metric.name] = MetricScores(
            estimate.mean().item(), estimate.std(correction=0).item(), noisy.mean().item(), per_image
        )
    count = len(next(iter(scores.values())).per_image)
    key = noise.protocol_key(channels)
    return Evaluation(noise.family, noise.level, count, scores, protocol=key.text, protocol_key=key.identity)


def score(clean: torch.Tensor, noisy: torch.Tensor, estimate: torch.Tensor, noise: NoiseModel) -> Evaluation:
    """Every registered metric of ``estimate`` (and of ``noisy``, for ΔPSNR) per image, and over the images.

    The estimate is scored as returned (every shipped denoiser returns [0, 1]), and so is the noisy
    input, which unclipped Gaussian noise leaves outside [0, 1]: the noisy PSNR is the literature's."""
    return _aggregate([_per_image(clean, noisy, estimate)], noise, clean.shape[1])


def evaluate(denoiser: Scored, clean: torch.Tensor, noise: NoiseModel, seed: int) -> Evaluation:
    """Add seeded noise to ``clean``, denoise it and score the result."""
    noisy = add_noise(clean, noise, seed)
    return score(clean, noisy, run_isolated(denoiser, noisy, noise), noise)


def evaluate_whole(denoiser: Scored, images: list[torch.Tensor], noise: NoiseModel, seed: int) -> Evaluation:
    """The same for whole images of different sizes, each (1, 1, H, W): each image gets its own seeded
    noise (``seed + index``) and its own PSNR and SSIM over the whole image, then they are averaged."""
    per_image = []
    for index, clean in enumerate(images):
        noisy = add_noise(clean, noise, seed + index)
        per_image.append(_per_image(clean, noisy, run_isolated(denoiser, noisy, noise)))
    return _aggregate(per_image, noise, images[0].shape[1])


def evaluate_pairs(denoiser: Scored, pairs: list[tuple[str, torch.Tensor, torch.Tensor]]) -> tuple[Evaluation, list[float]]:
    """Score ``denoiser(noisy, noise)`` on paired images whose noise is real: each noisy image goes in as it
    is, with the truth its pair knows (:class:`RealNoise`: the std of noisy − clean), which a classical
    baseline in ``sigma: oracle`` mode is told and one in ``sigma: estimated`` mode ignores; returns the
    scores, at the mean of those σ, and each image's σ."""
    per_image, sigmas = [], []
    for _, clean, noisy in pairs:
        noise = RealNoise.of(clean, noisy)
        sigmas.append(noise.level)
        per_image.append(_per_image(clean, noisy, run_isolated(denoiser, noisy, noise)))
    level = round(sum(sigmas) / len(sigmas), 6)  # the rows' level: the mean residual σ, the same for every method
    return _aggregate(per_image, RealNoise(level), pairs[0][1].shape[1]), sigmas
