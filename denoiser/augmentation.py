"""The founding design's seeded offline augmentation: random flips, a resized crop and a colour jitter,
with torchvision's parameter rules, each augmented copy keeping its source image."""

from __future__ import annotations

import math

import torch

from denoiser.errors import ConfigurationError
from denoiser.images import ImageSet, to_grayscale, transforms


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def augment_image(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The design's augmentation of one (C, 64, 64) image (C = 1 or 3), drawing from ``generator``.

    Random horizontal flip, random vertical flip, RandomResizedCrop(64, scale=(0.9, 1.0)),
    ColorJitter(brightness=0.1, contrast=0.1), with torchvision's parameter rules: the contrast pivots
    on the image's mean (of its luma, for RGB, as torchvision's), the same factors for every channel.
    """
    TF = transforms()
    if torch.rand((), generator=generator) < 0.5:
        image = TF.horizontal_flip(image)
    if torch.rand((), generator=generator) < 0.5:
        image = TF.vertical_flip(image)
    size = image.shape[-1]
    top, left, height, width = 0, 0, size, size  # torchvision's fallback after 10 failed tries
    for _ in range(10):
        area = size * size * _uniform(0.9, 1.0, generator)
        aspect = math.exp(_uniform(math.log(3 / 4), math.log(4 / 3), generator))
        width_try = round(math.sqrt(area * aspect))
        height_try = round(math.sqrt(area / aspect))
        if 0 < width_try <= size and 0 < height_try <= size:
            height, width = height_try, width_try
            top = int(torch.randint(0, size - height + 1, (), generator=generator))
            left = int(torch.randint(0, size - width + 1, (), generator=generator))
            break
    image = TF.resized_crop(image, top, left, height, width, [size, size], antialias=True).clamp(0, 1)
    brightness = _uniform(0.9, 1.1, generator)
    contrast = _uniform(0.9, 1.1, generator)
    for operation in torch.randperm(2, generator=generator).tolist():  # ColorJitter applies them in random order
        if operation == 0:
            image = (image * brightness).clamp(0, 1)
        else:
            mean = image.mean() if image.shape[-3] == 1 else to_grayscale(image).mean()
            image = (contrast * image + (1 - contrast) * mean).clamp(0, 1)
    return image


def augment(data: ImageSet, copies: int, seed: int) -> ImageSet:
    """Keep every image and add ``copies`` augmented copies of it, seeded; copies keep their source."""
    if copies < 0:
        raise ConfigurationError(f"augment copies must be ≥ 0, got {copies}")
    if copies == 0:
        return data
    generator = torch.Generator().manual_seed(seed)
    augmented = [augment_image(image, generator) for image in data.images for _ in range(copies)]
    images = torch.cat([data.images, torch.stack(augmented)])
    sources = torch.cat([data.sources, data.sources.repeat_interleave(copies)])
    return ImageSet(images.contiguous(), sources, data.source_names)
