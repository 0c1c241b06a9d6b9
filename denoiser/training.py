"""Training: one plain function over in-memory tensors.

The whole training set is one tensor on the device; an epoch slices batches out of a
seeded permutation and draws fresh noise for every batch from a seeded generator.
Losses reach the host once per epoch, not once per step.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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


@contextlib.contextmanager
def deterministic_kernels(enabled: bool = True):
    """Within: torch's deterministic algorithms, cuDNN without autotuning, and the cuBLAS workspace
    setting its deterministic mode needs, so two runs of a cell on one GPU give identical numbers.
    Without (``enabled=False``): cuDNN may autotune, for speed. The previous settings come back after."""
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, in this process
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = enabled, not enabled
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[1], previous[2]


@contextlib.contextmanager
def tf32_kernels(enabled: bool = False):
    """Within: CUDA matrix products and convolutions in TF32 (``enabled``) or in full float32 (the
    default: torch would run convolutions in TF32 unasked). No effect on the CPU. Restored after."""
    previous = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


def synchronize(device: torch.device) -> None:
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


@torch.inference_mode()
def denoise_tiled(model: nn.Module, noisy: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Apply a model that takes ``size``×``size`` inputs only (the DAE) to larger images (N, 1, H, W):
    overlapping windows every ``stride`` pixels (the last ones flush with the edges), denoised in
    batches and averaged where they overlap. Images smaller than a window are padded by reflection
    (by repeating the edge when smaller than half a window). ``stride`` at most ``size``: wider would leave gaps."""
    if not 1 <= stride <= size:
        raise ValueError(f"tile stride {stride} must be between 1 and the window size {size}: wider leaves pixels unestimated")
    height, width = noisy.shape[-2:]
    pad_bottom, pad_right = max(0, size - height), max(0, size - width)
    if pad_bottom or pad_right:  # reflection needs a pad shorter than the image; beyond, the edge is repeated
        mode = "reflect" if pad_bottom < height and pad_right < width else "replicate"
        noisy = nn.functional.pad(noisy, (0, pad_right, 0, pad_bottom), mode=mode)
    padded_height, padded_width = noisy.shape[-2:]

    def starts(length: int) -> list[int]:
        positions = list(range(0, length - size + 1, stride))
        return positions if positions[-1] == length - size else positions + [length - size]

    corners = [(top, left) for top in starts(padded_height) for left in starts(padded_width)]
    total = torch.zeros_like(noisy)
    counts = torch.zeros_like(noisy[:1, :1])
    for first in range(0, len(corners), 64):
        batch = corners[first : first + 64]
        windows = torch.cat([noisy[:, :, top : top + size, left : left + size] for top, left in batch])  # (len·N, 1, s, s)
        outputs = denoise(model, windows).reshape(len(batch), noisy.shape[0], 1, size, size)
        for (top, left), output in zip(batch, outputs):
            total[:, :, top : top + size, left : left + size] += output
            counts[:, :, top : top + size, left : left + size] += 1
    return (total / counts)[:, :, :height, :width]


