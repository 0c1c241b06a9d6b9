"""The sensor, correlated and compression noise families: poisson-gaussian, correlated-gaussian and jpeg.

Moments are the point: each statistic is checked on enough draws that its tolerance is several standard
errors wide (said beside each), with the seeded ``generator`` fixture, so a failure is a wrong model.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from denoiser import NOISE, ConfigurationError, create_noise, make_generator
from denoiser.noise import ladder, protocol_for
from tests.test_noise import DRAWING_OPTIONS, independent_draws

NEW_FAMILIES = ["poisson-gaussian", "correlated-gaussian", "jpeg"]


def lag_one_correlation(residual: torch.Tensor, dim: int) -> float:
    """Empirical correlation of neighbouring pixels along ``dim`` (-1: horizontal, -2: vertical)."""
    length = residual.shape[dim] - 1
    pairs = torch.stack([residual.narrow(dim, 0, length).flatten(), residual.narrow(dim, 1, length).flatten()])
    return torch.corrcoef(pairs.double())[0, 1].item()


def psnr(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    return -10 * math.log10(((clean.double() - noisy.double()) ** 2).mean().item())


def camera() -> torch.Tensor:
    """skimage's camera, 2×2-averaged to (1, 1, 256, 256) in [0, 1]: a natural image with edges and texture."""
    from skimage import data

    image = torch.from_numpy(data.camera()).float().div(255)[None, None]  # (1, 1, 512, 512)
    return torch.nn.functional.avg_pool2d(image, 2)


def astronaut() -> torch.Tensor:
    """A (1, 3, 128, 128) colour crop of skimage's astronaut, on the 8-bit grid (k/255)."""
    from skimage import data

    return torch.from_numpy(data.astronaut()[200:328, 150:278].copy()).permute(2, 0, 1)[None].float().div(255)


# ----------------------------------------------------------------------------- every family


def test_every_family_has_five_valid_levels_from_mild_to_severe() -> None:
    for name in NOISE.names():  # each family declares its ladder where it registers
        levels = ladder(name)
        assert len(levels) == 5, name
        noises = [create_noise(name, level) for level in levels]  # every documented level is valid
        sigmas = [noise.equivalent_sigma for noise in noises]
        if name == "jpeg":  # no σ: a lower quality is the more severe
            assert list(levels) == sorted(levels, reverse=True)
        else:
            assert sigmas == sorted(sigmas) and len(set(sigmas)) == 5, name  # a strictly noisier mid-grey at each step


@pytest.mark.parametrize("name", NOISE.names())
def test_noise_stays_on_the_device_and_in_the_dtype_of_the_batch(name: str, device: torch.device) -> None:
    clean = torch.rand(2, 3, 17, 23, generator=make_generator(0, device), device=device, dtype=torch.float64)  # awkward sizes
    noisy = create_noise(name, ladder(name)[2], **DRAWING_OPTIONS.get(name, {}))(clean, make_generator(1, device))
    assert noisy.shape == clean.shape
    assert noisy.device == clean.device and noisy.dtype == torch.float64
    assert noisy.min() >= 0 and noisy.max() <= 1


@pytest.mark.parametrize("name", NEW_FAMILIES)
def test_new_families_leave_the_clean_batch_and_the_global_rng_alone(name: str) -> None:
    clean = torch.rand(2, 3, 32, 32, generator=make_generator(0))
    before = clean.clone()
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    create_noise(name, ladder(name)[2], **DRAWING_OPTIONS.get(name, {}))(clean, make_generator(2))
    assert torch.equal(torch.rand(1), expected), "drew from the global RNG"
    assert torch.equal(clean, before), "wrote into the clean batch"


def test_the_protocols_say_the_model_and_how_colour_is_handled() -> None:
    sensor = create_noise("poisson-gaussian", 0.1)
    assert sensor.protocol == "y = clamp(x + sqrt(a·x + b)·N(0, 1), 0, 1), a = 0.016, b = 0.002 (σ = 0.1 on mid-grey)"
    assert (
        protocol_for(sensor, 3)
        == "y = clamp(x + sqrt(a·x + b)·N(0, 1), 0, 1) per channel, a = 0.016, b = 0.002 (σ = 0.1 on mid-grey)"
    )
    correlated = create_noise("correlated-gaussian", 25, scale=255, clip=False)
    assert protocol_for(correlated, 3) == (
        "y = x + σ·(k ∗ n) per channel, not clipped, n ~ N(0, 1) white, k a 7×7 Gaussian of std 1 px with ‖k‖₂ = 1, "
        f"σ = 25/255, lag-1 correlation {correlated.lag_one_correlation:.4f}"
    )
    compressed = create_noise("jpeg", 40)
    assert protocol_for(compressed, 1) == "y = decode(encode(round(255·x), quality 40)) / 255, Pillow JPEG"
    assert protocol_for(compressed, 3) == (
        "y = decode(encode(round(255·x), quality 40)) / 255, Pillow JPEG, "
        "RGB encoded as one JPEG (YCbCr, 4:2:0 chroma subsampling)"
    )
    assert "per channel" not in protocol_for(compressed, 3)
    noisy_then_compressed = create_noise("jpeg", 40, sigma=25, scale=255)
    assert protocol_for(noisy_then_compressed, 3) == (
        "y = decode(encode(round(255·clamp(x + N(0, σ²), 0, 1)), quality 40)) / 255, Pillow JPEG, σ = 25/255, "
        "N(0, σ²) drawn per channel, RGB encoded as one JPEG (YCbCr, 4:2:0 chroma subsampling)"
    )


