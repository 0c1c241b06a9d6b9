"""The camera noise family: sRGB → linear, Poisson–Gaussian noise on a Bayer RGGB mosaic, bilinear
demosaicing of the noise, sRGB tone curve, optional JPEG.

Moments are the point, as in test_noise_families.py: each statistic is checked on enough draws that its
tolerance is several standard errors wide (said beside each; spreads measured over 20 seeds), so a
failure is a wrong model. The expected values are derived here by hand from the Bayer layout and the
bilinear kernels, not read from the model.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from denoiser import ConfigurationError, create_noise, make_generator
from denoiser.levels import LevelRange
from denoiser.noise import ladder, MID_GREY_LINEAR, MID_GREY_SLOPE, CameraNoise, linear_to_srgb, protocol_for, srgb_to_linear

SMALL = 0.01  # σ at which clipping and the tone curve's bend are negligible on mid-grey: the model's linear regime


def mid_grey(channels: int, batch: int = 16, size: int = 128) -> torch.Tensor:
    return torch.full((batch, channels, size, size), 0.5)  # (N, C, 128, 128)


def lag_one(residual: torch.Tensor, dim: int) -> torch.Tensor:
    """Σ n(p)·n(p+1) / Σ n(p)² along ``dim`` (-1: horizontal, -2: vertical), per channel: (C,) in float64."""
    length = residual.shape[dim] - 1
    here, next_ = residual.narrow(dim, 0, length).double(), residual.narrow(dim, 1, length).double()
    return (here * next_).sum(dim=(0, 2, 3)) / (here * here).sum(dim=(0, 2, 3))


def pooled_lag_one(residual: torch.Tensor, dim: int) -> float:
    """The same ratio with numerator and denominator summed over the channels."""
    length = residual.shape[dim] - 1
    here, next_ = residual.narrow(dim, 0, length).double(), residual.narrow(dim, 1, length).double()
    return ((here * next_).sum() / (here * here).sum()).item()


def pillow_round_trip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """(1, C, H, W) in [0, 1] through Pillow's JPEG with its defaults (RGB, or L for grayscale), back to [0, 1]."""
    pixels = image[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
    buffer = io.BytesIO()
    Image.fromarray(pixels if pixels.shape[2] == 3 else pixels[:, :, 0]).save(buffer, format="JPEG", quality=quality)
    decoded = np.array(Image.open(buffer)).reshape(pixels.shape)
    return torch.from_numpy(decoded).permute(2, 0, 1)[None].float().div(255)


# ----------------------------------------------------------------------------- the curve and the calibration


def test_the_srgb_curves_are_the_standards_and_each_others_inverse() -> None:
    values = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(values)), values, atol=1e-12)
    assert srgb_to_linear(torch.tensor([0.0, 0.04045, 0.5, 1.0], dtype=torch.float64)).tolist() == pytest.approx(
        [0.0, 0.04045 / 12.92, 0.21404114, 1.0], abs=1e-8
    )
    # the slope the calibration uses, against a central difference of the curve itself
    step = 1e-6
    around = torch.tensor([MID_GREY_LINEAR - step, MID_GREY_LINEAR + step], dtype=torch.float64)
    ends = linear_to_srgb(around)
    assert MID_GREY_SLOPE == pytest.approx(((ends[1] - ends[0]) / (2 * step)).item(), rel=1e-8)


@pytest.mark.parametrize("shot_fraction", [0.0, 0.8, 1.0])
def test_a_and_b_give_the_calibrated_variance_on_mid_grey(shot_fraction: float) -> None:
    noise = create_noise("camera", 0.08, shot_fraction=shot_fraction)
    for channels in (1, 3):
        variance = noise.linear_variance(channels)
        assert noise.a(channels) * MID_GREY_LINEAR + noise.b(channels) == pytest.approx(variance)
        assert noise.a(channels) * MID_GREY_LINEAR == pytest.approx(shot_fraction * variance)
    assert noise.equivalent_sigma == 0.08


def test_the_calibration_is_the_small_sigma_formula_where_the_curve_is_straight() -> None:
    for channels, kept in ((1, 1.0), (3, 7 / 12)):
        small = (SMALL / MID_GREY_SLOPE) ** 2 / kept  # the linear std the curve's slope turns into σ, demosaicing aside
        assert create_noise("camera", SMALL).linear_variance(channels) == pytest.approx(small, rel=0.005)
        assert create_noise("camera", 0.12).linear_variance(channels) < 0.8 * (0.12 / MID_GREY_SLOPE) ** 2 / kept  # bent
    assert create_noise("camera", 0).linear_variance(3) == 0.0
    with pytest.raises(ConfigurationError, match="camera sigma 0.6 is out of reach"):
        create_noise("camera", 0.6).linear_variance(3)


