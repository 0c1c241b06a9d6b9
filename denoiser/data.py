"""Data sets of 64×64 images in [0, 1], held in memory, each image tagged with its source image: grayscale
(one channel) by default, RGB (three channels) with ``color=True``; their registry, and what each declares.

Four registered data sets (SPEC §4):

- ``skimage-natural``: the photographs bundled inside scikit-image's wheel, cut into
  non-overlapping tiles (offline, the default);
- ``cifar10``: CIFAR-10's python batch format (a ``cifar-10-batches-py`` folder or one batch file);
- ``folder``: any folder of PNG/JPEG/TIFF/BMP images;
- ``pairs``: clean and noisy images of the same scenes (real noise), scored on whole images only.

A data set declares, where it registers (:func:`register_dataset`), whether it is scored on whole images
(``whole``: ``"images"``, or ``"pairs"`` that hold their own noise) and with which loader, how many values it
holds in memory (``pixels``), its own parameter check (``check``) and whether it can be trained on
(``train``): the config's checks and the sweep read these, never the name, so that a plugin's data set is
treated as a built-in one. Importing this module registers the built-ins; the pieces live in
:mod:`denoiser.images`, :mod:`denoiser.pairs`, :mod:`denoiser.cifar`, :mod:`denoiser.augmentation` and
:mod:`denoiser.splits`, and are importable from here as before.
"""

from __future__ import annotations

import inspect
import logging
import reprlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from denoiser.augmentation import augment, augment_image
from denoiser.cifar import CIFAR_BATCHES, CIFAR_IMAGES, cifar_files, read_cifar, read_cifar_batch
from denoiser.errors import ConfigurationError, DataError
from denoiser.images import (
    IMAGE_SIZE,
    IMAGE_SUFFIXES,
    MAX_TILES,
    PATCH_MODES,
    ImageSet,
    check_limit,
    check_tiles,
    from_patches,
    header_pixels,
    image_files,
    image_to_patches,
    read_image,
    to_grayscale,
    transforms,
)
from denoiser.pairs import PAIR_LAYOUTS, check_pair_params, expected_pair_pixels, load_pairs
from denoiser.registry import Registry, keyword_parameters
from denoiser.splits import SPLITS, split, split_three

__all__ = [
    "CIFAR_BATCHES", "CIFAR_IMAGES", "DATASETS", "IMAGE_SIZE", "IMAGE_SUFFIXES", "MAX_TILES", "PAIR_LAYOUTS",
    "PATCH_MODES", "SKIMAGE_PHOTOGRAPHS", "SPLITS", "WHOLE_KINDS", "ImageSet", "augment", "augment_image",
    "check_params", "cifar_files", "expected_pair_pixels", "expected_pixels", "expected_whole_pixels", "image_to_patches",
    "load_dataset", "load_native", "load_native_pairs", "load_pairs", "read_cifar", "read_cifar_batch", "read_image",
    "register_dataset", "split", "split_three", "to_grayscale", "training_datasets", "whole_datasets", "whole_kind",
]  # fmt: skip

logger = logging.getLogger(__name__)

WHOLE_KINDS = ("images", "pairs")  # what a data set scored on whole images gives: clean images, or clean and noisy pairs

# Photographs that ship inside scikit-image's wheel (no download needed).
SKIMAGE_PHOTOGRAPHS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "moon.png",
    "motorcycle_left.png",
    "rocket.jpg",
)

DATASETS: Registry[ImageSet] = Registry("data set")

PixelCounter = Callable[[Mapping[str, object], bool], "int | None"]


