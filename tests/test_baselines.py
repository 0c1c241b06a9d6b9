import sys

import numpy as np
import pytest
import torch
from skimage.restoration import denoise_bilateral, denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

from denoiser import create_noise, make_generator
from denoiser.baselines import BASELINES, BaselineUnavailable, create_baseline
from denoiser.data import read_image
from tests.conftest import SET12, requires_shared_data

SIGMA = 0.1

DIRECT = {
    "tv": lambda image: denoise_tv_chambolle(image, weight=1.0 * SIGMA),
    "wavelet": lambda image: denoise_wavelet(image, sigma=SIGMA, method="BayesShrink", mode="soft", rescale_sigma=True),
    "nl-means": lambda image: denoise_nl_means(image, h=0.8 * SIGMA, sigma=SIGMA, patch_size=5, patch_distance=6, fast_mode=True),
    "bilateral": lambda image: denoise_bilateral(image, sigma_color=2.0 * SIGMA, sigma_spatial=1.5),
    "noisy": lambda image: image,
}


def noisy_batch() -> torch.Tensor:
    generator = make_generator(5)
    if SET12.is_dir():
        clean = torch.stack([read_image(SET12 / f"{index:02d}.png")[:, 64:128, 64:128] for index in (1, 5, 9)])
    else:
        clean = torch.rand(3, 1, 64, 64, generator=generator)
    return create_noise("gaussian", SIGMA)(clean, generator)


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_baseline_equals_the_direct_scikit_image_call(name: str) -> None:
    noisy = noisy_batch()
    ours = create_baseline(name)(noisy, create_noise("gaussian", SIGMA))
    assert ours.shape == noisy.shape
    for index in range(len(noisy)):
        expected = np.clip(DIRECT[name](noisy[index, 0].double().numpy()), 0, 1)
        assert np.abs(ours[index, 0].double().numpy() - expected).max() < 1e-6


def test_every_registered_baseline_is_checked_against_a_reference() -> None:
    assert set(BASELINES.names()) == set(DIRECT) | {"bm3d"}


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_baseline_settings_follow_the_noise_level(name: str) -> None:
    baseline = create_baseline(name)
    low, high = baseline.settings(create_noise("gaussian", 0.05)), baseline.settings(create_noise("gaussian", 0.3))
    assert low.keys() == high.keys()
    assert name in ("noisy",) or low != high


def test_baselines_use_the_equivalent_sigma_of_other_families() -> None:
    settings = create_baseline("tv").settings(create_noise("salt-pepper", 0.04))
    assert settings["weight"] == pytest.approx(0.5 * 0.04**0.5)


def test_bm3d_equals_the_direct_call_when_installed() -> None:
    bm3d = pytest.importorskip("bm3d", reason="optional extra bm3d not installed")
    noisy = noisy_batch()[:1]
    ours = create_baseline("bm3d")(noisy, create_noise("gaussian", SIGMA))
    expected = np.clip(bm3d.bm3d(noisy[0, 0].double().numpy(), sigma_psd=SIGMA), 0, 1)
    assert np.abs(ours[0, 0].double().numpy() - expected).max() < 1e-6


def test_bm3d_without_its_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` fail
    with pytest.raises(BaselineUnavailable, match=r"pip install 'denoise-bench\[bm3d\]'"):
        create_baseline("bm3d")(torch.rand(1, 1, 64, 64), create_noise("gaussian", 0.1))


@requires_shared_data
def test_baselines_beat_the_noisy_input_on_set12() -> None:
    from denoiser import metrics

    generator = make_generator(0)
    clean = torch.stack([read_image(SET12 / f"{index:02d}.png")[:, 100:164, 100:164] for index in range(1, 13)])
    noise = create_noise("gaussian", 0.1)
    noisy = noise(clean, generator)
    floor = metrics.psnr(clean, noisy).mean()
    for name in ("tv", "wavelet", "nl-means"):
        assert metrics.psnr(clean, create_baseline(name)(noisy, noise)).mean() > floor + 3, name


@pytest.mark.parametrize("name", sorted(BASELINES.names()))
def test_grayscale_settings_are_the_default_channel_count(name: str) -> None:
    """``settings(noise)`` is ``settings(noise, channels=1)``: grayscale records keep today's settings, with no colour option."""
    baseline, noise = create_baseline(name), create_noise("gaussian", SIGMA)
    assert baseline.settings(noise) == baseline.settings(noise, channels=1)
    assert not {"channel_axis", "convert2ycbcr", "colorspace"} & baseline.settings(noise).keys()


def test_grayscale_output_is_unchanged_by_the_colour_path() -> None:
    """The grayscale path is today's: the wavelet baseline gives exactly the direct call's float32 result."""
    noisy = noisy_batch()
    ours = create_baseline("wavelet")(noisy, create_noise("gaussian", SIGMA))
    for index in range(len(noisy)):
        expected = torch.from_numpy(DIRECT["wavelet"](noisy[index, 0].double().numpy())).float().clamp(0, 1)
        assert torch.equal(ours[index, 0], expected)
