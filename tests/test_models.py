import pytest
import torch

from denoiser import ConfigurationError, MODELS, count_parameters, create_model

DAE_PARAMETERS = {32: 717_729, 64: 1_242_049, 128: 2_290_689, 256: 4_387_969}


@pytest.mark.parametrize("latent_dim, expected", sorted(DAE_PARAMETERS.items()))
def test_dae_has_the_designs_parameter_count(latent_dim: int, expected: int) -> None:
    assert count_parameters(create_model("dae", latent_dim=latent_dim)) == expected


def test_dae_default_is_latent_128() -> None:
    assert count_parameters(create_model("dae")) == DAE_PARAMETERS[128]


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_maps_a_batch_into_the_unit_range(name: str, device: torch.device, generator: torch.Generator) -> None:
    model = create_model(name).to(device).eval()
    batch = torch.rand(3, 1, 64, 64, generator=generator).to(device)
    with torch.no_grad():
        output = model(batch)
    assert output.shape == batch.shape
    assert output.min() >= 0 and output.max() <= 1


@pytest.mark.parametrize("height, width", [(37, 31), (32, 32), (128, 128)])
def test_dae_rejects_other_sizes_with_a_clear_error(height: int, width: int) -> None:
    model = create_model("dae")
    with pytest.raises(ConfigurationError, match=rf"dae needs 1×64×64 inputs, got 1×{height}×{width}"):
        model(torch.rand(2, 1, height, width))


def test_dae_other_image_size_is_a_parameter() -> None:
    model = create_model("dae", image_size=32).eval()
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 1, 32, 32)


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown model 'unet'; valid: .*dae"):
        create_model("unet")


def test_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"no parameter latent; valid: channels, image_channels, image_size, latent_dim"):
        create_model("dae", latent=3)


@pytest.mark.parametrize("latent_dim", [0, -4])
def test_impossible_latent_is_refused(latent_dim: int) -> None:
    with pytest.raises(ConfigurationError, match="latent_dim must be at least 1"):
        create_model("dae", latent_dim=latent_dim)


def test_the_dae_runs_on_a_whole_image_as_blended_overlapping_windows() -> None:
    from denoiser.inference import denoise, denoise_tiled

    torch.manual_seed(0)
    model = create_model("dae", latent_dim=8).eval()
    image = torch.rand(1, 1, 150, 96, generator=torch.Generator().manual_seed(1))  # windows at columns 0 and 32
    estimate = denoise_tiled(model, image, 64, 32)
    assert estimate.shape == image.shape and 0 <= estimate.min() and estimate.max() <= 1
    # the top-left corner is covered by one window only: it is that window's output
    assert torch.allclose(estimate[..., :32, :32], denoise(model, image[..., :64, :64])[..., :32, :32])
    # where two windows overlap, the output is their mean
    first, second = denoise(model, image[..., :64, :64]), denoise(model, image[..., :64, 32:96])
    assert torch.allclose(estimate[..., :32, 32:64], (first[..., :32, 32:] + second[..., :32, :32]) / 2, atol=1e-6)
    assert denoise_tiled(model, torch.rand(1, 1, 40, 50), 64, 32).shape == (1, 1, 40, 50)  # padded, then cropped
