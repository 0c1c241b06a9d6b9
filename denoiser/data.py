"""Data sets of 64×64 images in [0, 1], held in memory, each image tagged with its source image: grayscale
(one channel) by default, RGB (three channels) with ``color=True``.

Three registered data sets (SPEC §4):

- ``skimage-natural``: the photographs bundled inside scikit-image's wheel, cut into
  non-overlapping tiles (offline, the default);
- ``cifar10``: CIFAR-10's python batch format (a ``cifar-10-batches-py`` folder or one batch file);
- ``folder``: any folder of PNG/JPEG/TIFF/BMP images.

In colour, a grayscale file (L, I;16, I, F) is replicated to three equal channels, so one folder may
mix grayscale and colour files; in grayscale, a colour file becomes its luma (ITU-R 601).

Then :func:`augment` adds the design's seeded offline augmentation and :func:`split`
divides by source image (``by-source``) or, only when asked by name, over augmented
copies as the founding design did (``augmented-copies``, which leaks test content into training).
"""

from __future__ import annotations

import fnmatch
import logging
import math
import pickle
import reprlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from denoiser.errors import ConfigurationError, DataError
from denoiser.registry import Registry

logger = logging.getLogger(__name__)

IMAGE_SIZE = 64
SPLITS = ("by-source", "augmented-copies")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
PATCH_MODES = ("resize", "center-crop", "tiles", "native")
MAX_TILES = 64  # tiles × tiles patches of one picture: 4,096 patches, a 4096×4096 resize of it
CIFAR_IMAGES = 60_000  # the whole of CIFAR-10 (five training batches and the test batch)
SHIPPED_DATASETS = ("skimage-natural", "folder", "cifar10")  # the package's own; a plugin's types its own parameters

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


@dataclass(frozen=True)
class ImageSet:
    """Images (N, C, 64, 64) float32 in [0, 1] (C = 1, grayscale, or 3, RGB) and, per image, the index of its source image."""

    images: torch.Tensor  # (N, C, 64, 64)
    sources: torch.Tensor  # (N,) int64; images with one source come from one original picture
    source_names: tuple[str, ...]  # name of each source index, e.g. "camera/tile-3"

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, indices: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[indices], self.sources[indices], self.source_names)


DATASETS: Registry[ImageSet] = Registry("data set")


def register_dataset(name: str):  # noqa: ANN201 - a decorator
    """Decorator: register a data set, a factory returning an ImageSet from keyword parameters:
    ``@register_dataset("name")``."""
    return DATASETS.register(name)


def _transforms():  # noqa: ANN202 - a module
    """torchvision's functional transforms, imported on first use: importing torchvision takes about
    2 s, and the processes that only train and evaluate (pool workers, submitit tasks) never need it."""
    import torchvision.transforms.v2.functional as TF

    return TF


def load_dataset(name: str, **params: object) -> ImageSet:
    """Load the registered data set ``name`` with its parameters, e.g. ``load_dataset("folder", path="Set12")``."""
    return DATASETS.create(name, **params)


# ----------------------------------------------------------------------------- image helpers


def to_grayscale(image: torch.Tensor) -> torch.Tensor:
    """(…, C, H, W) float in [0, 1] → (…, 1, H, W), with ITU-R 601 luma weights for RGB (as torchvision)."""
    TF = _transforms()
    if image.shape[-3] == 1:
        return image
    return TF.rgb_to_grayscale(image[..., :3, :, :], num_output_channels=1)


def _square_center(image: torch.Tensor) -> torch.Tensor:
    height, width = image.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[..., top : top + side, left : left + side]


