"""Splits of a data set into train, validation and test: by source image (``by-source``), or, only when asked
by name, over augmented copies as the founding design did (``augmented-copies``, which leaks test content
into training)."""

from __future__ import annotations

import torch

from denoiser.errors import ConfigurationError, DataError
from denoiser.images import ImageSet

SPLITS = ("by-source", "augmented-copies")


def split_three(
    data: ImageSet, method: str = "by-source", test_fraction: float = 0.2, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[ImageSet, ImageSet, ImageSet]:
    """(train, validation, test): ``test_fraction`` and ``validation_fraction`` of the source images
    (of the images, for ``augmented-copies``) held out, each split as :func:`split` does."""
    if not 0 < validation_fraction < 1 - test_fraction:
        raise ConfigurationError(
            f"validation_fraction must be between 0 and 1 − test_fraction ({1 - test_fraction:g}), got {validation_fraction}"
        )
    rest, test = split(data, method, test_fraction, seed)
    train, validation = split(rest, method, validation_fraction / (1 - test_fraction), seed + 1)
    return train, validation, test


def split(data: ImageSet, method: str = "by-source", test_fraction: float = 0.2, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """(train, test). ``by-source`` keeps every copy of a source image on one side;
    ``augmented-copies`` splits over all images as the founding design did, so
    augmented siblings of test images are trained on (leaky; for reproducing the design only)."""
    if method not in SPLITS:
        raise ConfigurationError(f"unknown split {method!r}; valid: {', '.join(SPLITS)}")
    if not 0 < test_fraction < 1:
        raise ConfigurationError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    if method == "augmented-copies":
        order = torch.randperm(len(data), generator=generator)
        test_count = round(test_fraction * len(data))
        test_mask = torch.zeros(len(data), dtype=torch.bool)
        test_mask[order[:test_count]] = True
    else:
        unique_sources = torch.unique(data.sources)
        if len(unique_sources) < 2:
            raise DataError("a by-source split needs at least two source images")
        shuffled = unique_sources[torch.randperm(len(unique_sources), generator=generator)]
        test_count = min(max(1, round(test_fraction * len(unique_sources))), len(unique_sources) - 1)
        test_mask = torch.isin(data.sources, shuffled[:test_count])
    if test_mask.all() or not test_mask.any():
        raise DataError(f"{len(data)} images are too few to split {test_fraction:.0%} off for testing")
    return data.subset(torch.nonzero(~test_mask).squeeze(1)), data.subset(torch.nonzero(test_mask).squeeze(1))
