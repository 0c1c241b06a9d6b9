"""The founding design's training loop, kept as the speed reference.

A DataLoader over a TensorDataset, batch 64, the default memory format, default Adam,
noise added per batch with ``randn_like``, the loss read back with ``.item()`` every step.
Benchmarks and the regression gate measure the suite's trainer against it in the same
run, so that a ratio, not a machine-dependent time, says whether the trainer is fast.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from denoiser.models import create_model


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


def design_throughput(images: torch.Tensor, *, latent_dim: int = 128, sigma: float = 0.1, batch_size: int = 64,
                      min_seconds: float = 2.0, seed: int = 0) -> float:
    """Training images per second of the design's loop on ``images`` (N, 1, 64, 64), after one warm-up epoch;
    repeats epochs until ``min_seconds`` have passed."""
    torch.manual_seed(seed)
    model = create_model("dae", latent_dim=latent_dim)
    loader = DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    design_epoch(model, loader, optimizer, sigma)  # warm-up
    seen, start = 0, time.perf_counter()
    while True:
        design_epoch(model, loader, optimizer, sigma)
        seen += len(images)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return seen / elapsed