def image_to_patches(image: torch.Tensor, mode: str, tiles: int = 4) -> torch.Tensor:
    """(C, H, W) → (P, C, 64, 64) patches.

    ``resize``: the centred square, resized to 64×64 (one patch); ``center-crop``: the central
    64×64 pixels (one patch; smaller images are resized up first); ``tiles``: the centred square
    resized to (64·tiles)², cut into tiles × tiles non-overlapping patches.
    """
    TF = _transforms()
    if mode not in PATCH_MODES:
        raise ConfigurationError(f"unknown patch mode {mode!r}; valid: {', '.join(PATCH_MODES)}")
    square = _square_center(image)
    if mode == "center-crop":
        if square.shape[-1] < IMAGE_SIZE:
            square = TF.resize(square, [IMAGE_SIZE, IMAGE_SIZE], antialias=True)
        return TF.center_crop(square, [IMAGE_SIZE, IMAGE_SIZE]).unsqueeze(0).clamp(0, 1)
    if mode == "tiles":
        _check_tiles(tiles)
    side = IMAGE_SIZE * (tiles if mode == "tiles" else 1)
    resized = TF.resize(square, [side, side], antialias=True).clamp(0, 1)  # (C, side, side)
    # (C, side, side) → (C, tiles, tiles, 64, 64) → (tiles·tiles, C, 64, 64), row by row
    patches = resized.unfold(1, IMAGE_SIZE, IMAGE_SIZE).unfold(2, IMAGE_SIZE, IMAGE_SIZE).permute(1, 2, 0, 3, 4)
    return patches.reshape(-1, image.shape[-3], IMAGE_SIZE, IMAGE_SIZE).contiguous()