@pytest.mark.parametrize(
    "name, level, options, message",
    [
        ("poisson-gaussian", float("nan"), {}, "poisson-gaussian sigma must be ≥ 0, got nan"),
        ("poisson-gaussian", 0.1, {"shot_fraction": 1.5}, "poisson-gaussian shot_fraction must be between 0 and 1, got 1.5"),
        ("poisson-gaussian", 0.1, {"shot_fraction": "most"}, "poisson-gaussian shot_fraction must be a number, got 'most'"),
        ("poisson-gaussian", 0.1, {"clip": "no"}, "poisson-gaussian clip must be true or false, got 'no'"),
        ("correlated-gaussian", float("inf"), {}, "correlated-gaussian sigma must be ≥ 0, got inf"),
        ("correlated-gaussian", 0.1, {"width": 0}, "correlated-gaussian width must be > 0 and at most 16 pixels, got 0.0"),
        ("correlated-gaussian", 0.1, {"width": 17}, "correlated-gaussian width must be > 0 and at most 16 pixels, got 17.0"),
        ("correlated-gaussian", 0.1, {"width": "wide"}, "correlated-gaussian width must be a number of pixels, got 'wide'"),
        ("correlated-gaussian", 0.1, {"scale": 0}, "correlated-gaussian scale must be > 0, got 0.0"),
        ("jpeg", 0, {}, "jpeg quality must be a whole number from 1 to 100, got 0.0"),
        ("jpeg", 101, {}, "jpeg quality must be a whole number from 1 to 100, got 101.0"),
        ("jpeg", 50.5, {}, "jpeg quality must be a whole number from 1 to 100, got 50.5"),
        ("jpeg", float("nan"), {}, "jpeg quality must be a whole number from 1 to 100, got nan"),
        ("jpeg", 50, {"sigma": -1}, "jpeg sigma must be ≥ 0, got -1.0"),
        ("jpeg", 50, {"sigma": True}, "jpeg sigma must be a number, got True"),
    ],
)
def test_impossible_settings_are_refused_in_one_line(name: str, level: float, options: dict, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        create_noise(name, level, **options)
    assert str(refused.value) == message


# ----------------------------------------------------------------------------- poisson-gaussian

SAMPLES = 64 * 64 * 64  # flat (64, 1, 64, 64) images: the variance's relative standard error is sqrt(2/n) = 0.28%


@pytest.mark.parametrize("intensity", [0.2, 0.5, 0.8])
def test_poisson_gaussian_mean_is_x_and_variance_a_x_plus_b(intensity: float, generator: torch.Generator) -> None:
    noise = create_noise("poisson-gaussian", 0.12, clip=False)  # unclipped: the model itself, at 0.8 σ ≈ 0.15
    clean = torch.full((64, 1, 64, 64), intensity)
    residual = noise(clean, generator) - clean
    variance = noise.a * intensity + noise.b
    assert residual.mean().abs().item() < 5 * (variance / SAMPLES) ** 0.5  # 5 standard errors
    assert residual.var().item() == pytest.approx(variance, rel=5 * (2 / SAMPLES) ** 0.5)  # 1.4%: 5 standard errors


def test_poisson_gaussian_is_white(generator: torch.Generator) -> None:
    clean = torch.full((64, 1, 64, 64), 0.5)
    residual = create_noise("poisson-gaussian", 0.12)(clean, generator) - clean
    pairs = 64 * 64 * 63
    assert abs(lag_one_correlation(residual, -1)) < 4 / pairs**0.5  # uncorrelated: the estimate's sd is 1/sqrt(pairs)
    assert abs(lag_one_correlation(residual, -2)) < 4 / pairs**0.5


def test_poisson_gaussian_equivalent_sigma_is_the_level_and_the_std_on_mid_grey(generator: torch.Generator) -> None:
    for level in ladder("poisson-gaussian"):
        noise = create_noise("poisson-gaussian", level)  # clamped: at 0.18, 0 and 1 are 2.8σ from mid-grey
        assert noise.equivalent_sigma == level
        assert noise.a * 0.5 + noise.b == pytest.approx(level**2)
    noise = create_noise("poisson-gaussian", 0.12)  # 0 and 1 are 4.2σ away: the clamp changes the std by < 0.01%
    clean = torch.full((64, 1, 64, 64), 0.5)
    assert (noise(clean, generator) - clean).std().item() == pytest.approx(0.12, rel=0.01)


def test_poisson_gaussian_without_shot_noise_has_a_constant_variance(generator: torch.Generator) -> None:
    noise = create_noise("poisson-gaussian", 0.1, shot_fraction=0.0, clip=False)
    assert noise.a == 0 and noise.b == pytest.approx(0.01)
    for intensity in (0.2, 0.8):
        clean = torch.full((64, 1, 64, 64), intensity)
        assert (noise(clean, generator) - clean).var().item() == pytest.approx(0.01, rel=5 * (2 / SAMPLES) ** 0.5)


# ----------------------------------------------------------------------------- correlated-gaussian


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_correlated_gaussian_has_the_level_as_per_pixel_std_around_x(width: float, generator: torch.Generator) -> None:
    noise = create_noise("correlated-gaussian", 0.1, width=width, clip=False)
    clean = torch.full((64, 1, 64, 64), 0.3)
    residual = noise(clean, generator) - clean
    draws = 64 * independent_draws(noise, 64 * 64)  # fewer than pixels: 4π·width² pixels per independent draw
    assert residual.mean().abs().item() < 5 * 0.1 / draws**0.5  # 5 standard errors of a correlated mean
    # the std's standard error is about sqrt(2π·width² / (2·pixels)) ≤ 0.7% here (width 2): 3% is more than 4 of them
    assert residual.std().item() == pytest.approx(0.1, rel=0.03)
    assert noise.equivalent_sigma == 0.1


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_correlated_gaussian_neighbours_correlate_as_its_kernel_says(width: float, generator: torch.Generator) -> None:
    noise = create_noise("correlated-gaussian", 0.1, width=width, clip=False)
    clean = torch.full((64, 1, 64, 64), 0.5)
    residual = noise(clean, generator) - clean
    # the estimate's sd is below 0.003 for these widths on 258,048 pairs: 0.01 is more than 3 of them
    assert lag_one_correlation(residual, -1) == pytest.approx(noise.lag_one_correlation, abs=0.01)
    assert lag_one_correlation(residual, -2) == pytest.approx(noise.lag_one_correlation, abs=0.01)


@pytest.mark.parametrize("width", [1.0, 1.5, 2.0, 4.0, 16.0])
def test_lag_one_correlation_is_the_continuous_gaussians_for_wide_kernels(width: float) -> None:
    # filtering white noise with a Gaussian of std w gives an autocorrelation Gaussian of std w·√2
    noise = create_noise("correlated-gaussian", 0.1, width=width)
    assert noise.lag_one_correlation == pytest.approx(math.exp(-1 / (4 * width**2)), abs=1e-3)
    assert sum(tap**2 for tap in noise.kernel) == pytest.approx(1.0)
    assert len(noise.kernel) == 2 * math.ceil(3 * width) + 1


def test_correlated_gaussian_channels_are_uncorrelated(generator: torch.Generator) -> None:
    noise = create_noise("correlated-gaussian", 0.1, width=2.0, clip=False)
    clean = torch.full((32, 3, 64, 64), 0.5)
    residual = (noise(clean, generator) - clean).transpose(0, 1).reshape(3, -1)  # (3, 131072)
    correlation = torch.corrcoef(residual.double())[~torch.eye(3, dtype=torch.bool)]
    # two independent correlated fields: r's sd is below 1/sqrt(independent draws); a shared draw gives r = 1
    assert correlation.abs().max().item() < 5 / (32 * independent_draws(noise, 64 * 64)) ** 0.5


def test_correlated_gaussian_edges_are_as_noisy_as_the_centre(generator: torch.Generator) -> None:
    noise = create_noise("correlated-gaussian", 0.1, width=2.0, clip=False)
    clean = torch.full((2048, 1, 24, 24), 0.5)
    residual = (noise(clean, generator) - clean)[:, 0]  # (2048, 24, 24)
    corners = residual[:, [0, 0, -1, -1], [0, -1, 0, -1]]  # (2048, 4): 8192 nearly independent draws, 23 px apart
    frame = torch.cat([residual[:, 0], residual[:, -1], residual[:, 1:-1, 0], residual[:, 1:-1, -1]], dim=1)
    centre = residual[:, 4:20, 4:20]
    # zero padding would leave (Σ_{i≥0} k_i²)² ≈ 0.3 of the variance in a corner. Standard errors of the std
    # (measured over seeds): corners 1/sqrt(2·8192) ≈ 0.8%, frame 0.5%, centre 0.5%: each tolerance is 6 of them
    assert corners.std().item() == pytest.approx(0.1, rel=0.05)
    assert frame.std().item() == pytest.approx(0.1, rel=0.03)
    assert centre.std().item() == pytest.approx(0.1, rel=0.03)


# ----------------------------------------------------------------------------- jpeg


def test_jpeg_at_quality_100_is_nearly_lossless() -> None:
    rows = torch.linspace(0, 1, 64)
    smooth = (0.25 + 0.5 * torch.outer(torch.sin(math.pi * rows) ** 2, rows))[None, None]  # (1, 1, 64, 64)
    assert psnr(smooth, create_noise("jpeg", 100)(smooth, make_generator(0))) > 40
    colour = torch.cat([smooth, smooth.flip(-1), smooth.transpose(-1, -2)], dim=1)  # (1, 3, 64, 64)
    assert psnr(colour, create_noise("jpeg", 100)(colour, make_generator(0))) > 40


def test_jpeg_psnr_falls_along_the_ladder_on_a_natural_image() -> None:
    clean = camera()
    scores = [psnr(clean, create_noise("jpeg", quality)(clean, make_generator(0))) for quality in ladder("jpeg")]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 5, scores
    assert scores[0] > 34 and scores[-1] < 30, scores  # measured: 36.2 … 28.4 dB


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_pillows_own_round_trip_with_its_defaults(channels: int) -> None:
    # Pillow's default chroma subsampling (pinned in the model to 4:2:0) and mode L for grayscale:
    # the same bytes as saving the image with Pillow's defaults
    clean = astronaut()[:, :channels]  # (1, C, 128, 128) on the 8-bit grid, so round(255·x) is the image itself
    pixels = clean[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels if channels == 3 else pixels[:, :, 0]).save(buffer, format="JPEG", quality=25)
    reference = np.array(Image.open(buffer)).reshape(pixels.shape)
    expected = torch.from_numpy(reference).permute(2, 0, 1)[None].float().div(255)
    assert torch.equal(create_noise("jpeg", 25)(clean, make_generator(0)), expected)


def test_jpeg_output_is_on_the_8_bit_grid_in_colour_too(generator: torch.Generator) -> None:
    clean = torch.rand(3, 3, 40, 24, generator=generator)
    noisy = create_noise("jpeg", 10, sigma=0.1)(clean, generator)
    assert noisy.shape == clean.shape
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert torch.allclose(noisy * 255, (noisy * 255).round(), atol=1e-4)


def test_jpeg_noise_before_compression_has_the_requested_std() -> None:
    # quality 100 on grayscale adds at most about 1.5/255 to the rounding: the residual is the Gaussian
    # noise, drawn exactly as gaussian's from the same generator state
    clean = torch.full((16, 1, 64, 64), 0.5)
    compressed = create_noise("jpeg", 100, sigma=25, scale=255)(clean, make_generator(3))
    assert (compressed - clean).std().item() == pytest.approx(25 / 255, rel=0.02)  # 65,536 draws: sd 0.3%
    gaussian = create_noise("gaussian", 25, scale=255)(clean, make_generator(3))
    assert (compressed - gaussian).abs().max().item() < 2 / 255


def test_jpeg_is_deterministic_and_without_noise_ignores_the_seed() -> None:
    clean = camera()[:, :, :64, :64]
    noisy = create_noise("jpeg", 40, sigma=0.05)
    assert torch.equal(noisy(clean, make_generator(5)), noisy(clean, make_generator(5)))
    assert not torch.equal(noisy(clean, make_generator(5)), noisy(clean, make_generator(6)))
    compressed = create_noise("jpeg", 40)
    assert torch.equal(compressed(clean, make_generator(5)), compressed(clean, make_generator(6)))
    assert compressed.equivalent_sigma is None


def test_jpeg_refuses_images_that_are_neither_grayscale_nor_rgb() -> None:
    with pytest.raises(ValueError, match="got 2 channels"):
        create_noise("jpeg", 50)(torch.zeros(1, 2, 8, 8), make_generator(0))
