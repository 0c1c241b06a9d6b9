"""The founding design's training loop, kept as the speed reference.

A DataLoader over a TensorDataset, batch 64, the default memory format, default Adam,
noise added per batch with ``randn_like``, the loss read back with ``.item()`` every step.
Benchmarks and the regression gate measure the suite's trainer against it in the same
run, so that a ratio, not a machine-dependent time, says whether the trainer is fast.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from denoiser.models import create_model
from denoiser.noise import create_noise, make_generator
from denoiser.training import Step, fast_memory_format, make_optimizer, train_epoch


def design_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, sigma: float) -> float:
    """One epoch exactly as the design wrote it; returns the mean training loss."""
    model.train()
    running_loss, batches = 0.0, 0
    for (clean,) in loader:
        noisy = torch.clamp(clean + sigma * torch.randn_like(clean), 0.0, 1.0)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(noisy), clean)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        batches += 1
    return running_loss / max(batches, 1)


@dataclass(frozen=True)
class LoopSettings:
    """What both loops are run with (keyword ``settings`` of the functions below)."""

    latent_dim: int = 128
    sigma: float = 0.1
    batch_size: int = 64
    seed: int = 0
    device: torch.device | str = "cpu"


def design_epochs(images: torch.Tensor, **settings: Any) -> Callable[[], float]:
    """A fresh design model and its DataLoader and Adam on ``images`` (N, 1, 64, 64); each call
    of the returned function trains one epoch with the design's loop and returns its mean loss.
    On ``device``, the images too: the DataLoader slices them there, so the comparison does not
    credit the trainer for keeping the data on the GPU. ``settings``: :class:`LoopSettings`' fields."""
    loop = LoopSettings(**settings)
    torch.manual_seed(loop.seed)
    model = create_model("dae", latent_dim=loop.latent_dim).to(loop.device)
    loader = DataLoader(TensorDataset(images.to(loop.device)), batch_size=loop.batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return lambda: design_epoch(model, loader, optimizer, loop.sigma)


def trainer_epochs(images: torch.Tensor, **settings: Any) -> Callable[[], float]:
    """The same for the suite's trainer (``denoiser.training.train_epoch`` with its memory format and optimizer
    for ``device``)."""
    loop = LoopSettings(**settings)
    torch.manual_seed(loop.seed)
    memory_format = fast_memory_format(loop.device)
    model = create_model("dae", latent_dim=loop.latent_dim).to(loop.device).to(memory_format=memory_format)
    optimizer = make_optimizer(model, 1e-3)
    noise = create_noise("gaussian", loop.sigma)
    images = images.to(loop.device)
    order, draws = torch.Generator().manual_seed(loop.seed), make_generator(loop.seed + 1, loop.device)
    return lambda: train_epoch(model, optimizer, images, noise, loop.batch_size, order, draws, Step(memory_format)).item()


def design_throughput(images: torch.Tensor, *, min_seconds: float = 2.0, **settings: Any) -> float:
    """Training images per second of the design's loop on ``images`` (N, 1, 64, 64), after one warm-up epoch;
    repeats epochs until ``min_seconds`` have passed. ``settings`` as for :func:`design_epochs`."""
    epoch = design_epochs(images, **settings)
    epoch()  # warm-up
    seen, start = 0, time.perf_counter()
    while True:
        epoch()
        seen += len(images)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return seen / elapsed


@dataclass(frozen=True)
class SpeedComparison:
    """The suite's trainer against the design's loop, timed in turn on the same images."""

    design_images_per_s: float  # medians over the rounds
    trainer_images_per_s: float
    ratio: float  # median over the rounds of (design epoch time) / (trainer epoch time)


def compare_with_design(images: torch.Tensor, *, rounds: int = 5, **settings: Any) -> SpeedComparison:
    """Train the design's model on ``images`` (N, 1, 64, 64) with the design's loop and with the
    suite's trainer, one epoch of each in turn, ``rounds`` times after one warm-up epoch each.
    ``settings`` as for :func:`design_epochs`.

    Alternating the two and taking the median of the per-round ratios keeps a change in the
    machine's load from landing on one side only.
    """
    design, trainer = design_epochs(images, **settings), trainer_epochs(images, **settings)

    def seconds(epoch: Callable[[], float]) -> float:  # an epoch ends by reading its loss: the device has finished
        start = time.perf_counter()
        epoch()
        return time.perf_counter() - start

    design(), trainer()  # warm-up: oneDNN picks and caches its kernels on first use
    timings = [(seconds(design), seconds(trainer)) for _ in range(rounds)]
    design_seconds, trainer_seconds = zip(*timings)
    return SpeedComparison(
        design_images_per_s=len(images) / statistics.median(design_seconds),
        trainer_images_per_s=len(images) / statistics.median(trainer_seconds),
        ratio=statistics.median(d / t for d, t in timings),
    )