def read_image(path: Path, color: bool = False) -> torch.Tensor:
    """Read one image file as (1, H, W) float32 grayscale in [0, 1], or with ``color`` as (3, H, W) RGB;
    a bad file raises DataError naming it.

    Palette (P) and grayscale+alpha (LA) files go through PIL's RGB conversion, alpha dropped, as every
    8-bit mode does. A grayscale file read in colour is replicated to three equal channels (16-bit and
    float files scaled as in grayscale first); a colour file read in grayscale becomes its luma."""
    if path.exists() and not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        with warnings.catch_warnings():  # PIL only warns between one and two times its pixel limit
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened:
            opened.load()  # decodes now, so a truncated file fails here
            if opened.mode.startswith("I") or opened.mode == "F":
                sixteen_bits = opened.mode.startswith("I;16") or opened.format == "PNG"  # PNG's "I" is 16-bit
                gray = torch.from_numpy(_scaled(np.asarray(opened, dtype=np.float64), opened.mode, path, sixteen_bits))
                return gray.unsqueeze(0).expand(3 if color else 1, -1, -1).contiguous()  # (C, H, W)
            rgb = np.asarray(opened.convert("RGB"))  # P, LA, L, RGBA, CMYK, …: alpha dropped
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{path}: more than {Image.MAX_IMAGE_PIXELS:,} pixels; refused (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: cannot read image ({str(error)[:200]})") from None
    image = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0  # (3, H, W)
    # grayscale: 8-bit files through luma as they always were (an L file gives 0.9999·L/255), bit for bit
    return image.contiguous() if color else to_grayscale(image)


def _from_patches(named_patches: list[tuple[str, torch.Tensor]]) -> ImageSet:
    """Each patch becomes its own source image: patches never overlap, so they share no pixels."""
    images, names = [], []
    for name, patches in named_patches:
        images.append(patches)
        names += [name] if len(patches) == 1 else [f"{name}/tile-{index}" for index in range(len(patches))]
    stacked = torch.cat(images).float().contiguous()
    return ImageSet(stacked, torch.arange(len(stacked)), tuple(names))


def _scaled(array: np.ndarray, mode: str, path: Path, sixteen_bits: bool) -> np.ndarray:
    """A 16-bit, 32-bit integer or float image in [0, 1]: integers by the range of their values
    (8-bit, 16-bit), floats as they are when already in [0, 1]; anything else is refused, never guessed."""
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataError(f"{path}: {mode} image with non-finite values; refused")
    if mode == "F":
        if low < 0 or high > 1:
            raise DataError(
                f"{path}: float image with values in [{low:g}, {high:g}], not [0, 1]; refused (save it as 8 or 16 bits)"
            )
        return array.astype(np.float32)
    if low < 0 or high > 65535:
        raise DataError(f"{path}: integer image with values in [{low:g}, {high:g}], outside 16 bits; refused")
    scale = 255.0 if high <= 255 and not sixteen_bits else 65535.0
    logger.debug("%s: %s image read as %d-bit", path, mode, 8 if scale == 255 else 16)
    return (array / scale).astype(np.float32)


def _images_among(paths: list[Path], include: str | None) -> list[Path]:
    """The image files among ``paths``, in their order, those ``include`` matches (a file-name pattern, any case)
    where given; only regular files (a FIFO named x.png would block a read forever)."""
    files = [path for path in paths if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()]
    if include is None:
        return files
    return [file for file in files if fnmatch.fnmatchcase(file.name.lower(), include.lower())]


def _image_files(directory: Path, include: str | None = None) -> list[Path]:
    """The image files of a folder, by name (:func:`_images_among`); none is an error naming the folder."""
    files = _images_among(sorted(directory.iterdir()), include)
    if not files:
        matching = f" matching {include}" if include is not None else ""
        raise DataError(f"{directory}: no images ({', '.join(IMAGE_SUFFIXES)}){matching} in this folder")
    return files


def _check_tiles(tiles: int) -> None:
    if not isinstance(tiles, int) or isinstance(tiles, bool) or not 1 <= tiles <= MAX_TILES:
        raise ConfigurationError(f"tiles must be between 1 and {MAX_TILES}, got {tiles!r}")


def expected_pixels(name: str, **params: object) -> int | None:
    """The pixels a shipped data set holds in memory at its largest while it loads (float32 values),
    known before it loads, from its parameters and the files' headers; None for another data set.
    Lets a config refuse a data set that cannot fit (``tiles: 1000`` is 196 GB) before it allocates.
    In colour (``color: true``) each pixel holds three values."""
    tiles = params.get("tiles", 4)
    limit = params.get("limit")
    channels = 3 if params.get("color") is True else 1
    if name in ("skimage-natural", "folder") and not (isinstance(params.get("mode"), str) and params["mode"] != "tiles"):
        _check_tiles(tiles)  # type: ignore[arg-type]
    if name == "skimage-natural":
        return channels * len(SKIMAGE_PHOTOGRAPHS) * tiles**2 * IMAGE_SIZE**2  # type: ignore[operator]
    if name == "cifar10":
        count = limit if isinstance(limit, int) else CIFAR_IMAGES
        return 3 * min(count, CIFAR_IMAGES) * IMAGE_SIZE**2  # resized in colour (then grayscale, unless color)
    if name != "folder" or not isinstance(params.get("path"), str) or not Path(str(params["path"])).is_dir():
        return None
    include = params.get("include")
    try:
        files = _image_files(Path(str(params["path"])), include if isinstance(include, str) else None)
    except DataError:  # no images: loading says so, naming the folder
        return None
    files = files[:limit] if isinstance(limit, int) and limit > 0 else files
    mode = params.get("mode", "resize")
    if mode == "native":
        return channels * sum(_header_pixels(file) for file in files)
    return channels * len(files) * (tiles**2 if mode == "tiles" else 1) * IMAGE_SIZE**2  # type: ignore[operator]


def expected_pair_pixels(params: Mapping[str, object]) -> int:
    """The values a pairs set holds in memory (clean and noisy, float32 values), from the files' headers;
    0 where its files cannot be listed (loading says why)."""
    channels = 3 if params.get("color") is True else 1
    sides = {name: params.get(name) for name in ("clean", "noisy", "layout", "include")}
    try:
        clean, noisy, _, _ = _pair_files(Path(str(params.get("path"))), **sides)  # type: ignore[arg-type]
    except (ConfigurationError, DataError, OSError):
        return 0
    return channels * sum(_header_pixels(file) for file in [*clean.values(), *noisy.values()])


def _header_pixels(path: Path) -> int:
    """An image file's pixel count from its header alone (nothing decoded); 0 when unreadable (it fails at load)."""
    try:
        with Image.open(path) as opened:
            return opened.size[0] * opened.size[1]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 0


def _check_limit(limit: object) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigurationError(f"limit: must be a positive integer, got {reprlib.repr(limit)}")


# What a data set scored on whole images takes (evaluation.datasets); any other, limit and color.
WHOLE_PARAMETERS = {
    "folder": ["path", "limit", "color", "include"],
    "pairs": ["path", "limit", "color", "clean", "noisy", "layout", "include"],
}


def check_params(name: str, params: Mapping[str, object], *, whole: bool = False) -> None:
    """The parameters of data set ``name`` as a config gives them, checked before anything loads: each one
    the data set takes (``whole``: scored on whole images, which take ``path``, ``limit`` and ``color`` only),
    ``path`` a string naming what exists (a folder, for whole images; required by folder and pairs), ``limit``
    a positive integer, ``color`` true or false (the shipped data sets'). The ConfigurationError's message
    starts with the parameter's name (``path: …``)."""
    if whole:
        accepted = WHOLE_PARAMETERS.get(name, ["limit", "color"])
    else:
        accepted = sorted(DATASETS.get(name).parameters)
    for parameter in params:
        if parameter not in accepted:
            owner = "" if whole else f"{name} has "
            raise ConfigurationError(f"{parameter}: {owner}no such parameter; valid: {', '.join(accepted)}")
    path = params.get("path")
    if path is not None and not isinstance(path, str):
        raise ConfigurationError(f"path: expected a string, got {reprlib.repr(path)}")
    if path is None and name in ("folder", "pairs"):
        raise ConfigurationError(f"path: the {name} data set needs a path to a folder of images")
    if path is not None and whole and not Path(path).is_dir():
        raise ConfigurationError(f"path: {path} is not a folder")
    if path is not None and not whole and not params.get("download", False) and not Path(path).exists():
        raise ConfigurationError(f"path: {path} does not exist")  # a download creates it
    _check_limit(params.get("limit"))
    include = params.get("include")
    if include is not None and (not isinstance(include, str) or not include):
        raise ConfigurationError(f"include: a file-name pattern, e.g. 'Canon5D2_*', got {reprlib.repr(include)}")
    if name == "pairs":
        _pair_patterns(params.get("clean"), params.get("noisy"), params.get("layout"))  # type: ignore[arg-type]
    color = params.get("color")
    if (whole or name in SHIPPED_DATASETS) and color is not None and not isinstance(color, bool):
        raise ConfigurationError(f"color: expected true or false, got {reprlib.repr(color)}")


# ----------------------------------------------------------------------------- skimage-natural


@DATASETS.register("skimage-natural")
def skimage_natural(tiles: int = 4, limit: int | None = None, color: bool = False) -> ImageSet:
    """The 12 photographs bundled with scikit-image, grayscale or RGB (``color``), in tiles×tiles 64×64 tiles each (offline).

    In colour, its six grayscale photographs (brick, camera, coins, grass, gravel, moon) are replicated to three channels."""
    import skimage.data

    _check_tiles(tiles)
    _check_limit(limit)
    directory = Path(skimage.data.__file__).parent  # the files inside the wheel: no download
    named = [
        (Path(name).stem, image_to_patches(read_image(directory / name, color), "tiles", tiles)) for name in SKIMAGE_PHOTOGRAPHS
    ]
    data = _from_patches(named)
    return data if limit is None else data.subset(torch.arange(min(limit, len(data))))


# ----------------------------------------------------------------------------- folder


@DATASETS.register("folder")
def folder(
    path: str, mode: str = "resize", tiles: int = 4, limit: int | None = None, color: bool = False, include: str | None = None
) -> ImageSet:
    """Every PNG/JPEG/TIFF/BMP image in a folder, grayscale (or RGB: ``color``, grayscale files replicated), as 64×64
    patches (mode: resize, center-crop, tiles), or whole (native: for training on random patches; centre-cropped
    to the smallest size among them); ``include``, a file-name pattern, keeps the files it matches (any case)."""
    directory = Path(path)
    _check_limit(limit)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder")
    files = _image_files(directory, include)
    files = files[:limit] if limit is not None else files
    if mode == "native":
        images = [read_image(file, color) for file in files]  # each (C, H, W)
        height, width = min(image.shape[-2] for image in images), min(image.shape[-1] for image in images)
        if {tuple(image.shape[-2:]) for image in images} != {(height, width)}:
            logger.info("%s: images of several sizes, centre-cropped to %d×%d", directory, height, width)
        crops = [
            image[:, (image.shape[-2] - height) // 2 :][:, :height, (image.shape[-1] - width) // 2 :][:, :, :width]
            for image in images
        ]
        return _from_patches([(file.name, crop.unsqueeze(0)) for file, crop in zip(files, crops)])
    return _from_patches([(file.name, image_to_patches(read_image(file, color), mode, tiles)) for file in files])


# ----------------------------------------------------------------------------- whole images (native resolution)

NATIVE_DATASETS = ("folder", "skimage-natural", "pairs")


# Named layouts of real-noise pair sets, as they ship: each side's file-name pattern (one ``*``, the part
# that pairs them; matched case-insensitively, in the folder and every folder below it).
PAIR_LAYOUTS: dict[str, tuple[str, str]] = {
    # PolyU real-world noisy images: NAME_mean.JPG (the mean of hundreds of shots), NAME_real.JPG (one shot)
    "polyu": ("*_mean.jpg", "*_real.jpg"),
    # SIDD medium and small sRGB: Data/<scene>/GT_SRGB_010.PNG with NOISY_SRGB_010.PNG
    "sidd": ("GT_SRGB_*", "NOISY_SRGB_*"),
}


def load_pairs(
    path: str,
    limit: int | None = None,
    color: bool = False,
    clean: str | None = None,
    noisy: str | None = None,
    layout: str | None = None,
    include: str | None = None,
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Clean and noisy images of the same scenes, the noise already in them (real camera noise, or a user's
    own corrupted set): ``[(name, clean, noisy), …]``, each (1, C, H, W) (C = 3 with ``color``).

    Either one folder of ``NAME_clean.EXT`` and ``NAME_noisy.EXT`` files, or a folder with two parallel
    folders ``clean/`` and ``noisy/`` of the same file names; or, as a set ships, each side's file-name
    pattern (``clean: '*_mean.JPG'``, ``noisy: '*_real.JPG'``; one ``*``, the part that pairs them; a pattern
    without one is a prefix, ``GT_SRGB_``), matched case-insensitively in the folder and the folders below,
    or a named ``layout`` that gives them (:data:`PAIR_LAYOUTS`: ``polyu``, ``sidd``). ``include`` (a file-name
    pattern) keeps only the files it matches, e.g. one camera's. Every other image file must pair."""
    _check_limit(limit)
    directory = Path(path)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder")
    clean_files, noisy_files, stray, patterns = _pair_files(directory, clean, noisy, layout, include)
    names = sorted(clean_files)
    if not names:
        wanted = (
            f"{patterns[0]} with {patterns[1]}"
            if patterns
            else "NAME_clean.EXT with NAME_noisy.EXT, or clean/ and noisy/ folders"
        )
        raise DataError(f"{directory}: no pairs ({wanted})")
    _refuse_unpaired(directory, clean_files, noisy_files, stray, patterns)
    pairs = []
    for name in names[:limit] if limit is not None else names:
        clean_image, noisy_image = read_image(clean_files[name], color), read_image(noisy_files[name], color)
        if clean_image.shape != noisy_image.shape:
            raise DataError(
                f"{noisy_files[name]}: {tuple(noisy_image.shape[1:])} pixels, its clean image {tuple(clean_image.shape[1:])}"
            )
        pairs.append((name, clean_image.unsqueeze(0), noisy_image.unsqueeze(0)))
    return pairs


def _pair_files(
    directory: Path, clean: str | None, noisy: str | None, layout: str | None, include: str | None
) -> tuple[dict[str, Path], dict[str, Path], list[str], tuple[str, str] | None]:
    """A pairs folder's files, as loading and the memory bound before it both list them: each side's files by
    their pairing key, the image files that match neither side, and the patterns (None: the default naming,
    ``clean/`` and ``noisy/`` folders of the same file names, or ``NAME_clean``/``NAME_noisy`` files)."""
    patterns = _pair_patterns(clean, noisy, layout)
    if patterns is None and include is None and (directory / "clean").is_dir() and (directory / "noisy").is_dir():
        clean_files = {file.name: file for file in _image_files(directory / "clean")}
        return clean_files, {file.name: file for file in _image_files(directory / "noisy")}, [], None
    return (*_match_pairs(directory, patterns, include), patterns)


def _pair_patterns(clean: str | None, noisy: str | None, layout: str | None) -> tuple[str, str] | None:
    """The (clean, noisy) file-name patterns a pairs set was given, lower-cased; None for the default naming."""
    if layout is not None:
        if layout not in PAIR_LAYOUTS:
            raise ConfigurationError(f"layout: unknown pair layout {reprlib.repr(layout)}; valid: {', '.join(PAIR_LAYOUTS)}")
        if clean is not None or noisy is not None:
            raise ConfigurationError("layout: a named layout gives both patterns; give either layout or clean and noisy")
        clean, noisy = PAIR_LAYOUTS[layout]
    if clean is None and noisy is None:
        return None
    if clean is None or noisy is None:
        raise ConfigurationError(f"{'clean' if clean is None else 'noisy'}: give the file-name pattern of both sides")
    for side, pattern in (("clean", clean), ("noisy", noisy)):
        if not isinstance(pattern, str) or not pattern or pattern.count("*") > 1 or "/" in pattern:
            raise ConfigurationError(f"{side}: a file-name pattern with at most one * (a prefix without one), got {pattern!r}")
    return tuple(pattern.lower() if "*" in pattern else pattern.lower() + "*" for pattern in (clean, noisy))  # type: ignore[return-value]


def _key(name: str, pattern: str) -> str | None:
    """What the ``*`` of ``pattern`` matches in ``name`` (both lower-case), or None where it does not match."""
    head, tail = pattern.split("*")
    if len(name) < len(head) + len(tail) or not name.startswith(head) or not name.endswith(tail):
        return None
    return name[len(head) : len(name) - len(tail)]


def _match_pairs(
    directory: Path, patterns: tuple[str, str] | None, include: str | None
) -> tuple[dict[str, Path], dict[str, Path], list[str]]:
    """Each side's files by their pairing key (the folder below ``directory`` and the ``*`` part), and the
    image files that match neither side. The default naming (``NAME_clean.EXT``, on the file's stem) looks in
    the folder itself; given patterns look in the folders below too (SIDD keeps each scene in its own)."""
    recursive = patterns is not None
    patterns = patterns or ("*_clean", "*_noisy")
    files = _images_among(sorted(directory.rglob("*") if recursive else directory.iterdir()), include)
    sides: tuple[dict[str, Path], dict[str, Path]] = ({}, {})
    stray = []
    for file in files:
        folder = file.parent.relative_to(directory).as_posix()
        name = file.name.lower() if recursive else file.stem.lower()
        keys = [_key(name, pattern) for pattern in patterns]
        if keys[0] is None and keys[1] is None:
            stray.append(str(file.relative_to(directory)))
        for side, key in zip(sides, keys):
            if key is not None:
                side[f"{folder}/{key}" if folder != "." else key] = file
    return sides[0], sides[1], stray


def _refuse_unpaired(
    directory: Path, clean: dict[str, Path], noisy: dict[str, Path], stray: list[str], patterns: tuple[str, str] | None
) -> None:
    """Every file is part of a pair: one left over is a mistake (a typo, a missing partner), never silently dropped."""
    alone = [file.name for name, file in clean.items() if name not in noisy]
    alone += [file.name for name, file in noisy.items() if name not in clean]
    if not alone and not stray:
        return
    named = f"{patterns[0]} nor {patterns[1]}" if patterns else "NAME_clean nor NAME_noisy"
    what = f"{len(alone)} image(s) without a partner" if alone else f"{len(stray)} file(s) named neither {named}"
    raise DataError(f"{directory}: {what}, e.g. {sorted(alone or stray)[0]}; every image must be one of a clean/noisy pair")


def load_native(
    name: str, path: str | None = None, limit: int | None = None, color: bool = False, include: str | None = None
) -> list[tuple[str, torch.Tensor]]:
    """Whole images at their own sizes, for scoring as the literature does: ``[(file name, (1, C, H, W)
    in [0, 1]), …]``, grayscale (C = 1) or RGB (``color``, C = 3). ``folder``: every image file in ``path``;
    ``skimage-natural``: the 12 photographs bundled with scikit-image."""
    _check_limit(limit)
    if name == "folder":
        if path is None:
            raise ConfigurationError("the folder data set needs a path to a folder of images")
        directory = Path(path)
        if not directory.is_dir():
            raise DataError(f"{directory}: no such folder")
        files = _image_files(directory, include)
    elif name == "skimage-natural":
        import skimage.data

        files = [Path(skimage.data.__file__).parent / photograph for photograph in SKIMAGE_PHOTOGRAPHS]
    elif name == "pairs":
        raise ConfigurationError("the pairs data set holds its own noise: load it with load_pairs")
    else:
        raise ConfigurationError(f"data set {name!r} has no whole images; valid: {', '.join(NATIVE_DATASETS)}")
    files = files[:limit] if limit is not None else files
    return [(file.name, read_image(file, color).unsqueeze(0)) for file in files]


# ----------------------------------------------------------------------------- cifar10

CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches only: plain containers and NumPy arrays, nothing that runs code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles store byte strings
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch → (pixels (N, 3, 32, 32) uint8, labels (N,) int64); DataError names a bad file."""
    try:
        with open(path, "rb") as file:
            batch = _CifarUnpickler(file, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CIFAR-10 batch file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError) as error:
        truncated = isinstance(error, EOFError) or "truncated" in str(error)
        reason = "file is truncated" if truncated else f"not a CIFAR-10 batch ({error})"
        raise DataError(f"{path}: {reason}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as error:  # labels [None], ragged data, …
        raise DataError(f"{path}: not a CIFAR-10 batch ({str(error)[:120]})") from None
    if labels.ndim != 1 or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path}: not a CIFAR-10 batch (data of shape {data.shape}, {len(labels)} labels)")
    return data.reshape(-1, 3, 32, 32), labels


def cifar_files(path: Path) -> list[Path]:
    """The batch files at ``path``: the file itself, or the batches inside a ``cifar-10-batches-py`` folder."""
    if path.is_file():
        return [path]
    if path.is_dir():
        inner = path / "cifar-10-batches-py"
        directory = inner if inner.is_dir() else path
        files = [directory / name for name in CIFAR_BATCHES if (directory / name).is_file()]
        if not files:
            raise DataError(f"{path}: no CIFAR-10 batch files ({', '.join(CIFAR_BATCHES)}) in this folder")
        return files
    raise DataError(f"{path}: no such file or folder")


def read_cifar(path: Path, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The first ``limit`` CIFAR-10 images at ``path``: (uint8 (N, 3, 32, 32), labels (N,), source names)."""
    pixels, labels, names = [], [], []
    count = 0
    for file in cifar_files(path):
        data, batch_labels = read_cifar_batch(file)
        if limit is not None:
            data, batch_labels = data[: limit - count], batch_labels[: limit - count]
        pixels.append(torch.from_numpy(data.copy()))
        labels.append(torch.from_numpy(batch_labels))
        names += [f"{file.name}/{index}" for index in range(len(data))]
        count += len(data)
        if limit is not None and count >= limit:
            break
    return torch.cat(pixels), torch.cat(labels), names


@DATASETS.register("cifar10")
def cifar10(
    path: str = "data/cifar-10-batches-py", limit: int | None = None, download: bool = False, color: bool = False
) -> ImageSet:
    """CIFAR-10 images (python batch format), resized 32→64 (bilinear, antialiased), then grayscale (kept RGB: ``color``)."""
    TF = _transforms()
    _check_limit(limit)
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


# ----------------------------------------------------------------------------- augmentation and splits


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def augment_image(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The design's augmentation of one (C, 64, 64) image (C = 1 or 3), drawing from ``generator``.

    Random horizontal flip, random vertical flip, RandomResizedCrop(64, scale=(0.9, 1.0)),
    ColorJitter(brightness=0.1, contrast=0.1), with torchvision's parameter rules: the contrast pivots
    on the image's mean (of its luma, for RGB, as torchvision's), the same factors for every channel.
    """
    TF = _transforms()
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