# ----------------------------------------------------------------------------- the mosaic


@pytest.mark.parametrize("levels", [(0.02, 0.2, 0.6), (0.6, 0.02, 0.2)])
def test_mosaic_noise_has_variance_a_l_plus_b_of_the_channel_each_site_samples(
    levels: tuple[float, float, float], generator: torch.Generator
) -> None:
    noise = create_noise("camera", 0.1)
    linear = torch.tensor(levels).view(1, 3, 1, 1).expand(16, 3, 130, 130)  # a canvas: R, G, B each flat
    mosaic = noise.mosaic_noise(linear, generator)[:, 0]  # (16, 130, 130)
    assert mosaic.shape == (16, 130, 130)
    # the canvas's odd rows and columns are R (the image inside the margin starts on R), even ones B
    sites = {
        "R": (mosaic[:, 1::2, 1::2], levels[0]),
        "G": (torch.cat([mosaic[:, 0::2, 1::2], mosaic[:, 1::2, 0::2]]), levels[1]),
        "B": (mosaic[:, 0::2, 0::2], levels[2]),
    }
    for name, (values, level) in sites.items():
        variance = noise.a(3) * level + noise.b(3)
        count = values.numel()  # 67,600 (R, B) or 135,200 (G) independent draws
        assert values.mean().abs().item() < 5 * (variance / count) ** 0.5, name  # 5 standard errors
        assert values.var().item() == pytest.approx(variance, rel=5 * (2 / count) ** 0.5), name  # ≤ 2.7%: 5 of them


def test_the_output_starts_on_r_and_each_plane_is_interpolated_from_its_own_sites(generator: torch.Generator) -> None:
    # pure shot noise on an image that is red alone: noise only at R sites, the G and B planes stay exactly 0
    noise = create_noise("camera", SMALL, shot_fraction=1.0)
    clean = torch.zeros(16, 3, 128, 128)
    clean[:, 0] = 0.5
    residual = noise(clean, generator) - clean
    assert torch.equal(residual[:, 1:], torch.zeros_like(residual[:, 1:]))
    red = residual[:, 0]  # (16, 128, 128)
    at_r = red[:, 0::2, 0::2].var().item()  # R sites: the sample itself
    # G sites: the mean of two R neighbours (half the variance); B sites: of four (a quarter)
    assert red[:, 0::2, 1::2].var().item() / at_r == pytest.approx(1 / 2, rel=0.05)  # ratios' sd ≈ 0.8%
    assert red[:, 1::2, 0::2].var().item() / at_r == pytest.approx(1 / 2, rel=0.05)
    assert red[:, 1::2, 1::2].var().item() / at_r == pytest.approx(1 / 4, rel=0.05)
    # the mosaic's whole variance at mid-grey, a·L with b = 0, through the curve's slope: σ²·12/7 (sd ≈ 0.8%)
    assert at_r == pytest.approx(SMALL**2 * 12 / 7, rel=0.05)


# ----------------------------------------------------------------------------- demosaiced correlations


def test_demosaicing_correlates_neighbours_as_the_bilinear_kernels_say(generator: torch.Generator) -> None:
    clean = mid_grey(3)
    residual = create_noise("camera", SMALL)(clean, generator) - clean  # (16, 3, 128, 128)
    # G: a G site's neighbours are all interpolated, each a quarter its own: cov v/4 over var 5v/8 = 0.4.
    # R, B: in their own rows cov v/2, in the others v/4, over var 9v/16: 2/3. Pooled: (1/4 + 3/4)/(7/4) = 4/7.
    # Every estimate's sd is ≤ 0.0021 over seeds: 0.01 is nearly 5 of them
    for dim in (-1, -2):
        assert lag_one(residual, dim).tolist() == pytest.approx([2 / 3, 0.4, 2 / 3], abs=0.01), dim
        assert pooled_lag_one(residual, dim) == pytest.approx(4 / 7, abs=0.01), dim