def register_dataset(
    name: str,
    *,
    whole: str | None = None,
    load_whole: Callable[..., list[Any]] | None = None,
    pixels: PixelCounter | None = None,
    check: Callable[[Mapping[str, object]], None] | None = None,
    train: bool = True,
    named_by_path: bool = False,
) -> Callable[[Callable[..., ImageSet]], Callable[..., ImageSet]]:
    """Decorator: register a data set, a factory returning an ImageSet from keyword parameters:
    ``@register_dataset("name")``, with what it declares about itself:

    - ``whole``: scored on whole images at their own sizes in ``evaluation.datasets``: ``"images"`` (clean
      images; the sweep draws the noise) or ``"pairs"`` (clean and noisy, the noise already in them); None: not;
    - ``load_whole``: with ``whole``, the loader: keyword parameters (``color`` among them; they are what
      ``evaluation.datasets.<name>.params`` takes) → ``[(name, (1, C, H, W)), …]``, or for pairs
      ``[(name, clean, noisy), …]``;
    - ``pixels(params, whole)``: the float32 values it holds in memory at its largest while it loads, known
      before it loads (None: not known), so that a config is refused before it cannot fit;
    - ``check(params)``: its own parameter check, raising ConfigurationError whose message starts with the
      parameter's name;
    - ``train``: false for a set that is only scored (pairs), never trained on;
    - ``named_by_path``: results name it after the last part of its ``path`` (a folder of images), not its name."""
    if whole not in (None, *WHOLE_KINDS):
        raise ConfigurationError(f"data set {name!r}: whole must be images, pairs or None, got {reprlib.repr(whole)}")
    if (whole is None) != (load_whole is None):
        raise ConfigurationError(f"data set {name!r}: whole and load_whole go together (what it gives, and its loader)")
    for key, function in (("load_whole", load_whole), ("pixels", pixels), ("check", check)):
        if function is not None and not callable(function):
            raise ConfigurationError(f"data set {name!r}: {key} must be a function, got {reprlib.repr(function)}")
    if load_whole is not None and "color" not in keyword_parameters(load_whole):
        raise ConfigurationError(f"data set {name!r}: load_whole must take color (a colour sweep reads its sets in colour)")
    declared = {"whole": whole, "load_whole": load_whole, "pixels": pixels, "check": check, "train": train}
    return DATASETS.register(name, **declared, named_by_path=named_by_path)


def load_dataset(name: str, **params: object) -> ImageSet:
    """Load the registered data set ``name`` with its parameters, e.g. ``load_dataset("folder", path="Set12")``."""
    return DATASETS.create(name, **params)


def training_datasets() -> list[str]:
    """The registered data sets a model can be trained on."""
    return [entry.name for entry in DATASETS if entry.metadata.get("train", True)]


def whole_datasets() -> list[str]:
    """The registered data sets scored on whole images (``evaluation.datasets``)."""
    return [entry.name for entry in DATASETS if entry.metadata.get("whole") is not None]


def whole_kind(name: str) -> str | None:
    """What data set ``name`` gives on whole images: ``"images"``, ``"pairs"``, or None (none, or not registered)."""
    return DATASETS.get(name).metadata.get("whole") if name in DATASETS else None


def _whole_loader(name: str, kind: str | None = None) -> Callable[..., list[Any]]:
    """The whole-image loader data set ``name`` declares (of ``kind``, where given); refused where it has none."""
    declared = whole_kind(name)
    if declared is None:
        raise ConfigurationError(f"data set {name!r} has no whole images; valid: {', '.join(whole_datasets())}")
    if kind is not None and declared != kind:
        other = "load_native_pairs" if declared == "pairs" else "load_native"
        raise ConfigurationError(f"data set {name!r} gives whole {declared}, not {kind}: load it with {other}")
    return DATASETS.get(name).metadata["load_whole"]


def load_native(name: str, **params: object) -> list[tuple[str, torch.Tensor]]:
    """Whole images at their own sizes, for scoring as the literature does: ``[(file name, (1, C, H, W) in
    [0, 1]), …]``, grayscale (C = 1) or RGB (``color``, C = 3), by the loader the data set declares
    (``folder``: every image file in ``path``; ``skimage-natural``: the 12 photographs bundled with scikit-image)."""
    return _whole_loader(name, "images")(**params)