def denoise_whole(model: nn.Module, noisy: torch.Tensor, stride: int = 32) -> torch.Tensor:
    """:func:`denoise`, or :func:`denoise_tiled` for a model whose input size is fixed (``image_size``,
    the DAE) when ``noisy`` has another size."""
    size = getattr(model, "image_size", None)
    if size is not None and tuple(noisy.shape[-2:]) != (size, size):
        return denoise_tiled(model, noisy, size, stride)
    return denoise(model, noisy)


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
        model(torch.empty(batch_size, 1, *image_size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    parameters = sum(parameter.numel() for parameter in model.parameters())
    return 4 * (4 * parameters + 2 * sum(output_values) + stored_values)  # float32: 4 bytes a value


def _mean_loss(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, batch_size: int) -> float:
    estimate = denoise(model, noisy.clone(), batch_size)  # a copy: the fixed noisy images serve every epoch
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


def random_patches(images: torch.Tensor, count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random ``size``×``size`` crops of ``images`` (N, 1, H, W), each flipped and rotated by
    one of the 8 symmetries of the square at random; drawn from ``generator`` (on the CPU), so a seed
    fixes them. Returns (count, 1, size, size) on the images' device."""
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
    patches = images[which.to(device)[:, None, None], 0, rows.to(device), columns.to(device)]  # (count, size, size)
    symmetries = symmetries.to(device)[:, None, None]
    patches = torch.where(symmetries % 2 == 1, patches.flip(-1), patches)
    patches = torch.where((symmetries // 2) % 2 == 1, patches.flip(-2), patches)
    patches = torch.where(symmetries >= 4, patches.transpose(-1, -2), patches)
    return patches.unsqueeze(1).contiguous()


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
    patch_size: int = 0,
    patches_per_epoch: int = 0,
    decay_epoch: int = 0,
) -> TrainResult:
    """Train ``model`` to map ``noise(x)`` back to ``x`` with MSE and Adam.

    Early stopping: training stops once the validation loss has not improved for ``patience``
    epochs (0 disables it), and the best epoch's weights are restored. The validation loss is
    measured on one fixed noisy copy of ``validation_images`` (seeded), so epochs compare fairly.
    Pass held-out validation images, never the test images: the epoch is chosen on them.

    ``patch_size`` > 0 trains on fresh random crops of the training images each epoch
    (``patches_per_epoch`` of them, default one per image; flips and rotations at random, seeded),
    as learned denoisers are trained on large images. ``decay_epoch`` > 0 divides the learning
    rate by 10 from that epoch on.
    Raises :class:`TrainingDiverged` when a loss becomes NaN or infinite.
    """
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device).train()
    memory_format = fast_memory_format(device)
    model.to(memory_format=memory_format)
    clean_train = train_images.to(device)  # (N, 1, 64, 64)
    clean_validation = validation_images.to(device)
    order_generator = torch.Generator().manual_seed(seed)  # permutations, on the CPU
    noise_generator = make_generator(seed + 1, device)  # training noise, fresh per batch
    # fixed for the whole run; the noise model gets a copy, so the shared validation images stay as they are
    noisy_validation = noise(clean_validation.clone(), make_generator(seed + 2, device))
    optimizer = make_optimizer(model, learning_rate)

    result = TrainResult()
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    epochs_since_best = 0
    images_seen = 0
    training_seconds = 0.0
    patch_generator = torch.Generator().manual_seed(seed + 3)  # crops, flips and rotations, on the CPU
    for epoch in range(1, epochs + 1):
        if decay_epoch and epoch == decay_epoch:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate / 10
        synchronize(device)
        start = time.perf_counter()
        epoch_images = clean_train
        if patch_size:
            epoch_images = random_patches(clean_train, patches_per_epoch or len(clean_train), patch_size, patch_generator)
        mean_loss = train_epoch(
            model, optimizer, epoch_images, noise, batch_size, order_generator, noise_generator, memory_format
        )
        train_loss = mean_loss.item()  # the one host sync of the epoch
        training_seconds += time.perf_counter() - start
        images_seen += len(epoch_images)
        validation_loss = _mean_loss(model, noisy_validation, clean_validation, 256)
        result.train_losses.append(train_loss)
        result.validation_losses.append(validation_loss)
        if not (math.isfinite(train_loss) and math.isfinite(validation_loss)):
            raise TrainingDiverged(
                f"loss became {train_loss if not math.isfinite(train_loss) else validation_loss} at epoch {epoch}"
            )
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
    # Throughput counts training steps only (not the per-epoch validation loss), so it compares with the design's loop.
    result.train_seconds = training_seconds
    result.images_per_second = images_seen / training_seconds if training_seconds > 0 else 0.0
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format).eval()
    return result