def test_the_channels_of_a_pixel_stay_uncorrelated(generator: torch.Generator) -> None:
    clean = mid_grey(3)
    residual = (create_noise("camera", SMALL)(clean, generator) - clean).transpose(0, 1).reshape(3, -1)  # (3, 262144)
    correlation = torch.corrcoef(residual.double())[~torch.eye(3, dtype=torch.bool)]
    # each plane is interpolated from disjoint sites; a correlated field's r has sd below 5/sqrt(262,144) ≈ 0.01
    assert correlation.abs().max().item() < 0.03


def test_grayscale_is_a_monochrome_sensor_without_spatial_correlation(generator: torch.Generator) -> None:
    clean = mid_grey(1)
    residual = create_noise("camera", 0.05)(clean, generator) - clean  # (16, 1, 128, 128)
    pairs = 16 * 128 * 127
    for dim in (-1, -2):
        assert abs(lag_one(residual, dim).item()) < 4 / pairs**0.5, dim  # white: the estimate's sd is 1/sqrt(pairs)


# ----------------------------------------------------------------------------- the equivalent σ


@pytest.mark.parametrize("channels", [1, 3])
def test_the_output_std_on_mid_grey_is_the_level_at_every_step_of_the_ladder(channels: int, generator: torch.Generator) -> None:
    for level in (SMALL, *ladder("camera")):  # calibrated through the clip and the curve; the std's sd over seeds is 0.15%
        clean = mid_grey(channels)
        residual = create_noise("camera", level)(clean, generator) - clean
        assert residual.std().item() == pytest.approx(level, rel=0.015), level


def test_in_colour_green_is_noisier_than_red_and_blue(generator: torch.Generator) -> None:
    # demosaicing leaves 5/8 of the mosaic's variance in G and 9/16 in R and B: stds of sqrt(15/14) and
    # sqrt(27/28) times σ, whose pooled variance is σ² (sd over seeds ≤ 0.35%)
    clean = mid_grey(3)
    residual = create_noise("camera", SMALL)(clean, generator) - clean
    stds = residual.transpose(0, 1).reshape(3, -1).std(dim=1) / SMALL
    assert stds.tolist() == pytest.approx([(27 / 28) ** 0.5, (15 / 14) ** 0.5, (27 / 28) ** 0.5], rel=0.015)


# ----------------------------------------------------------------------------- edges, shape, determinism


def test_edges_are_as_noisy_as_the_centre(generator: torch.Generator) -> None:
    clean = torch.full((2048, 3, 8, 8), 0.5)
    residual = create_noise("camera", SMALL)(clean, generator) - clean  # (2048, 3, 8, 8)
    # every 2×2 Bayer cell holds one site of each kind: a corner cell's noise is the centre cell's unless the
    # margin is missing (zero padding would leave B about 0.83 of its std in the top-left cell).
    # 8,192 values a channel per cell, about half of them independent: each std's sd is ≈ 1.1%
    centre = residual[:, :, 4:6, 2:4].transpose(0, 1).reshape(3, -1).std(dim=1)
    for rows in (slice(0, 2), slice(6, 8)):
        for columns in (slice(0, 2), slice(6, 8)):
            corner = residual[:, :, rows, columns].transpose(0, 1).reshape(3, -1).std(dim=1)
            assert (corner / centre).tolist() == pytest.approx([1.0, 1.0, 1.0], rel=0.06), (rows, columns)


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_range_and_seed(channels: int, generator: torch.Generator) -> None:
    clean = torch.rand(3, channels, 37, 31, generator=generator)  # awkward sizes: odd heights and widths
    noise = create_noise("camera", 0.18)
    noisy = noise(clean, make_generator(5))
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert torch.equal(noisy, noise(clean, make_generator(5)))
    assert not torch.equal(noisy, noise(clean, make_generator(6)))


def test_level_zero_leaves_the_image_as_it_was() -> None:
    clean = torch.rand(2, 3, 16, 16, generator=make_generator(0))
    assert torch.allclose(create_noise("camera", 0)(clean, make_generator(1)), clean, atol=1e-6)


def test_images_that_are_neither_grayscale_nor_rgb_are_refused() -> None:
    with pytest.raises(ValueError, match="got 2 channels"):
        create_noise("camera", 0.1)(torch.zeros(1, 2, 8, 8), make_generator(0))


# ----------------------------------------------------------------------------- jpeg, blind ranges, records


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_pillows_round_trip_of_the_noisy_image(channels: int) -> None:
    clean = torch.rand(1, channels, 48, 40, generator=make_generator(0))
    noisy = create_noise("camera", 0.05)(clean, make_generator(3))
    compressed = create_noise("camera", 0.05, quality=40)(clean, make_generator(3))
    assert torch.equal(compressed, pillow_round_trip(noisy, 40))


