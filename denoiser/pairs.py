"""Real-noise pairs: clean and noisy images of the same scenes, the noise already in them, read from a
folder in one of the layouts they ship in (``NAME_clean``/``NAME_noisy`` files, ``clean/`` and ``noisy/``
folders, each side's file-name pattern, or a named layout: PolyU, SIDD)."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from pathlib import Path

import torch

from denoiser.errors import ConfigurationError, DataError
from denoiser.images import check_limit, header_pixels, image_files, images_among, read_image

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
    check_limit(limit)
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
        clean_files = {file.name: file for file in image_files(directory / "clean")}
        return clean_files, {file.name: file for file in image_files(directory / "noisy")}, [], None
    return (*_match_pairs(directory, patterns, include), patterns)


def check_pair_params(params: Mapping[str, object]) -> None:
    """A pairs set's own parameters, before anything loads: a named layout, or both sides' file-name patterns
    (one ``*`` at most); the ConfigurationError's message starts with the parameter's name."""
    _pair_patterns(params.get("clean"), params.get("noisy"), params.get("layout"))  # type: ignore[arg-type]


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
    files = images_among(sorted(directory.rglob("*") if recursive else directory.iterdir()), include)
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


def expected_pair_pixels(params: Mapping[str, object]) -> int:
    """The values a pairs set holds in memory (clean and noisy, float32 values), from the files' headers;
    0 where its files cannot be listed (loading says why)."""
    channels = 3 if params.get("color") is True else 1
    sides = {name: params.get(name) for name in ("clean", "noisy", "layout", "include")}
    try:
        clean, noisy, _, _ = _pair_files(Path(str(params.get("path"))), **sides)  # type: ignore[arg-type]
    except (ConfigurationError, DataError, OSError):
        return 0
    return channels * sum(header_pixels(file) for file in [*clean.values(), *noisy.values()])
