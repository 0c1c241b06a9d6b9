"""Images in [0, 1] as tensors: reading a file (grayscale or colour), cutting 64×64 patches, listing a
folder's image files, and the set of images with their sources (:class:`ImageSet`) that data sets return.

In colour, a grayscale file (L, I;16, I, F) is replicated to three equal channels, so one folder may
mix grayscale and colour files; in grayscale, a colour file becomes its luma (ITU-R 601).
"""

from __future__ import annotations

import fnmatch
import logging
import reprlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from denoiser.errors import ConfigurationError, DataError

logger = logging.getLogger(__name__)

IMAGE_SIZE = 64
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
PATCH_MODES = ("resize", "center-crop", "tiles", "native")
MAX_TILES = 64  # tiles × tiles patches of one picture: 4,096 patches, a 4096×4096 resize of it


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


def transforms():  # noqa: ANN202 - a module
    """torchvision's functional transforms, imported on first use: importing torchvision takes about
    2 s, and the processes that only train and evaluate (pool workers, submitit tasks) never need it."""
    import torchvision.transforms.v2.functional as TF

    return TF


def to_grayscale(image: torch.Tensor) -> torch.Tensor:
    """(…, C, H, W) float in [0, 1] → (…, 1, H, W), with ITU-R 601 luma weights for RGB (as torchvision)."""
    TF = transforms()
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
    TF = transforms()
    if mode not in PATCH_MODES:
        raise ConfigurationError(f"unknown patch mode {mode!r}; valid: {', '.join(PATCH_MODES)}")
    square = _square_center(image)
    if mode == "center-crop":
        if square.shape[-1] < IMAGE_SIZE:
            square = TF.resize(square, [IMAGE_SIZE, IMAGE_SIZE], antialias=True)
        return TF.center_crop(square, [IMAGE_SIZE, IMAGE_SIZE]).unsqueeze(0).clamp(0, 1)
    if mode == "tiles":
        check_tiles(tiles)
    side = IMAGE_SIZE * (tiles if mode == "tiles" else 1)
    resized = TF.resize(square, [side, side], antialias=True).clamp(0, 1)  # (C, side, side)
    # (C, side, side) → (C, tiles, tiles, 64, 64) → (tiles·tiles, C, 64, 64), row by row
    patches = resized.unfold(1, IMAGE_SIZE, IMAGE_SIZE).unfold(2, IMAGE_SIZE, IMAGE_SIZE).permute(1, 2, 0, 3, 4)
    return patches.reshape(-1, image.shape[-3], IMAGE_SIZE, IMAGE_SIZE).contiguous()


def read_image(path: Path, colour: bool = False) -> torch.Tensor:
    """Read one image file as (1, H, W) float32 grayscale in [0, 1], or with ``colour`` as (3, H, W) RGB;
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
                return gray.unsqueeze(0).expand(3 if colour else 1, -1, -1).contiguous()  # (C, H, W)
            rgb = np.asarray(opened.convert("RGB"))  # P, LA, L, RGBA, CMYK, …: alpha dropped
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{path}: more than {Image.MAX_IMAGE_PIXELS:,} pixels; refused (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: cannot read image ({str(error)[:200]})") from None
    image = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0  # (3, H, W)
    # grayscale: 8-bit files through luma as they always were (an L file gives 0.9999·L/255), bit for bit
    return image.contiguous() if colour else to_grayscale(image)


def from_patches(named_patches: list[tuple[str, torch.Tensor]]) -> ImageSet:
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


def images_among(paths: list[Path], include: str | None) -> list[Path]:
    """The image files among ``paths``, in their order, those ``include`` matches (a file-name pattern, any case)
    where given; only regular files (a FIFO named x.png would block a read forever)."""
    files = [path for path in paths if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()]
    if include is None:
        return files
    return [file for file in files if fnmatch.fnmatchcase(file.name.lower(), include.lower())]


def image_files(directory: Path, include: str | None = None) -> list[Path]:
    """The image files of a folder, by name (:func:`images_among`); none is an error naming the folder."""
    files = images_among(sorted(directory.iterdir()), include)
    if not files:
        matching = f" matching {include}" if include is not None else ""
        raise DataError(f"{directory}: no images ({', '.join(IMAGE_SUFFIXES)}){matching} in this folder")
    return files


def check_tiles(tiles: int) -> None:
    if not isinstance(tiles, int) or isinstance(tiles, bool) or not 1 <= tiles <= MAX_TILES:
        raise ConfigurationError(f"tiles must be between 1 and {MAX_TILES}, got {tiles!r}")


def header_pixels(path: Path) -> int:
    """An image file's pixel count from its header alone (nothing decoded); 0 when unreadable (it fails at load)."""
    try:
        with Image.open(path) as opened:
            return opened.size[0] * opened.size[1]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 0


def check_limit(limit: object) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigurationError(f"limit: must be a positive integer, got {reprlib.repr(limit)}")
