import pytest
import torch

from denoiser import NOISE, ConfigurationError, create_noise, make_generator
from denoiser.noise import ladder, CorrelatedGaussianNoise, NoiseModel

# jpeg alone draws nothing (a deterministic compression of the image): with noise before it, the seed matters
DRAWING_OPTIONS = {"jpeg": {"sigma": 0.05}}


def independent_draws(noise: NoiseModel, pixels: int) -> float:
    """How many independent draws a mean over ``pixels`` pixels of one image's noise is worth: all of them
    for pixel-wise noise; for spatially correlated noise fewer, as its mean varies (Σ k_i)⁴ times more
    (the sum of the 2-D autocorrelation of the kernel k of unit norm; ~4π·width²)."""
    if isinstance(noise, CorrelatedGaussianNoise):
        return pixels / sum(noise.kernel) ** 4
    return pixels


@pytest.mark.parametrize("name", NOISE.names())
def test_same_seed_same_noise_other_seed_other_noise(name: str, device: torch.device) -> None:
    clean = torch.full((4, 1, 64, 64), 0.5, device=device)
    noise = create_noise(name, ladder(name)[2], **DRAWING_OPTIONS.get(name, {}))
    first = noise(clean, make_generator(7, device))
    again = noise(clean, make_generator(7, device))
    other = noise(clean, make_generator(8, device))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", NOISE.names())
def test_output_stays_in_the_unit_range(name: str, generator: torch.Generator) -> None:
    clean = torch.rand(8, 1, 64, 64, generator=generator)
    noisy = create_noise(name, ladder(name)[-1])(clean, generator)  # the most severe documented level
    assert noisy.min() >= 0 and noisy.max() <= 1


@pytest.mark.parametrize("sigma", [0.03, 0.1, 0.2])
def test_gaussian_std_matches_sigma_before_clamping(sigma: float, generator: torch.Generator) -> None:
    # Mid-grey images: at these σ the clamp at 0 and 1 is (almost) never reached, so the
    # residual is the raw noise. 64·64·64 samples → std within 1% of σ.
    clean = torch.full((64, 1, 64, 64), 0.5)
    residual = create_noise("gaussian", sigma)(clean, generator) - clean
    assert residual.mean().abs() < sigma * 0.01
    assert residual.std().item() == pytest.approx(sigma, rel=0.01)


def test_gaussian_does_not_touch_the_global_rng() -> None:
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    create_noise("gaussian", 0.1)(torch.rand(1, 1, 8, 8, generator=make_generator(1)), make_generator(2))
    assert torch.equal(torch.rand(1), expected)


def test_negative_sigma_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="gaussian sigma must be ≥ 0"):
        create_noise("gaussian", -0.1)


def test_unknown_noise_lists_the_valid_ones() -> None:
    valid = "camera, correlated-gaussian, gaussian, jpeg, poisson, poisson-gaussian, salt-pepper, speckle"
    with pytest.raises(ConfigurationError, match=f"unknown noise model 'pink'; valid: {valid}"):
        create_noise("pink", 0.1)


def test_poisson_mean_and_variance_follow_the_photon_scale(generator: torch.Generator) -> None:
    clean = torch.full((64, 1, 64, 64), 0.5)
    for photons in (15.0, 50.0, 250.0):
        noisy = create_noise("poisson", photons)(clean, generator)
        assert noisy.mean().item() == pytest.approx(0.5, abs=0.005)
        assert noisy.var().item() == pytest.approx(0.5 / photons, rel=0.03)  # Var(Poisson(λx)/λ) = x/λ


def test_poisson_counts_are_whole_photons(generator: torch.Generator) -> None:
    noisy = create_noise("poisson", 30)(torch.full((1, 1, 32, 32), 0.4), generator)
    counts = noisy * 30
    assert torch.allclose(counts, counts.round(), atol=1e-4)


@pytest.mark.parametrize("amount", [0.01, 0.05, 0.14])
def test_salt_pepper_flips_the_right_fraction(amount: float, generator: torch.Generator) -> None:
    clean = torch.full((64, 1, 64, 64), 0.5)
    noisy = create_noise("salt-pepper", amount)(clean, generator)
    flipped = (noisy != 0.5).float().mean().item()
    salt = (noisy == 1).float().mean().item()
    assert flipped == pytest.approx(amount, rel=0.05)
    assert salt == pytest.approx(amount / 2, rel=0.07)
    assert set(noisy.unique().tolist()) <= {0.0, 0.5, 1.0}


