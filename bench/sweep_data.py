"""The sweep's images, loaded once in the sweep's process and handed to every cell: the data set split into
train, validation and test (:func:`prepare_data`), the evaluation sets' whole images and pairs, and the
checks that need them loaded (:func:`check_fits`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bench.config import ConfigError, SweepConfig, data_channels
from bench.schema import COLOUR_MARK
from bench.variants import variants
from denoiser.data import ImageSet, augment, load_dataset, load_native, load_native_pairs, split, split_three, whole_kind
from denoiser.metrics import SSIM_RADIUS


@dataclass(frozen=True)
class SweepData:
    """The sweep's images, split by source: train on one part, choose the epoch on another, score on the third."""

    train: ImageSet
    validation: ImageSet
    test: ImageSet
    whole: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # evaluation sets: name → (1, 1, H, W) images
    pairs: dict[str, list[tuple[str, torch.Tensor, torch.Tensor]]] = field(default_factory=dict)  # name → (name, clean, noisy)


def prepare_data(config: SweepConfig) -> SweepData:
    """Load, augment and split the sweep's data set into train, validation and test, and load the
    evaluation data sets' whole images, or pairs where the data set holds its own noise (``whole="pairs"``)."""
    data = config.data
    images = load_dataset(data.dataset, **data.params)
    augmented = augment(images, data.augment_copies, seed=data.seed)
    # evaluation sets are read as the training data is: in colour for a colour sweep (a set's own `color` must agree)
    colour = {"color": True} if data_channels(config) == 3 else {}
    sets = config.evaluation.datasets
    whole = {
        evaluation_label(name, config): [image for _, image in load_native(spec.dataset, **(spec.params | colour))]
        for name, spec in sets.items()
        if whole_kind(spec.dataset) == "images"
    }
    pairs = {
        evaluation_label(name, config): load_native_pairs(spec.dataset, **(spec.params | colour))
        for name, spec in sets.items()
        if whole_kind(spec.dataset) == "pairs"
    }
    if data.validation_fraction == 0:  # only with train.select_on: test (the founding design): no validation split
        train, test = split(augmented, data.split, data.test_fraction, seed=data.seed)
        return SweepData(train, test, test, whole, pairs)
    return SweepData(
        *split_three(augmented, data.split, data.test_fraction, data.validation_fraction, seed=data.seed), whole, pairs
    )


def evaluation_label(name: str, config: SweepConfig) -> str:
    """How results name an evaluation set: its config name, marked in a colour sweep, as the data's label is."""
    return name + (COLOUR_MARK if data_channels(config) == 3 else "")


def check_fits(config: SweepConfig, data: SweepData) -> None:
    """Refuse, before any cell runs, a model whose fixed input size (the DAE's ``image_size``) or a
    training patch larger than the data set's images: otherwise every learned cell would fail alike."""
    height, width = data.train.images.shape[-2:]
    for variant in variants(config):
        size = variant.image_size
        if size is not None and (size > height or size > width):
            raise ConfigError(
                f"models.{variant.model}: its input is {size}×{size}, larger than the data set's "
                f"{height}×{width} images; give image_size ≤ {min(height, width)} or larger images"
            )
    if config.train.patch_size > min(height, width):
        raise ConfigError(f"train.patch_size: {config.train.patch_size} is larger than the data set's {height}×{width} images")
    _check_image_sizes(config, data)


SSIM_WINDOW = 2 * SSIM_RADIUS + 1  # 11: SSIM's Gaussian window, the smallest image it can score


def _check_image_sizes(config: SweepConfig, data: SweepData) -> None:
    """Every image scored holds SSIM's 11×11 window: refused now, before any cell trains, rather than
    failing each cell after its training."""
    scored: list[tuple[str, str, torch.Tensor]] = []
    if config.evaluation.test_split:
        scored.append(("data", f"the {config.data.label} test split", data.test.images[:1]))
    scored += [
        (f"evaluation.datasets.{name}", f"image {index + 1}", image)
        for name, images in data.whole.items()
        for index, image in enumerate(images)
    ]
    scored += [
        (f"evaluation.datasets.{name}", image_name, clean) for name, pairs in data.pairs.items() for image_name, clean, _ in pairs
    ]
    for key, what, image in scored:
        height, width = image.shape[-2:]
        if min(height, width) < SSIM_WINDOW:
            raise ConfigError(
                f"{key}: {what} is {height}×{width}, smaller than SSIM's {SSIM_WINDOW}×{SSIM_WINDOW} window; it cannot be scored"
            )
