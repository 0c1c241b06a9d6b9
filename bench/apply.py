"""``bench denoise``: apply a trained checkpoint to image files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from torch import nn

from bench.checkpoints import CheckpointError, load_checkpoint
from bench.store import StoreError, write_atomically
from denoiser.data import read_image
from denoiser.inference import denoise_whole

__all__ = ["CheckpointError", "denoise_files", "load_checkpoint"]  # the checkpoint's two: re-exported (bench/report.py)


def image_channels(model: nn.Module) -> int:
    """The channels ``model`` takes: its ``image_channels``, else its first convolution's input channels, else 1."""
    channels = getattr(model, "image_channels", None)
    if isinstance(channels, int):
        return channels
    first = next((module for module in model.modules() if isinstance(module, nn.Conv2d)), None)
    return first.in_channels if first is not None else 1


def denoise_files(checkpoint: Path, images: list[Path], out: Path, tile_stride: int = 32) -> list[Path]:
    """Denoise each image file as the data sets read it, grayscale, or RGB for a model that takes three
    channels (a grayscale file replicated); writes 8-bit L or RGB PNGs and returns their paths.

    All or nothing: every input is read and denoised before anything is written. A model with a
    fixed input size (the DAE) runs on overlapping windows of other sizes, as in evaluation.
    """
    model = load_checkpoint(checkpoint)
    channels = image_channels(model)
    if channels not in (1, 3):
        raise CheckpointError(f"{checkpoint}: the model takes {channels} channels; only 1 (grayscale) or 3 (RGB) can be denoised")
    targets = [out / f"{Path(path.name).stem}_denoised.png" for path in images]  # only file names: never outside --out
    seen: dict[Path, Path] = {}
    for path, target in zip(images, targets):
        if target in seen:
            raise StoreError(f"{seen[target]} and {path} would both be written to {target}; rename one")
        seen[target] = path
    clean = [read_image(path, colour=channels == 3) for path in images]  # read all first: a bad file stops before any output
    outputs = []
    for image in clean:
        estimate = denoise_whole(model, image.unsqueeze(0), tile_stride)[0].permute(1, 2, 0)  # (H, W, C) in [0, 1]
        pixels = (estimate.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels.squeeze(2) if channels == 1 else pixels).save(buffer, format="PNG")  # 8-bit L or RGB
        outputs.append(buffer.getvalue())
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"{out}: cannot create the output folder (the path or a parent of it is a file)") from None
    for target, data in zip(targets, outputs):
        write_atomically(target, data)
    return targets