def test_salt_pepper_agrees_with_skimage_in_distribution() -> None:
    import numpy as np
    from skimage.util import random_noise

    clean = np.full((256, 256), 0.5)
    reference = random_noise(clean, mode="s&p", amount=0.08, rng=np.random.default_rng(0))
    ours = create_noise("salt-pepper", 0.08)(torch.from_numpy(clean)[None, None], make_generator(0))[0, 0].numpy()
    for value in (0.0, 1.0):  # fractions of pepper and of salt within 3 binomial standard deviations
        expected = (reference == value).mean()
        tolerance = 3 * 2 * np.sqrt(0.04 * 0.96 / clean.size)
        assert abs((ours == value).mean() - expected) < tolerance


@pytest.mark.parametrize("sigma", [0.15, 0.35])
def test_speckle_is_multiplicative(sigma: float, generator: torch.Generator) -> None:
    for intensity in (0.25, 0.5):
        clean = torch.full((64, 1, 64, 64), intensity)
        residual = create_noise("speckle", sigma)(clean, generator) - clean
        assert residual.mean().abs() < 0.002
        assert residual.std().item() == pytest.approx(sigma * intensity, rel=0.02)


@pytest.mark.parametrize(
    "name, level, message",
    [
        ("poisson", 0.0, "photon scale must be > 0"),
        ("salt-pepper", 1.5, "amount must be between 0 and 1"),
        ("speckle", -1.0, "speckle sigma must be ≥ 0"),
    ],
)
def test_impossible_levels_are_refused(name: str, level: float, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_noise(name, level)


@pytest.mark.parametrize("name", NOISE.names())
def test_equivalent_sigma_is_the_std_on_mid_grey(name: str, generator: torch.Generator) -> None:
    noise = create_noise(name, ladder(name)[2])
    if noise.equivalent_sigma is None:
        pytest.skip(f"{name} has no equivalent σ: its error depends on the image's content, not on its grey level")
    clean = torch.full((64, 1, 64, 64), 0.5)
    assert (noise(clean, generator) - clean).std().item() == pytest.approx(noise.equivalent_sigma, rel=0.03)


def test_unclipped_gaussian_on_the_255_scale_is_the_literatures_noise(generator: torch.Generator) -> None:
    noise = create_noise("gaussian", 25, clip=False, scale=255)
    clean = torch.full((16, 1, 64, 64), 0.98)  # near white: clipping would cut the upper tail
    noisy = noise(clean, generator)
    difference = noisy - clean
    assert difference.mean().abs() < 2e-3
    assert difference.std().item() == pytest.approx(25 / 255, rel=0.01)
    assert noisy.max() > 1.1 and (noisy > 1).float().mean() > 0.3  # not clipped
    assert noise.equivalent_sigma == pytest.approx(25 / 255)
    assert noise.protocol == "y = x + N(0, σ²), not clipped, σ = 25/255"
    assert create_noise("gaussian", 0.1).protocol == "y = clamp(x + N(0, σ²), 0, 1), σ = 0.1"
    with pytest.raises(ConfigurationError, match="scale must be > 0"):
        create_noise("gaussian", 25, scale=0)
    with pytest.raises(ConfigurationError, match="has no parameter clip"):
        create_noise("poisson", 10, clip=False)


# ----------------------------------------------------------------------------- colour (N, 3, H, W)


@pytest.mark.parametrize("name", NOISE.names())
def test_colour_noise_has_the_same_moments_in_every_channel(name: str, generator: torch.Generator) -> None:
    noise = create_noise(name, ladder(name)[2])
    if noise.equivalent_sigma is None:
        pytest.skip(f"{name} has no equivalent σ to compare each channel's std with")
    if name == "camera":
        pytest.skip("camera's channels differ by design: demosaicing leaves G more noise than R and B (tests/test_camera_noise.py)")
    clean = torch.full((16, 3, 64, 64), 0.5)
    residual = noise(clean, generator) - clean  # (16, 3, 64, 64): 65,536 draws per channel
    assert residual.shape == clean.shape
    for channel in range(3):
        values = residual[:, channel]
        draws = 16 * independent_draws(noise, 64 * 64)
        assert values.mean().abs() < 0.01 * noise.equivalent_sigma + 3 * noise.equivalent_sigma / draws**0.5
        assert values.std().item() == pytest.approx(noise.equivalent_sigma, rel=0.03), channel


@pytest.mark.parametrize("name", NOISE.names())
def test_colour_noise_is_drawn_independently_in_each_channel(name: str, generator: torch.Generator) -> None:
    noise = create_noise(name, ladder(name)[2])
    if not noise.per_channel:
        pytest.skip(f"{name} treats the channels of a colour image together: {noise.colour_handling}")
    clean = torch.full((16, 3, 64, 64), 0.5)
    residual = noise(clean, generator) - clean
    per_channel = residual.transpose(0, 1).reshape(3, -1)  # (3, 65536)
    correlation = torch.corrcoef(per_channel)
    off_diagonal = correlation[~torch.eye(3, dtype=torch.bool)]
    # independent channels: |r| ~ 1/sqrt(65,536) = 0.004 for pixel-wise noise (more for spatially
    # correlated noise, of fewer independent draws); a shared draw would give r = 1
    assert off_diagonal.abs().max() < 5 / (16 * independent_draws(noise, 64 * 64)) ** 0.5
    assert not torch.equal(residual[:, 0], residual[:, 1])


def test_protocol_says_per_channel_in_colour_only() -> None:
    from denoiser.noise import protocol_for

    literature = create_noise("gaussian", 25, clip=False, scale=255)
    assert protocol_for(literature, 1) == literature.protocol == "y = x + N(0, σ²), not clipped, σ = 25/255"
    assert protocol_for(literature, 3) == "y = x + N(0, σ²) per channel, not clipped, σ = 25/255"
    design = create_noise("gaussian", 0.1)
    assert protocol_for(design, 1) == "y = clamp(x + N(0, σ²), 0, 1), σ = 0.1"
    assert protocol_for(design, 3) == "y = clamp(x + N(0, σ²), 0, 1) per channel, σ = 0.1"
    assert protocol_for(create_noise("poisson", 50), 1) == "poisson photons 50"
    assert protocol_for(create_noise("poisson", 50), 3) == "poisson photons 50 per channel"
    assert protocol_for(create_noise("salt-pepper", 0.05), 3) == "salt-pepper amount 0.05 per channel"


def test_the_evaluation_protocol_says_per_channel_for_colour_images(generator: torch.Generator) -> None:
    from denoiser.evaluation import score

    noise = create_noise("gaussian", 25, clip=False, scale=255)
    for channels, expected in ((1, "y = x + N(0, σ²), not clipped, σ = 25/255"),
                               (3, "y = x + N(0, σ²) per channel, not clipped, σ = 25/255")):  # fmt: skip
        clean = torch.rand(2, channels, 16, 16, generator=generator)
        noisy = noise(clean, generator)
        assert score(clean, noisy, clean, noise).protocol == expected, channels


def test_estimated_sigma_in_colour_is_one_number_over_the_channels(generator: torch.Generator) -> None:
    import numpy as np
    from skimage import data
    from skimage.restoration import estimate_sigma
    from skimage.util import img_as_float

    from denoiser.noise import EstimatedNoise, protocol_for

    clean = torch.from_numpy(img_as_float(data.astronaut())[200:328, 150:278]).permute(2, 0, 1)[None]  # (1, 3, 128, 128)
    noisy = create_noise("gaussian", 0.1, clip=False)(clean, generator)
    estimated = EstimatedNoise.of(noisy)
    expected = estimate_sigma(noisy[0].permute(1, 2, 0).numpy(), channel_axis=-1, average_sigmas=True)
    assert estimated.level == float(expected)
    assert estimated.level == pytest.approx(0.1, rel=0.1)
    gray = noisy[:, :1]
    assert EstimatedNoise.of(gray).level == float(estimate_sigma(gray[0, 0].numpy()))  # grayscale as before
    assert np.isfinite(estimated.level)
    assert protocol_for(estimated, 3).endswith(", one σ over all channels")
    assert protocol_for(estimated, 1) == estimated.protocol
