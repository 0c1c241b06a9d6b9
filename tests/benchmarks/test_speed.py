"""Speed, measured (never asserted as a time): `make bench` runs these and prints the ratios.

Each pair runs in the same session on the same data, so the ratio, not the absolute
time, is the figure to quote: the suite's training epoch against the founding design's
loop (on the CPU, and on CUDA when present), and batched SSIM against a loop over
scikit-image. On CUDA, also the seed protocol's wall time (configs/seed.yaml, 20 cells).
"""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from bench.config import load_config
from bench.sweep import run_sweep
from denoiser import create_model, create_noise, load_dataset, make_generator, metrics
from denoiser.design_loop import design_epochs, trainer_epochs
from denoiser.inference import denoise
from tests.conftest import CIFAR_SAMPLE, REPOSITORY

IMAGES = 640  # 10 batches of 64


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    data = load_dataset("skimage-natural").images  # (192, 1, 64, 64)
    return data.repeat(IMAGES // len(data) + 1, 1, 1, 1)[:IMAGES].contiguous()


def describe(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


# Each epoch ends by reading its loss on the host, so on CUDA the clock stops after the device has finished.
@pytest.mark.benchmark(group="train-epoch")
def test_train_epoch_design_loop(benchmark, images: torch.Tensor, device: torch.device) -> None:
    benchmark.extra_info.update(images=len(images), device=describe(device))
    benchmark.pedantic(design_epochs(images, device=device), rounds=7, warmup_rounds=1)


@pytest.mark.benchmark(group="train-epoch")
def test_train_epoch_suite(benchmark, images: torch.Tensor, device: torch.device) -> None:
    benchmark.extra_info.update(images=len(images), device=describe(device))
    benchmark.pedantic(trainer_epochs(images, device=device), rounds=7, warmup_rounds=1)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="the seed protocol's wall time is a GPU figure (20 cells of up to 200 epochs: hours on this CPU)")
@pytest.mark.skipif(not CIFAR_SAMPLE.is_file(), reason=f"the CIFAR-10 sample is not at {CIFAR_SAMPLE}")
@pytest.mark.benchmark(group="seed-protocol")
def test_seed_protocol_wall_time(benchmark, tmp_path: Path) -> None:
    """configs/seed.yaml as `python -m bench sweep` runs it, with the default number of workers."""
    from rich.console import Console

    config = load_config(REPOSITORY / "configs" / "seed.yaml", [f"data.params.path={CIFAR_SAMPLE}"])
    root = tmp_path / "seed"
    outcome = benchmark.pedantic(run_sweep, args=(config, root), kwargs=dict(fresh=True, console=Console(file=io.StringIO())),
                                 rounds=1, iterations=1)
    environment = json.loads((root / "env.json").read_text())
    benchmark.extra_info.update(cells=len(outcome.cells), device=describe(torch.device("cuda")),
                                workers=environment["workers"], workers_reason=environment["workers_reason"])
    assert not outcome.failed, [record.error for record in outcome.failed]


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