def load_native_pairs(name: str, **params: object) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Clean and noisy whole images of a data set that holds its own noise (``pairs``): ``[(name, clean, noisy), …]``."""
    return _whole_loader(name, "pairs")(**params)


def expected_pixels(name: str, **params: object) -> int | None:
    """The values data set ``name`` holds in memory at its largest while it loads (float32), known before it
    loads, from its parameters and the files' headers (its ``pixels``); None where it does not declare them.
    Lets a config refuse a data set that cannot fit (``tiles: 1000`` is 196 GB) before it allocates."""
    counter = DATASETS.get(name).metadata.get("pixels")
    return counter(params, False) if counter is not None else None


def expected_whole_pixels(name: str, params: Mapping[str, object]) -> int | None:
    """The values data set ``name`` holds in memory as whole images (clean and noisy, for pairs), as
    :func:`expected_pixels`; None where it does not declare them."""
    counter = DATASETS.get(name).metadata.get("pixels")
    return counter(params, True) if counter is not None else None


def check_params(name: str, params: Mapping[str, object], *, whole: bool = False) -> None:
    """The parameters of data set ``name`` as a config gives them, checked before anything loads: each one
    the data set takes (``whole``: those its whole-image loader takes), every required one given (``path``:
    a string naming what exists, a folder for whole images), ``limit`` a positive integer, ``color`` true or
    false (the shipped data sets'), then the data set's own ``check``. The ConfigurationError's message
    starts with the parameter's name (``path: …``)."""
    entry = DATASETS.get(name)
    taken = keyword_parameters(_whole_loader(name) if whole else entry.factory)
    accepted = list(taken) if whole else sorted(taken)
    for parameter in params:
        if parameter not in accepted:
            owner = "" if whole else f"{name} has "
            raise ConfigurationError(f"{parameter}: {owner}no such parameter; valid: {', '.join(accepted)}")
    path = params.get("path")
    if path is not None and not isinstance(path, str):
        raise ConfigurationError(f"path: expected a string, got {reprlib.repr(path)}")
    for parameter in (parameter for parameter, default in taken.items() if default is inspect.Parameter.empty):
        if parameter not in params:
            needed = "a path to a folder of images" if parameter == "path" else "it"
            raise ConfigurationError(f"{parameter}: the {name} data set needs {needed}")
    if path is not None and whole and not Path(path).is_dir():
        raise ConfigurationError(f"path: {path} is not a folder")
    if path is not None and not whole and not params.get("download", False) and not Path(path).exists():
        raise ConfigurationError(f"path: {path} does not exist")  # a download creates it
    check_limit(params.get("limit"))
    include = params.get("include")
    if include is not None and (not isinstance(include, str) or not include):
        raise ConfigurationError(f"include: a file-name pattern, e.g. 'Canon5D2_*', got {reprlib.repr(include)}")
    color = params.get("color")
    if "color" in taken and color is not None and not isinstance(color, bool):
        raise ConfigurationError(f"color: expected true or false, got {reprlib.repr(color)}")
    if entry.metadata.get("check") is not None:
        entry.metadata["check"](params)


def _channels(params: Mapping[str, object]) -> int:
    return 3 if params.get("color") is True else 1


def _limited(files: list[Path], limit: object) -> list[Path]:
    return files[:limit] if isinstance(limit, int) and limit > 0 else files


# ----------------------------------------------------------------------------- skimage-natural


def _skimage_files() -> list[Path]:
    import skimage.data

    directory = Path(skimage.data.__file__).parent  # the files inside the wheel: no download
    return [directory / photograph for photograph in SKIMAGE_PHOTOGRAPHS]


def skimage_images(limit: int | None = None, color: bool = False) -> list[tuple[str, torch.Tensor]]:
    """The 12 photographs bundled with scikit-image, whole: ``[(file name, (1, C, H, W)), …]``."""
    check_limit(limit)
    return [(file.name, read_image(file, color).unsqueeze(0)) for file in _limited(_skimage_files(), limit)]


def _skimage_pixels(params: Mapping[str, object], whole: bool) -> int:
    if whole:
        return _channels(params) * sum(header_pixels(file) for file in _limited(_skimage_files(), params.get("limit")))
    tiles = params.get("tiles", 4)
    check_tiles(tiles)  # type: ignore[arg-type]
    return _channels(params) * len(SKIMAGE_PHOTOGRAPHS) * tiles**2 * IMAGE_SIZE**2  # type: ignore[operator]


@register_dataset("skimage-natural", whole="images", load_whole=skimage_images, pixels=_skimage_pixels)
def skimage_natural(tiles: int = 4, limit: int | None = None, color: bool = False) -> ImageSet:
    """The 12 photographs bundled with scikit-image, grayscale or RGB (``color``), in tiles×tiles 64×64 tiles each (offline).

    In colour, its six grayscale photographs (brick, camera, coins, grass, gravel, moon) are replicated to three channels."""
    check_tiles(tiles)
    check_limit(limit)
    named = [(file.stem, image_to_patches(read_image(file, color), "tiles", tiles)) for file in _skimage_files()]
    data = from_patches(named)
    return data if limit is None else data.subset(torch.arange(min(limit, len(data))))


# ----------------------------------------------------------------------------- folder


def folder_images(
    path: str, limit: int | None = None, color: bool = False, include: str | None = None
) -> list[tuple[str, torch.Tensor]]:
    """Every image file in the folder ``path`` (those ``include`` matches), whole: ``[(file name, (1, C, H, W)), …]``."""
    return [(file.name, read_image(file, color).unsqueeze(0)) for file in _folder_files(path, limit, include)]


def _folder_files(path: str, limit: int | None, include: str | None) -> list[Path]:
    """The image files of the folder ``path`` that ``include`` matches, the first ``limit`` of them."""
    check_limit(limit)
    directory = Path(path)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder")
    return _limited(image_files(directory, include), limit)


def _folder_pixels(params: Mapping[str, object], whole: bool) -> int | None:
    """From the files' headers for whole images (``native``), else from the patches' count."""
    tiles, mode = params.get("tiles", 4), "native" if whole else params.get("mode", "resize")
    if not (isinstance(params.get("mode"), str) and params["mode"] != "tiles") and not whole:
        check_tiles(tiles)  # type: ignore[arg-type]
    path, include = params.get("path"), params.get("include")
    if not isinstance(path, str) or not Path(path).is_dir():
        return None
    try:
        files = _limited(image_files(Path(path), include if isinstance(include, str) else None), params.get("limit"))
    except DataError:  # no images: loading says so, naming the folder
        return None
    if mode == "native":
        return _channels(params) * sum(header_pixels(file) for file in files)
    return _channels(params) * len(files) * (tiles**2 if mode == "tiles" else 1) * IMAGE_SIZE**2  # type: ignore[operator]


@register_dataset("folder", whole="images", load_whole=folder_images, pixels=_folder_pixels, named_by_path=True)
def folder(
    path: str, mode: str = "resize", tiles: int = 4, limit: int | None = None, color: bool = False, include: str | None = None
) -> ImageSet:
    """Every PNG/JPEG/TIFF/BMP image in a folder, grayscale (or RGB: ``color``, grayscale files replicated), as 64×64
    patches (mode: resize, center-crop, tiles), or whole (native: for training on random patches; centre-cropped
    to the smallest size among them); ``include``, a file-name pattern, keeps the files it matches (any case)."""
    files = _folder_files(path, limit, include)
    if mode == "native":
        images = [read_image(file, color) for file in files]  # each (C, H, W)
        height, width = min(image.shape[-2] for image in images), min(image.shape[-1] for image in images)
        if {tuple(image.shape[-2:]) for image in images} != {(height, width)}:
            logger.info("%s: images of several sizes, centre-cropped to %d×%d", path, height, width)
        crops = [
            image[:, (image.shape[-2] - height) // 2 :][:, :height, (image.shape[-1] - width) // 2 :][:, :, :width]
            for image in images
        ]
        return from_patches([(file.name, crop.unsqueeze(0)) for file, crop in zip(files, crops)])
    return from_patches([(file.name, image_to_patches(read_image(file, color), mode, tiles)) for file in files])


# ----------------------------------------------------------------------------- cifar10


def _cifar_pixels(params: Mapping[str, object], whole: bool) -> int | None:
    """Resized in colour (then grayscale, unless color): three values a pixel either way."""
    limit = params.get("limit")
    count = limit if isinstance(limit, int) else CIFAR_IMAGES
    return None if whole else 3 * min(count, CIFAR_IMAGES) * IMAGE_SIZE**2


@register_dataset("cifar10", pixels=_cifar_pixels)
def cifar10(
    path: str = "data/cifar-10-batches-py", limit: int | None = None, download: bool = False, color: bool = False
) -> ImageSet:
    """CIFAR-10 images (python batch format), resized 32→64 (bilinear, antialiased), then grayscale (kept RGB: ``color``)."""
    TF = transforms()
    check_limit(limit)
    location = Path(path)
    if download and not location.exists():
        import torchvision

        logger.info("downloading CIFAR-10 into %s", location.parent)
        try:
            torchvision.datasets.CIFAR10(root=str(location.parent), download=True)
        except (OSError, RuntimeError) as error:  # no network, a refused or broken download
            raise DataError(
                f"{location}: download failed ({str(error).splitlines()[0][:160] if str(error) else type(error).__name__})"
            ) from None
        location = location.parent / "cifar-10-batches-py"
    pixels, _, names = read_cifar(location, limit)
    rgb = pixels.float() / 255.0  # (N, 3, 32, 32)
    resized = TF.resize(rgb, [IMAGE_SIZE, IMAGE_SIZE], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    images = resized.clamp(0, 1) if color else to_grayscale(resized.clamp(0, 1))  # (N, C, 64, 64)
    return ImageSet(images.contiguous(), torch.arange(len(images)), tuple(names))


# ----------------------------------------------------------------------------- pairs (real noise)


def _pairs_pixels(params: Mapping[str, object], whole: bool) -> int | None:
    return expected_pair_pixels(params) if whole else None


@register_dataset("pairs", whole="pairs", load_whole=load_pairs, pixels=_pairs_pixels, check=check_pair_params, train=False)
def pairs(**params: object) -> ImageSet:
    """Clean and noisy images of the same scenes, the noise already in them: scored on whole images only, its
    parameters those of :func:`~denoiser.pairs.load_pairs`."""
    raise ConfigurationError("the pairs data set holds its own noise: score it in evaluation.datasets, not as data")
