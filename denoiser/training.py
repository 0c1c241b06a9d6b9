"""Training: one plain function over in-memory tensors.

The whole training set is one tensor on the device; an epoch slices batches out of a
seeded permutation and draws fresh noise for every batch from a seeded generator.
Losses reach the host once per epoch, not once per step.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from denoiser.devices import pick_device, synchronize
from denoiser.errors import DenoiserError
from denoiser.inference import denoise
from denoiser.noise import NoiseModel, make_generator
from denoiser.precision import PRECISIONS, autocast, check_precision, grad_scaler

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
    train_seconds: float = 0.0  # the training steps only (what images_per_second divides by)
    images_per_second: float = 0.0
    wall_seconds: float = 0.0  # the whole call: steps, validation losses, keeping and restoring the best weights

    @property
    def epochs(self) -> int:
        return len(self.train_losses)

    @property
    def converged(self) -> bool:
        """Whether training had finished: stopped early by its patience (no better validation loss for that
        many epochs), or :func:`converged` on the validation losses of a run that used every epoch."""
        return self.stopped_early or converged(self.validation_losses)


CONVERGENCE_WINDOW = 3  # epochs: the last ones judged
CONVERGENCE_TOLERANCE = 0.01  # relative: a smaller gain over the window counts as finished


def converged(validation_losses: list[float], window: int = CONVERGENCE_WINDOW, tolerance: float = CONVERGENCE_TOLERANCE) -> bool:
    """Whether the validation loss had stopped improving: over the last ``window`` epochs, the best loss fell
    by less than ``tolerance`` (relative) below the best of the epochs before them. One whose loss still fell
    by 1 % or more in its last 3 epochs has not, nor has one with too few epochs to tell (≤ ``window``).
    (A run that early stopping ended is converged by that alone: :attr:`TrainResult.converged`.)"""
    if len(validation_losses) <= window:
        return False
    before = min(validation_losses[:-window])
    last = min(validation_losses[-window:])
    if not (math.isfinite(before) and math.isfinite(last)) or before <= 0:
        return math.isfinite(before) and last >= before
    return (before - last) / before < tolerance


@dataclass(frozen=True)
class TrainSettings:
    """How :func:`train` trains, in one value (a sweep builds it from its config's ``train:`` block)."""

    epochs: int = 200  # the maximum number of epochs, ≥ 1
    batch_size: int = 64  # images per step, ≥ 1
    learning_rate: float = 1e-3  # Adam's learning rate, ≥ 0
    patience: int = 10  # epochs without a better validation loss before stopping; 0: never stops early
    patch_size: int = 0  # pixels; > 0: train on fresh random patch_size×patch_size crops each epoch; 0: whole images
    patches_per_epoch: int = 0  # crops per epoch when patch_size > 0; 0: one per training image
    decay_epoch: int = 0  # 1-based epoch from which the learning rate is divided by 10; 0: never
    precision: str = "float32"  # float32 | bf16-mixed | fp16-mixed (denoiser.precision); scoring stays float32

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be at least 1, got {self.epochs} and {self.batch_size}")
        if not self.learning_rate >= 0:  # also NaN
            raise ValueError(f"learning_rate must be ≥ 0, got {self.learning_rate}")
        for name in ("patience", "patch_size", "patches_per_epoch", "decay_epoch"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


class EarlyStopping:
    """The best validation loss so far and its epoch; ``should_stop`` once ``patience`` epochs in a row
    have not improved on it (patience 0: never)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = math.inf
        self.best_epoch = 0  # 1-based; 0 until a first finite loss
        self.epochs_seen = 0
        self.epochs_since_best = 0

    def update(self, loss: float) -> bool:
        """Count one epoch's ``loss``; True when it is the best so far (its weights are the ones to keep)."""
        self.epochs_seen += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.epochs_since_best = loss, self.epochs_seen, 0
            return True
        self.epochs_since_best += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.epochs_since_best >= self.patience


def fast_memory_format(device: torch.device | str) -> torch.memory_format:
    """The memory format the trainer uses on ``device``: channels_last on the CPU, where it lets oneDNN pick
    its blocked convolution kernels (README, "Speed"); the default NCHW on CUDA, where channels_last was
    measured slower on one H100 (the trainer: 20,672 against 21,775 images/s in NCHW)."""
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


def make_optimizer(model: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """Adam with the implementation measured fastest here (see README, "Speed")."""
    return torch.optim.Adam(model.parameters(), lr=learning_rate, foreach=True)


def training_memory_bytes(model: nn.Module, batch_size: int, image_size: tuple[int, int], stored_values: int = 0) -> int:
    """An estimate of the device memory :func:`train` holds for ``model``, built on the meta device (so the
    estimate allocates and computes nothing): the weights, their gradients and Adam's two moments (four
    copies of the parameters); every layer's output for one batch of (batch_size, 1, *image_size) inputs,
    kept for the backward pass, and as much again for its gradient; and ``stored_values`` float32 values the
    trainer keeps on the device (the training and validation images, clean and noisy). Not counted: the
    CUDA context and the caching allocator's slack."""
    if any(parameter.device.type != "meta" for parameter in model.parameters()):
        raise ValueError("build the model on the meta device: `with torch.device('meta'): model = create_model(...)`")
    output_values: list[int] = []

    def count(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        output_values.append(output.numel())

    leaves = [module for module in model.modules() if not any(module.children())]
    hooks = [module.register_forward_hook(count) for module in leaves]
    try:
        model(torch.empty(batch_size, getattr(model, "image_channels", 1), *image_size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    parameters = sum(parameter.numel() for parameter in model.parameters())
    return 4 * (4 * parameters + 2 * sum(output_values) + stored_values)  # float32: 4 bytes a value


def _mean_loss(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, batch_size: int) -> float:
    estimate = denoise(model, noisy.clone(), batch_size)  # a copy: the fixed noisy images serve every epoch
    return nn.functional.mse_loss(estimate, clean).item()


@dataclass(frozen=True)
class Step:
    """How one training step runs: the memory format of its inputs, and its precision (autocast, and the loss
    scaler that fp16-mixed needs)."""

    memory_format: torch.memory_format = torch.contiguous_format
    precision: str = "float32"
    scaler: torch.amp.GradScaler | None = None


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clean_train: torch.Tensor,
    noise: NoiseModel,
    batch_size: int,
    order_generator: torch.Generator,
    noise_generator: torch.Generator,
    step: Step = Step(),
) -> torch.Tensor:
    """One pass over ``clean_train`` (N, C, H, W) on the model's device in random batches; returns the
    mean loss as a 0-d tensor on that device (read it once per epoch: a read is a host sync). The noise is
    drawn in float32; the forward pass and the loss run in ``step.precision`` (autocast), the weights and
    the optimizer stay float32."""
    device = clean_train.device
    permutation = torch.randperm(len(clean_train), generator=order_generator).to(device)
    loss_sum = torch.zeros((), device=device)
    for first in range(0, len(clean_train), batch_size):
        clean = clean_train[permutation[first : first + batch_size]]  # (b, C, H, W)
        if step.memory_format is not torch.contiguous_format:
            clean = clean.contiguous(memory_format=step.memory_format)
        noisy = noise(clean, noise_generator)
        with autocast(step.precision, device):
            loss = nn.functional.mse_loss(model(noisy).float(), clean)
        optimizer.zero_grad(set_to_none=True)
        if step.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            step.scaler.scale(loss).backward()
            step.scaler.step(optimizer)
            step.scaler.update()
        loss_sum += loss.detach() * len(clean)
    return loss_sum / len(clean_train)


def random_patches(images: torch.Tensor, count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random ``size``×``size`` crops of ``images`` (N, C, H, W), each flipped and rotated by
    one of the 8 symmetries of the square at random, the same on every channel; drawn from ``generator``
    (on the CPU), so a seed fixes them. Returns (count, C, size, size) on the images' device."""
    height, width = images.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"patch size {size} exceeds the images ({height}×{width})")
    which = torch.randint(len(images), (count,), generator=generator)
    tops = torch.randint(height - size + 1, (count,), generator=generator)
    lefts = torch.randint(width - size + 1, (count,), generator=generator)
    symmetries = torch.randint(8, (count,), generator=generator)
    offsets = torch.arange(size)
    rows = (tops[:, None] + offsets)[:, :, None]  # (count, size, 1)
    columns = (lefts[:, None] + offsets)[:, None, :]  # (count, 1, size)
    device = images.device
    # Advanced indices split by the channel slice put their dimensions first: (count, size, size, C).
    patches = images[which.to(device)[:, None, None], :, rows.to(device), columns.to(device)]
    patches = patches.permute(0, 3, 1, 2)  # (count, C, size, size)
    symmetries = symmetries.to(device)[:, None, None, None]
    patches = torch.where(symmetries % 2 == 1, patches.flip(-1), patches)
    patches = torch.where((symmetries // 2) % 2 == 1, patches.flip(-2), patches)
    patches = torch.where(symmetries >= 4, patches.transpose(-1, -2), patches)
    return patches.contiguous()


@dataclass
class _Generators:
    """The seeded random streams of one training run (``seed`` + 0…3), each for one purpose."""

    order: torch.Generator  # batch permutations, on the CPU
    noise: torch.Generator  # training noise, fresh per batch, on the device
    validation: torch.Generator  # the one fixed noisy copy of the validation images
    patches: torch.Generator  # crops, flips and rotations, on the CPU

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> _Generators:
        return cls(
            order=torch.Generator().manual_seed(seed),
            noise=make_generator(seed + 1, device),
            validation=make_generator(seed + 2, device),
            patches=torch.Generator().manual_seed(seed + 3),
        )


def _timed_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clean_train: torch.Tensor,
    noise: NoiseModel,
    settings: TrainSettings,
    generators: _Generators,
    step: Step,
) -> tuple[float, float, int]:
    """One epoch, on fresh crops when ``settings.patch_size`` is set: (mean training loss, seconds, images).
    The time counts the training steps only, from an idle device to the loss on the host."""
    device = clean_train.device
    synchronize(device)
    start = time.perf_counter()
    epoch_images = clean_train
    if settings.patch_size:
        count = settings.patches_per_epoch or len(clean_train)
        epoch_images = random_patches(clean_train, count, settings.patch_size, generators.patches)
    mean_loss = train_epoch(model, optimizer, epoch_images, noise, settings.batch_size, generators.order, generators.noise, step)
    train_loss = mean_loss.item()  # the one host sync of the epoch
    return train_loss, time.perf_counter() - start, len(epoch_images)


def _check_finite(train_loss: float, validation_loss: float, epoch: int) -> None:
    if not (math.isfinite(train_loss) and math.isfinite(validation_loss)):
        raise TrainingDiverged(f"loss became {train_loss if not math.isfinite(train_loss) else validation_loss} at epoch {epoch}")


def _set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def _restore(model: nn.Module, best_state: dict[str, torch.Tensor] | None) -> None:
    """The best epoch's weights back in ``model``, in the default memory format and evaluation mode."""
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format).eval()


def _prepare(model: nn.Module, device: torch.device | str, precision: str) -> tuple[torch.device, Step]:
    """Move ``model`` to its device and memory format, in training mode; the step that trains it there in
    ``precision`` (refused in one line where the device cannot run that precision natively)."""
    device = pick_device(device) if isinstance(device, str) else device
    check_precision(precision, device)
    memory_format = fast_memory_format(device)
    model.to(device).train()
    model.to(memory_format=memory_format)
    return device, Step(memory_format, precision, grad_scaler(precision, device))


def _finish(result: TrainResult, images_seen: int, model: nn.Module, best_state: dict[str, torch.Tensor] | None) -> None:
    """The run's throughput, and the best epoch's weights back in ``model``."""
    # Throughput counts training steps only (not the per-epoch validation loss), so it compares with the design's loop.
    result.images_per_second = images_seen / result.train_seconds if result.train_seconds > 0 else 0.0
    _restore(model, best_state)


def fit_to_input_size(
    model: nn.Module, settings: TrainSettings, train_images: torch.Tensor, validation_images: torch.Tensor
) -> tuple[TrainSettings, torch.Tensor]:
    """``settings`` and the validation images fitted to ``model``'s input. A model with a fixed input size
    (``image_size``, the DAE: 64×64) trains on crops of that size of larger images, chooses its epoch on
    the centres of the validation images, and on images of its own size trains on them whole (no
    ``patch_size``); a fully convolutional model keeps both as they are."""
    size = getattr(model, "image_size", None)
    if size is None:
        return settings, validation_images
    whole = tuple(train_images.shape[-2:]) == (size, size)
    settings = replace(settings, patch_size=0 if whole else size)
    if tuple(validation_images.shape[-2:]) != (size, size):
        top, left = (validation_images.shape[-2] - size) // 2, (validation_images.shape[-1] - size) // 2
        validation_images = validation_images[..., top : top + size, left : left + size]
    return settings, validation_images


def train(
    model: nn.Module,
    train_images: torch.Tensor,
    validation_images: torch.Tensor,
    noise: NoiseModel,
    settings: TrainSettings,
    *,
    seed: int = 0,
    device: torch.device | str = "auto",
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainResult:
    """Train ``model`` to map ``noise(x)`` back to ``x`` with MSE and Adam, as ``settings`` say.

    Early stopping (:class:`EarlyStopping`) on the validation loss, measured on one fixed noisy copy of
    ``validation_images`` (seeded), so epochs compare fairly; the best epoch's weights are restored.
    Pass held-out validation images, never the test images: the epoch is chosen on them.
    Raises :class:`TrainingDiverged` when a loss becomes NaN or infinite.
    """
    started = time.perf_counter()
    device, step = _prepare(model, device, settings.precision)
    clean_train, clean_validation = train_images.to(device), validation_images.to(device)  # (N, 1, H, W), (V, 1, H, W)
    generators = _Generators.seeded(seed, device)
    # fixed for the whole run; the noise model gets a copy, so the shared validation images stay as they are
    noisy_validation = noise(clean_validation.clone(), generators.validation)
    optimizer = make_optimizer(model, settings.learning_rate)
    result, stopping, images_seen = TrainResult(), EarlyStopping(settings.patience), 0
    best_state: dict[str, torch.Tensor] | None = None
    for epoch in range(1, settings.epochs + 1):
        if settings.decay_epoch and epoch == settings.decay_epoch:
            _set_learning_rate(optimizer, settings.learning_rate / 10)
        train_loss, seconds, images = _timed_epoch(model, optimizer, clean_train, noise, settings, generators, step)
        result.train_seconds, images_seen = result.train_seconds + seconds, images_seen + images
        validation_loss = _mean_loss(model, noisy_validation, clean_validation, 256)
        result.train_losses.append(train_loss)
        result.validation_losses.append(validation_loss)
        _check_finite(train_loss, validation_loss, epoch)
        if stopping.update(validation_loss):
            best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(EpochReport(epoch, settings.epochs, train_loss, validation_loss, stopping.best_loss))
        logger.debug("epoch %d/%d train %.5f validation %.5f", epoch, settings.epochs, train_loss, validation_loss)
        if stopping.should_stop:
            result.stopped_early = epoch < settings.epochs
            break
    result.best_epoch = stopping.best_epoch
    _finish(result, images_seen, model, best_state)
    synchronize(device)
    result.wall_seconds = time.perf_counter() - started
    return result
