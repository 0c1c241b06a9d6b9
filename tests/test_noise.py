import pytest
import torch

from denoiser import ConfigurationError, NOISE, create_noise, make_generator


@pytest.mark.parametrize("name", NOISE.names())
def test_same_seed_same_noise_other_seed_other_noise(name: str, device: torch.device) -> None:
    clean = torch.full((4, 1, 64, 64), 0.5, device=device)
    noise = create_noise(name, 0.1)
    first = noise(clean, make_generator(7, device))
    again = noise(clean, make_generator(7, device))
    other = noise(clean, make_generator(8, device))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", NOISE.names())
def test_output_stays_in_the_unit_range(name: str, generator: torch.Generator) -> None:
    clean = torch.rand(8, 1, 64, 64, generator=generator)
    noisy = create_noise(name, 0.5)(clean, generator)
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
    with pytest.raises(ConfigurationError, match="unknown noise model 'pink'; valid: gaussian, poisson, salt-pepper, speckle"):
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


@pytest.mark.parametrize("name, level, message", [
    ("poisson", 0.0, "photon scale must be > 0"),
    ("salt-pepper", 1.5, "amount must be between 0 and 1"),
    ("speckle", -1.0, "speckle sigma must be ≥ 0"),
])
def test_impossible_levels_are_refused(name: str, level: float, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_noise(name, level)


@pytest.mark.parametrize("name", NOISE.names())
def test_equivalent_sigma_is_the_std_on_mid_grey(name: str, generator: torch.Generator) -> None:
    level = {"gaussian": 0.1, "poisson": 50.0, "salt-pepper": 0.05, "speckle": 0.2}[name]
    noise = create_noise(name, level)
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
