"""Speed, measured (never asserted as a time): `make bench` runs these and prints the ratios.

Each pair runs in the same session on the same data, so the ratio, not the absolute
time, is the figure to quote: the suite's training epoch against the founding design's
loop, and batched SSIM against a loop over scikit-image.
"""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from denoiser import create_model, create_noise, load_dataset, make_generator, metrics
from denoiser.design_loop import design_epochs, trainer_epochs
from denoiser.training import denoise

IMAGES = 640  # 10 batches of 64


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    data = load_dataset("skimage-natural").images  # (192, 1, 64, 64)
    return data.repeat(IMAGES // len(data) + 1, 1, 1, 1)[:IMAGES].contiguous()


@pytest.mark.benchmark(group="train-epoch")
def test_train_epoch_design_loop(benchmark, images: torch.Tensor) -> None:
    benchmark.extra_info["images"] = len(images)
    benchmark.pedantic(design_epochs(images), rounds=7, warmup_rounds=1)


@pytest.mark.benchmark(group="train-epoch")
def test_train_epoch_suite(benchmark, images: torch.Tensor) -> None:
    benchmark.extra_info["images"] = len(images)
    benchmark.pedantic(trainer_epochs(images), rounds=7, warmup_rounds=1)


@pytest.fixture(scope="module")
def ssim_pair() -> tuple[torch.Tensor, torch.Tensor]:
    generator = make_generator(0)
    clean = torch.rand(256, 1, 64, 64, generator=generator)
    return clean, create_noise("gaussian", 0.1)(clean, generator)


def skimage_loop(clean: torch.Tensor, noisy: torch.Tensor) -> np.ndarray:
    return np.array([
        structural_similarity(x[0], y[0], gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
        for x, y in zip(clean.double().numpy(), noisy.double().numpy())
    ])


@pytest.mark.benchmark(group="ssim-256")
def test_ssim_skimage_loop(benchmark, ssim_pair) -> None:
    benchmark.pedantic(skimage_loop, args=ssim_pair, rounds=7, warmup_rounds=1)


@pytest.mark.benchmark(group="ssim-256")
def test_ssim_batched(benchmark, ssim_pair) -> None:
    values = benchmark.pedantic(metrics.ssim, args=ssim_pair, rounds=10, warmup_rounds=1)
    assert np.abs(values.numpy() - skimage_loop(*ssim_pair)).max() < 1e-4  # equal values, not only faster


@pytest.mark.benchmark(group="evaluation")
def test_evaluation_throughput(benchmark, images: torch.Tensor) -> None:
    model = create_model("dae", latent_dim=128).eval()
    noisy = create_noise("gaussian", 0.1)(images, make_generator(0))
    benchmark.extra_info["images"] = len(images)
    benchmark.pedantic(denoise, args=(model, noisy), rounds=7, warmup_rounds=1)
