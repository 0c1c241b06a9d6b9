"""Classical baselines on colour batches (N, 3, H, W): each image goes to scikit-image as (H, W, 3)
with channel_axis=-1 and the colour options its documentation recommends, and the settings say so."""

import numpy as np
import pytest
import torch
from skimage import data
from skimage.restoration import denoise_bilateral, denoise_nl_means, denoise_tv_chambolle, denoise_wavelet
from skimage.util import img_as_float

from denoiser import create_noise, make_generator, metrics
from denoiser.baselines import BASELINES, FunctionBaseline, create_baseline, register_baseline
from denoiser.errors import DenoiserError

SIGMA = 0.1

DIRECT = {
    "tv": lambda image: denoise_tv_chambolle(image, weight=1.0 * SIGMA, channel_axis=-1),
    "wavelet": lambda image: denoise_wavelet(
        image, sigma=SIGMA, method="BayesShrink", mode="soft", rescale_sigma=True, channel_axis=-1, convert2ycbcr=True
    ),
    "nl-means": lambda image: denoise_nl_means(
        image, h=0.8 * SIGMA, sigma=SIGMA, patch_size=5, patch_distance=6, fast_mode=True, channel_axis=-1
    ),
    "bilateral": lambda image: denoise_bilateral(image, sigma_color=2.0 * SIGMA / 3**0.5, sigma_spatial=1.5, channel_axis=-1),
    "noisy": lambda image: image,
}

COLOR_OPTIONS: dict[str, dict[str, object]] = {  # what each record's settings must add in colour
    "tv": {"channel_axis": -1},
    "wavelet": {"channel_axis": -1, "convert2ycbcr": True},
    "nl-means": {"channel_axis": -1},
    "bilateral": {"channel_axis": -1},
    "bm3d": {"colorspace": "opp"},
    "noisy": {},
}


def noisy_color_batch(height: int = 37, width: int = 31) -> torch.Tensor:
    """(2, 3, H, W): two crops of scikit-image's astronaut, an awkward size, Gaussian noise σ 0.1."""
    astronaut = torch.from_numpy(img_as_float(data.astronaut())).permute(2, 0, 1).float()  # (3, 512, 512)
    clean = torch.stack([astronaut[:, 100 : 100 + height, 200 : 200 + width], astronaut[:, 300 : 300 + height, 50 : 50 + width]])
    return create_noise("gaussian", SIGMA)(clean, make_generator(3))


def test_every_registered_baseline_is_checked_in_colour() -> None:
    assert set(BASELINES.names()) == set(DIRECT) | {"bm3d"} == set(COLOR_OPTIONS)


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_colour_baseline_equals_the_direct_scikit_image_call(name: str) -> None:
    noisy = noisy_color_batch()
    ours = create_baseline(name)(noisy, create_noise("gaussian", SIGMA))
    assert ours.shape == noisy.shape and ours.dtype == noisy.dtype
    for index in range(len(noisy)):
        image = noisy[index].permute(1, 2, 0).double().numpy()  # (H, W, 3)
        expected = np.clip(DIRECT[name](image), 0, 1)
        assert np.abs(ours[index].permute(1, 2, 0).double().numpy() - expected).max() < 1e-6


@pytest.mark.parametrize("name", sorted(COLOR_OPTIONS))
def test_colour_settings_say_which_colour_options_were_used(name: str) -> None:
    baseline, noise = create_baseline(name), create_noise("gaussian", SIGMA)
    gray, color = baseline.settings(noise), baseline.settings(noise, channels=3)
    assert not {"channel_axis", "convert2ycbcr", "colorspace"} & gray.keys()  # grayscale records as before
    assert {key: color[key] for key in COLOR_OPTIONS[name]} == COLOR_OPTIONS[name]
    assert color.keys() - gray.keys() == COLOR_OPTIONS[name].keys()


def test_bilateral_colour_sigma_weighs_pixels_as_in_grayscale() -> None:
    """scikit-image divides the colour distance over 3 channels by 3: the colour σ is divided by √3."""
    settings = create_baseline("bilateral").settings(create_noise("gaussian", 0.3), channels=3)
    assert settings["sigma_color"] == pytest.approx(2.0 * 0.3 / 3**0.5)
    equal_channels = np.repeat(noisy_color_batch()[0, :1].permute(1, 2, 0).double().numpy(), 3, axis=-1)  # gray as RGB
    gray = denoise_bilateral(equal_channels[..., 0], sigma_color=2.0 * SIGMA, sigma_spatial=1.5)
    color = denoise_bilateral(equal_channels, sigma_color=2.0 * SIGMA / 3**0.5, sigma_spatial=1.5, channel_axis=-1)
    assert np.abs(color[..., 0] - gray).max() < 1e-3  # the same weights, up to scikit-image's lookup-table bins


@pytest.mark.parametrize("name", ["tv", "wavelet", "nl-means", "bilateral"])
def test_colour_baselines_beat_the_noisy_input(name: str) -> None:
    astronaut = torch.from_numpy(img_as_float(data.astronaut())).permute(2, 0, 1).float()
    clean = astronaut[None, :, 150:214, 180:244]  # (1, 3, 64, 64)
    noise = create_noise("gaussian", SIGMA)
    noisy = noise(clean, make_generator(0))
    floor = metrics.psnr(clean, noisy).item()
    assert metrics.psnr(clean, create_baseline(name)(noisy, noise)).item() > floor + 2


def test_other_channel_counts_are_refused() -> None:
    with pytest.raises(DenoiserError, match=r"\(N, 1, H, W\) or \(N, 3, H, W\) batches, got \(1, 2, 16, 16\)"):
        create_baseline("tv")(torch.rand(1, 2, 16, 16), create_noise("gaussian", SIGMA))


def test_a_plugin_baseline_gets_the_colour_batch_as_it_is() -> None:
    shapes = []

    @register_baseline("halve-colour")
    def halve(noisy: torch.Tensor, noise: object, factor: float = 0.5) -> torch.Tensor:
        shapes.append(tuple(noisy.shape))
        return noisy * factor

    noisy = noisy_color_batch()
    baseline = create_baseline("halve-colour")
    assert isinstance(baseline, FunctionBaseline)
    assert torch.equal(baseline(noisy, create_noise("gaussian", SIGMA)), noisy * 0.5)
    assert shapes == [(2, 3, 37, 31)]


def test_cbm3d_equals_the_direct_call_when_installed() -> None:
    bm3d = pytest.importorskip("bm3d", reason="optional extra bm3d not installed")
    noisy = noisy_color_batch(48, 40)[:1]
    ours = create_baseline("bm3d")(noisy, create_noise("gaussian", SIGMA))
    image = noisy[0].permute(1, 2, 0).double().numpy()
    expected = np.clip(bm3d.bm3d_rgb(image, sigma_psd=SIGMA, colorspace="opp"), 0, 1)
    assert ours.shape == noisy.shape
    assert np.abs(ours[0].permute(1, 2, 0).double().numpy() - expected).max() < 1e-6