def test_no_jpeg_is_quality_0_or_none() -> None:
    clean = torch.rand(1, 3, 16, 16, generator=make_generator(0))
    plain = create_noise("camera", 0.05)(clean, make_generator(3))
    assert torch.equal(create_noise("camera", 0.05, quality=None)(clean, make_generator(3)), plain)
    assert create_noise("camera", 0.05, quality=90.0) == CameraNoise(0.05, 0.8, 90)


def test_a_blind_range_draws_a_level_per_image(generator: torch.Generator) -> None:
    blind = create_noise("camera", LevelRange(0, 0.1))
    clean = torch.rand(4, 3, 32, 32, generator=generator)
    noisy = blind(clean, make_generator(2))
    assert noisy.shape == clean.shape and noisy.min() >= 0 and noisy.max() <= 1
    assert torch.equal(noisy, blind(clean, make_generator(2)))
    grey = torch.full((4, 3, 64, 64), 0.5)
    levels = 0.1 * torch.rand(4, generator=make_generator(2))  # the blind model's first draw: one level per image
    stds = (blind(grey, make_generator(2)) - grey).flatten(1).std(dim=1)  # (4,)
    # each image at its own level: within the curve's bend (+15% at σ = 0.1) and the std's sd (≈ 1%)
    assert (stds / levels).tolist() == pytest.approx([1.0] * 4, rel=0.2), levels.tolist()
    assert blind.protocol.startswith("camera sigma drawn per image uniformly in [0, 0.1]; at the top: sRGB → linear L")


def test_the_protocol_says_the_pipeline_and_how_colour_is_handled() -> None:
    noise = create_noise("camera", 0.08, quality=90)
    assert noise.family == "camera" and noise.level_name == "sigma" and not noise.per_channel
    grayscale = (
        "sRGB → linear L, n ~ N(0, a·L + b), clamp(L + n, 0, 1), sRGB tone curve, JPEG quality 90 (Pillow), "
        f"σ = 0.08 on mid-grey, shot share 0.8; grayscale (a monochrome sensor): a = {noise.a(1):.6g}, b = {noise.b(1):.6g}"
    )
    assert protocol_for(noise, 1) == grayscale
    assert protocol_for(noise, 3) == (
        f"{grayscale}, in colour: n drawn once per site of a Bayer RGGB mosaic, each channel bilinearly demosaiced "
        f"from its own sites (the signal's demosaicing taken as perfect), a = {noise.a(3):.6g}, b = {noise.b(3):.6g}, "
        "RGB encoded as one JPEG (YCbCr, 4:2:0 chroma subsampling)"
    )
    assert "JPEG" not in protocol_for(create_noise("camera", 0.08), 3)


@pytest.mark.parametrize(
    "level, options, message",
    [
        (float("nan"), {}, "camera sigma must be ≥ 0, got nan"),
        (-0.1, {}, "camera sigma must be ≥ 0, got -0.1"),
        (float("inf"), {}, "camera sigma must be ≥ 0, got inf"),
        (True, {}, "camera sigma must be a number, got True"),
        (0.1, {"shot_fraction": 1.5}, "camera shot_fraction must be between 0 and 1, got 1.5"),
        (0.1, {"shot_fraction": -0.1}, "camera shot_fraction must be between 0 and 1, got -0.1"),
        (0.1, {"shot_fraction": True}, "camera shot_fraction must be a number, got True"),
        (0.1, {"shot_fraction": "most"}, "camera shot_fraction must be a number, got 'most'"),
        (0.1, {"quality": 101}, "camera quality must be 0 (no JPEG) or a whole number from 1 to 100, got 101"),
        (0.1, {"quality": -5}, "camera quality must be 0 (no JPEG) or a whole number from 1 to 100, got -5"),
        (0.1, {"quality": 50.5}, "camera quality must be 0 (no JPEG) or a whole number from 1 to 100, got 50.5"),
        (0.1, {"quality": True}, "camera quality must be 0 (no JPEG) or a whole number from 1 to 100, got True"),
        (0.1, {"quality": "high"}, "camera quality must be 0 (no JPEG) or a whole number from 1 to 100, got 'high'"),
    ],
)
def test_impossible_settings_are_refused_in_one_line(level: float, options: dict, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        create_noise("camera", level, **options)
    assert str(refused.value) == message
