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
    with pytest.raises(ConfigurationError, match="unknown noise model 'pink'; valid: gaussian"):
        create_noise("pink", 0.1)
