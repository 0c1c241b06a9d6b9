"""Colour images end to end: ``color=True`` on read_image, every data set, the whole-image sets, the
config check and ``bench denoise``; grayscale unchanged."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from denoiser import ConfigurationError, augment, load_dataset
from denoiser.data import (
    SKIMAGE_PHOTOGRAPHS,
    ImageSet,
    augment_image,
    check_params,
    expected_pixels,
    image_to_patches,
    load_native,
    load_pairs,
    read_image,
    to_grayscale,
)
from tests.conftest import CIFAR_SAMPLE, SHARED_DATA, requires_shared_data

MCMASTER = SHARED_DATA / "McMaster"


def pil_rgb(path: Path) -> torch.Tensor:
    """The independent reference: PIL's own RGB conversion, / 255, as (3, H, W)."""
    with Image.open(path) as opened:
        return torch.from_numpy(np.asarray(opened.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """One file of each awkward kind, 37×31 (a shape that catches transposed axes): RGB, palette, LA, L."""
    Image.fromarray(random_rgb(37, 31, 1)).save(tmp_path / "a_rgb.png")
    Image.fromarray(random_rgb(37, 31, 2)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(
        tmp_path / "b_palette.png"
    )
    gray = np.random.default_rng(3).integers(0, 256, (37, 31), dtype=np.uint8)
    alpha = np.random.default_rng(4).integers(0, 256, (37, 31), dtype=np.uint8)
    Image.fromarray(np.stack([gray, alpha], axis=-1), mode="LA").save(tmp_path / "c_gray_alpha.png")
    Image.fromarray(gray).save(tmp_path / "d_gray.png")
    return tmp_path


# ----------------------------------------------------------------------------- read_image


def test_read_image_in_colour_equals_pils_rgb_conversion(mixed_folder: Path) -> None:
    for path in sorted(mixed_folder.iterdir()):
        image = read_image(path, colour=True)
        assert image.shape == (3, 37, 31) and image.dtype == torch.float32, path.name
        assert torch.equal(image, pil_rgb(path)), path.name


def test_palette_and_gray_alpha_files_have_the_expected_modes(mixed_folder: Path) -> None:
    # The fixture tests what it says: a real palette file and a real grayscale+alpha file.
    assert Image.open(mixed_folder / "b_palette.png").mode == "P"
    assert Image.open(mixed_folder / "c_gray_alpha.png").mode == "LA"


def test_grayscale_file_in_colour_is_replicated_to_three_equal_channels(mixed_folder: Path) -> None:
    for name in ("d_gray.png", "c_gray_alpha.png"):  # the alpha channel is dropped, never blended
        image = read_image(mixed_folder / name, colour=True)
        expected = torch.from_numpy(np.asarray(Image.open(mixed_folder / name).getchannel("L"), dtype=np.float32) / 255)
        assert torch.equal(image[0], expected) and torch.equal(image[1], image[0]) and torch.equal(image[2], image[0]), name


def test_sixteen_bit_grayscale_file_in_colour_is_scaled_then_replicated(tmp_path: Path) -> None:
    values = np.random.default_rng(0).integers(0, 65536, (9, 11), dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")  # mode I;16 (or I, read back from a PNG)
    gray, color = read_image(tmp_path / "deep.png"), read_image(tmp_path / "deep.png", colour=True)
    assert gray.shape == (1, 9, 11) and color.shape == (3, 9, 11)
    assert torch.equal(color, gray.expand(3, -1, -1))
    assert torch.allclose(gray[0], torch.from_numpy(values / 65535).float())


def test_grayscale_reading_of_every_mode_is_unchanged(mixed_folder: Path) -> None:
    # As before colour: every 8-bit file through RGB and torchvision's luma, one channel.
    for path in sorted(mixed_folder.iterdir()):
        image = read_image(path)
        assert image.shape == (1, 37, 31), path.name
        assert torch.equal(image, to_grayscale(pil_rgb(path))), path.name


def test_tiff_from_mcmaster_in_colour() -> None:
    if not (MCMASTER / "1.tif").is_file():
        pytest.skip(f"McMaster colour test set not found at {MCMASTER} (../shared/data beside the checkout)")
    image = read_image(MCMASTER / "1.tif", colour=True)
    assert image.shape == (3, 500, 500)
    assert torch.equal(image, pil_rgb(MCMASTER / "1.tif"))
    assert not torch.equal(image[0], image[1])  # really colour


# ----------------------------------------------------------------------------- data sets


def assert_colour_images(data: ImageSet, count: int) -> None:
    assert data.images.shape == (count, 3, 64, 64)
    assert data.images.dtype == torch.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.sources.shape == (count,)


def test_skimage_natural_in_colour_keeps_colour_and_replicates_grayscale_photographs() -> None:
    data = load_dataset("skimage-natural", tiles=2, color=True)
    assert_colour_images(data, len(SKIMAGE_PHOTOGRAPHS) * 4)
    for index, name in enumerate(data.source_names):
        tile = data.images[index]
        equal_channels = torch.equal(tile[0], tile[1]) and torch.equal(tile[1], tile[2])
        photograph = name.split("/")[0]
        if photograph in ("camera", "coins", "moon", "brick", "grass", "gravel"):
            assert equal_channels, name
        elif photograph in ("astronaut", "chelsea", "coffee"):
            assert not equal_channels, name


def test_skimage_natural_default_is_bit_identical_to_color_false() -> None:
    assert torch.equal(load_dataset("skimage-natural").images, load_dataset("skimage-natural", color=False).images)


def test_skimage_natural_grayscale_is_the_luma_of_its_colour() -> None:
    # Tiling commutes with a per-pixel conversion up to the resize's rounding.
    gray, color = load_dataset("skimage-natural", tiles=2), load_dataset("skimage-natural", tiles=2, color=True)
    assert gray.images.shape == (48, 1, 64, 64)
    assert torch.allclose(to_grayscale(color.images), gray.images, atol=1e-5)


@pytest.mark.parametrize("mode", ["resize", "center-crop", "tiles", "native"])
def test_folder_in_colour_every_mode(mixed_folder: Path, mode: str) -> None:
    data = load_dataset("folder", path=str(mixed_folder), mode=mode, tiles=2, color=True)
    count = {"tiles": 16}.get(mode, 4)
    if mode == "native":
        assert data.images.shape == (4, 3, 37, 31)
        for index, path in enumerate(sorted(mixed_folder.iterdir())):
            assert torch.equal(data.images[index], pil_rgb(path)), path.name
    else:
        assert_colour_images(data, count)
    gray = load_dataset("folder", path=str(mixed_folder), mode=mode, tiles=2)
    assert gray.images.shape[1] == 1 and len(gray) == len(data)


def test_image_to_patches_cuts_each_channel_in_the_same_place() -> None:
    # Three different channels: each patch channel is that channel's own tile, row by row.
    image = torch.rand(3, 37 * 4, 31 * 4, generator=torch.Generator().manual_seed(0))
    patches = image_to_patches(image, "tiles", 3)
    assert patches.shape == (9, 3, 64, 64)
    for channel in range(3):
        assert torch.equal(patches[:, channel : channel + 1], image_to_patches(image[channel : channel + 1], "tiles", 3))


@requires_shared_data
def test_cifar10_in_colour_is_the_resized_rgb() -> None:
    import torchvision.transforms.v2.functional as TF

    data = load_dataset("cifar10", path=str(CIFAR_SAMPLE), limit=8, color=True)
    assert_colour_images(data, 8)
    with open(CIFAR_SAMPLE, "rb") as file:
        raw = pickle.load(file, encoding="bytes")[b"data"][:8]
    rgb = torch.from_numpy(raw.reshape(8, 3, 32, 32).astype(np.float32) / 255)
    expected = TF.resize(rgb, [64, 64], interpolation=TF.InterpolationMode.BILINEAR, antialias=True).clamp(0, 1)
    assert torch.allclose(data.images, expected, atol=1e-6)
    gray = load_dataset("cifar10", path=str(CIFAR_SAMPLE), limit=8)
    assert torch.equal(gray.images, to_grayscale(data.images))


def test_whole_images_and_pairs_in_colour(mixed_folder: Path, tmp_path: Path) -> None:
    native = load_native("folder", path=str(mixed_folder), limit=3, color=True)
    assert [name for name, _ in native] == ["a_rgb.png", "b_palette.png", "c_gray_alpha.png"]
    assert all(image.shape == (1, 3, 37, 31) for _, image in native)
    assert load_native("folder", path=str(mixed_folder), limit=1)[0][1].shape == (1, 1, 37, 31)
    assert load_native("skimage-natural", limit=1, color=True)[0][1].shape == (1, 3, 512, 512)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    Image.fromarray(random_rgb(20, 24, 5)).save(pairs / "scene_clean.png")
    Image.fromarray(random_rgb(20, 24, 6)).save(pairs / "scene_noisy.png")
    [(name, clean, noisy)] = load_pairs(str(pairs), color=True)
    assert name == "scene" and clean.shape == noisy.shape == (1, 3, 20, 24)
    assert torch.equal(noisy[0], pil_rgb(pairs / "scene_noisy.png"))
    assert load_pairs(str(pairs))[0][1].shape == (1, 1, 20, 24)


# ----------------------------------------------------------------------------- augmentation


def test_augment_in_colour_is_seeded_and_keeps_three_channels() -> None:
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    data = ImageSet(images, torch.arange(4), tuple("abcd"))
    augmented = augment(data, copies=2, seed=1)
    assert augmented.images.shape == (12, 3, 64, 64)
    assert torch.equal(augmented.images, augment(data, copies=2, seed=1).images)
    assert augmented.images.min() >= 0 and augmented.images.max() <= 1


def test_colour_jitter_pivots_on_the_luma_mean_as_torchvision() -> None:
    import torchvision.transforms.v2.functional as TF

    # A grey image replicated: geometry and jitter are the same per channel, so the three channels stay equal
    # and equal the grayscale augmentation drawn with the same seed.
    gray = torch.rand(1, 64, 64, generator=torch.Generator().manual_seed(2))
    for seed in range(5):
        color = augment_image(gray.expand(3, -1, -1).contiguous(), torch.Generator().manual_seed(seed))
        alone = augment_image(gray, torch.Generator().manual_seed(seed))
        assert torch.allclose(color, alone.expand(3, -1, -1), atol=1e-5), seed
    # The contrast step itself, on real RGB, matches torchvision's adjust_contrast.
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(3))
    factor = 1.08
    ours = (factor * image + (1 - factor) * to_grayscale(image).mean()).clamp(0, 1)
    assert torch.allclose(ours, TF.adjust_contrast(image, factor), atol=1e-6)


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("name", ["skimage-natural", "folder", "cifar10"])
def test_check_params_accepts_color_on_every_data_set(name: str, tmp_path: Path) -> None:
    params: dict[str, object] = {"path": str(tmp_path)} if name != "skimage-natural" else {}
    check_params(name, {**params, "color": True})
    with pytest.raises(ConfigurationError, match="^color: expected true or false, got 'yes'$"):
        check_params(name, {**params, "color": "yes"})


@pytest.mark.parametrize("name", ["folder", "skimage-natural", "pairs"])
def test_check_params_accepts_color_on_whole_image_sets(name: str, tmp_path: Path) -> None:
    params: dict[str, object] = {"path": str(tmp_path)} if name != "skimage-natural" else {}
    check_params(name, {**params, "limit": 2, "color": False}, whole=True)
    with pytest.raises(ConfigurationError, match="^color: expected true or false, got 1$"):
        check_params(name, {**params, "color": 1}, whole=True)
    with pytest.raises(ConfigurationError, match="^tiles: no such parameter; valid: .*color"):
        check_params(name, {**params, "tiles": 2}, whole=True)


def test_expected_pixels_counts_three_values_a_pixel_in_colour(mixed_folder: Path) -> None:
    assert expected_pixels("skimage-natural", color=True) == 3 * expected_pixels("skimage-natural")  # type: ignore[operator]
    for mode in ("resize", "tiles", "native"):
        gray = expected_pixels("folder", path=str(mixed_folder), mode=mode)
        assert expected_pixels("folder", path=str(mixed_folder), mode=mode, color=True) == 3 * gray, mode  # type: ignore[operator]
    assert expected_pixels("cifar10", limit=10, color=True) == expected_pixels("cifar10", limit=10) == 3 * 10 * 64 * 64


# ----------------------------------------------------------------------------- bench denoise


class ColourModel(nn.Module):
    """A tiny colour denoiser with no ``image_channels``: its first convolution says it takes RGB."""

    def __init__(self) -> None:
        super().__init__()
        self.convolution = nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():  # the identity: the written file is the input, exactly
            self.convolution.weight.zero_()
            self.convolution.bias.zero_()
            for channel in range(3):
                self.convolution.weight[channel, channel, 1, 1] = 1

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.convolution(noisy)


def test_denoise_files_in_colour_writes_rgb(mixed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.apply

    monkeypatch.setattr(bench.apply, "load_checkpoint", lambda path: ColourModel().eval())
    inputs = sorted(mixed_folder.iterdir())
    written = bench.apply.denoise_files(tmp_path / "model.pt", inputs, tmp_path / "out")
    assert [path.name for path in written] == [f"{path.stem}_denoised.png" for path in inputs]
    for source, target in zip(inputs, written):
        with Image.open(target) as output:
            assert output.mode == "RGB" and output.size == (31, 37), target.name
            assert np.array_equal(np.asarray(output), np.asarray(Image.open(source).convert("RGB"))), target.name


def test_denoise_files_with_a_dncnn_checkpoint_of_each_width(tmp_path: Path) -> None:
    from bench.apply import denoise_files
    from bench.checkpoints import save_checkpoint
    from denoiser import create_model
    from denoiser.models import MODELS

    if "image_channels" not in MODELS.get("dncnn").parameters:
        pytest.skip("the dncnn model takes no image_channels in this checkout")
    Image.fromarray(random_rgb(37, 31)).save(tmp_path / "photo.png")
    for channels, mode in ((3, "RGB"), (1, "L")):
        model = create_model("dncnn", depth=3, width=4, image_channels=channels)
        save_checkpoint(
            tmp_path / f"{mode}.pt", "dncnn", {"depth": 3, "width": 4, "image_channels": channels}, model, "denoiser.models"
        )
        [written] = denoise_files(tmp_path / f"{mode}.pt", [tmp_path / "photo.png"], tmp_path / mode)
        with Image.open(written) as output:
            assert output.mode == mode and output.size == (31, 37), mode
