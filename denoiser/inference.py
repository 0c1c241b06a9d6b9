"""Inference: a trained model applied to whole images, in batches, in evaluation mode; a model whose input
size is fixed (the DAE) on overlapping windows, averaged (:func:`denoise_whole` picks which); and a trained
model as scoring calls every denoiser (:class:`LearnedDenoiser`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from denoiser.interface import Denoiser, skip_reason

if TYPE_CHECKING:
    from denoiser.noise import NoiseModel


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
        outputs = denoise(model, windows).reshape(len(batch), *noisy.shape[:2], size, size)
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


class LearnedDenoiser(Denoiser):
    """A trained model as scoring calls it, as it calls a classical baseline: ``(noisy, noise) -> estimate`` on
    whole images, on the model's device (the metrics then run there too), on windows ``stride`` apart where its
    input size is fixed (:func:`denoise_whole`). It is told the noise and uses none of it (trained blind or at
    one level); a plugin's model that cannot score some noise says so with a ``skip(noise)`` method of its own."""

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", stride: int = 32) -> None:
        self.model, self.device, self.stride = model, torch.device(device), stride

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        return denoise_whole(self.model, noisy.to(self.device), self.stride)

    def skip(self, noise: NoiseModel) -> str | None:
        return skip_reason(self.model, noise)

    @property
    def tiling(self) -> str | None:
        """How it runs on whole images when its input size is fixed (the DAE), as records say it; else None."""
        size = getattr(self.model, "image_size", None)
        return None if size is None else f"{size}×{size} windows, stride {self.stride}, averaged"
