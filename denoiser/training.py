"""Training: one plain function over in-memory tensors.

The whole training set is one tensor on the device; an epoch slices batches out of a
seeded permutation and draws fresh noise for every batch from a seeded generator.
Losses reach the host once per epoch, not once per step.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from denoiser.errors import DenoiserError
from denoiser.noise import NoiseModel, make_generator

logger = logging.getLogger(__name__)


class TrainingDiverged(DenoiserError):
    """The loss became NaN or infinite; training stopped at that epoch."""


@dataclass(frozen=True)
class EpochReport:
    """What a progress display needs after each epoch."""

    epoch: int  # 1-based
    epochs: int  # the maximum
    train_loss: float
    validation_loss: float
    best_validation_loss: float


@dataclass
class TrainResult:
    """Per-epoch losses and what happened; the model holds the best weights afterwards."""

    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based epoch whose weights were restored
    stopped_early: bool = False
    train_seconds: float = 0.0
    images_per_second: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_losses)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def denoise(model: nn.Module, noisy: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Apply ``model`` to (N, 1, H, W) images in batches, in evaluation mode; returns a tensor on ``noisy``'s device."""
    was_training = model.training
    model.eval()
    outputs = [model(noisy[start : start + batch_size]) for start in range(0, len(noisy), batch_size)]
    model.train(was_training)
    return torch.cat(outputs)


# channels_last lets oneDNN pick its blocked convolution kernels on the CPU (see README, "Speed").
FAST_MEMORY_FORMAT = torch.channels_last


def make_optimizer(model: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """Adam with the implementation measured fastest here (see README, "Speed")."""
    return torch.optim.Adam(model.parameters(), lr=learning_rate, foreach=True)


def _mean_loss(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, batch_size: int) -> float:
    estimate = denoise(model, noisy, batch_size)
    return nn.functional.mse_loss(estimate, clean).item()


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clean_train: torch.Tensor,
    noise: NoiseModel,
    batch_size: int,
    order_generator: torch.Generator,
    noise_generator: torch.Generator,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """One pass over ``clean_train`` (N, 1, H, W) on the model's device in random batches; returns the
    mean loss as a 0-d tensor on that device (read it once per epoch: a read is a host sync)."""
    device = clean_train.device
    permutation = torch.randperm(len(clean_train), generator=order_generator).to(device)
    loss_sum = torch.zeros((), device=device)
    for first in range(0, len(clean_train), batch_size):
        clean = clean_train[permutation[first : first + batch_size]]  # (b, 1, 64, 64)
        if memory_format is not torch.contiguous_format:
            clean = clean.contiguous(memory_format=memory_format)
        noisy = noise(clean, noise_generator)
        loss = nn.functional.mse_loss(model(noisy), clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(clean)
    return loss_sum / len(clean_train)


def train(
    model: nn.Module,
    train_images: torch.Tensor,
    validation_images: torch.Tensor,
    noise: NoiseModel,
    *,
    epochs: int = 200,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    patience: int = 10,
    seed: int = 0,
    device: torch.device | str = "auto",
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainResult:
    """Train ``model`` to map ``noise(x)`` back to ``x`` with MSE and Adam.

    Early stopping: training stops once the validation loss has not improved for ``patience``
    epochs (0 disables it), and the best epoch's weights are restored. The validation loss is
    measured on one fixed noisy copy of ``validation_images`` (seeded), so epochs compare fairly.
    Pass held-out validation images, never the test images: the epoch is chosen on them.
    Raises :class:`TrainingDiverged` when a loss becomes NaN or infinite.
    """
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device).train()
    memory_format = FAST_MEMORY_FORMAT
    model.to(memory_format=memory_format)
    clean_train = train_images.to(device)  # (N, 1, 64, 64)
    clean_validation = validation_images.to(device)
    order_generator = torch.Generator().manual_seed(seed)  # permutations, on the CPU
    noise_generator = make_generator(seed + 1, device)  # training noise, fresh per batch
    noisy_validation = noise(clean_validation, make_generator(seed + 2, device))  # fixed for the whole run
    optimizer = make_optimizer(model, learning_rate)

    result = TrainResult()
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    epochs_since_best = 0
    images_seen = 0
    training_seconds = 0.0
    for epoch in range(1, epochs + 1):
        _synchronize(device)
        start = time.perf_counter()
        mean_loss = train_epoch(model, optimizer, clean_train, noise, batch_size, order_generator, noise_generator, memory_format)
        train_loss = mean_loss.item()  # the one host sync of the epoch
        training_seconds += time.perf_counter() - start
        images_seen += len(clean_train)
        validation_loss = _mean_loss(model, noisy_validation, clean_validation, 256)
        result.train_losses.append(train_loss)
        result.validation_losses.append(validation_loss)
        if not (math.isfinite(train_loss) and math.isfinite(validation_loss)):
            raise TrainingDiverged(f"loss became {train_loss if not math.isfinite(train_loss) else validation_loss} at epoch {epoch}")
        if validation_loss < best_loss:
            best_loss, result.best_epoch, epochs_since_best = validation_loss, epoch, 0
            best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        else:
            epochs_since_best += 1
        if on_epoch is not None:
            on_epoch(EpochReport(epoch, epochs, train_loss, validation_loss, best_loss))
        logger.debug("epoch %d/%d train %.5f validation %.5f", epoch, epochs, train_loss, validation_loss)
        if patience and epochs_since_best >= patience:
            result.stopped_early = epoch < epochs
            break
    # Throughput counts training steps only (not the per-epoch test loss), so it compares with the design's loop.
    result.train_seconds = training_seconds
    result.images_per_second = images_seen / training_seconds if training_seconds > 0 else 0.0
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format).eval()
    return result
