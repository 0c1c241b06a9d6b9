import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from denoiser import create_noise, metrics
from denoiser.data import read_image
from tests.conftest import SET12, requires_shared_data


def skimage_ssim(clean: np.ndarray, estimate: np.ndarray) -> float:
    return structural_similarity(clean, estimate, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)


def assert_matches_skimage(clean: torch.Tensor, estimate: torch.Tensor) -> None:
    psnr = metrics.psnr(clean, estimate)
    ssim = metrics.ssim(clean, estimate)
    mse = metrics.mse(clean, estimate)
    assert psnr.shape == ssim.shape == mse.shape == (len(clean),)
    for index in range(len(clean)):
        x = clean[index, 0].double().numpy()
        y = estimate[index, 0].double().numpy()
        assert psnr[index].item() == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1), abs=1e-4)
        assert ssim[index].item() == pytest.approx(skimage_ssim(x, y), abs=1e-4)
        assert mse[index].item() == pytest.approx(np.mean((x - y) ** 2), rel=1e-9)


# past 512 pixels a side SSIM filters in blocks of 256 columns: sizes around the block edges, and one of a single block plus 11
@pytest.mark.parametrize("height, width", [(64, 64), (37, 31), (11, 11), (513, 40), (30, 523), (779, 768), (1035, 524)])
def test_metrics_equal_skimage_on_random_images(height: int, width: int, generator: torch.Generator) -> None:
    clean = torch.rand(5 if height * width < 10**5 else 1, 1, height, width, generator=generator)
    estimate = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    assert_matches_skimage(clean, estimate)


@requires_shared_data
def test_metrics_equal_skimage_on_set12_crops(generator: torch.Generator) -> None:
    crops = [read_image(SET12 / f"{index:02d}.png")[:, 100:164, 60:124] for index in range(1, 13)]
    clean = torch.stack(crops)  # (12, 1, 64, 64)
    for sigma in (0.03, 0.2):
        estimate = create_noise("gaussian", sigma)(clean, generator)
        assert_matches_skimage(clean, estimate)


def test_identical_images_score_perfectly() -> None:
    clean = torch.rand(2, 1, 16, 16)
    assert torch.all(metrics.psnr(clean, clean) == metrics.PSNR_CEILING)  # finite: it averages, ranks and fits in JSON
    assert torch.isnan(metrics.psnr(clean, clean * float("nan"))).all()  # a NaN estimate stays NaN: its cell fails
    assert torch.allclose(metrics.ssim(clean, clean), torch.ones(2, dtype=torch.float64))


def test_psnr_is_averaged_per_image_not_from_the_mean_mse() -> None:
    clean = torch.zeros(2, 1, 16, 16)
    estimate = torch.stack([torch.full((1, 16, 16), 0.1), torch.full((1, 16, 16), 0.01)])
    assert metrics.psnr(clean, estimate).tolist() == pytest.approx([20.0, 40.0])


def test_ssim_refuses_images_smaller_than_its_window() -> None:
    with pytest.raises(ValueError, match="at least 11×11"):
        metrics.ssim(torch.rand(1, 1, 10, 20), torch.rand(1, 1, 10, 20))


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        metrics.mse(torch.rand(1, 1, 8, 8), torch.rand(2, 1, 8, 8))


def test_every_registered_metric_runs_on_the_device_and_agrees_with_the_cpu(
    device: torch.device, generator: torch.Generator
) -> None:
    """Scoring runs where the cell's estimate is (the GPU for a learned cell there): within 1e-5 of the CPU."""
    from denoiser.evaluation import score
    from denoiser.noise import create_noise

    clean = torch.rand(3, 1, 37, 31, generator=generator)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    estimate = (clean + 0.02 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    noise = create_noise("gaussian", 0.1)
    on_cpu = score(clean, noisy, estimate, noise)
    on_device = score(clean, noisy, estimate.to(device), noise)
    assert set(on_cpu.metrics) == {metric.name for metric in metrics.registered()}
    for name, scores in on_cpu.metrics.items():
        assert on_device.metrics[name].mean == pytest.approx(scores.mean, abs=1e-5), name
        assert on_device.metrics[name].per_image == pytest.approx(scores.per_image, abs=1e-5), name


# past 512 pixels a side SSIM filters in blocks: 530×40 crosses that edge
@pytest.mark.parametrize("height, width", [(37, 31), (11, 11), (64, 64), (530, 40)])
def test_colour_metrics_equal_skimage_over_all_channels(height: int, width: int, generator: torch.Generator) -> None:
    clean = torch.rand(3, 3, height, width, generator=generator)  # (B, 3, H, W)
    estimate = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    psnr, ssim, mse = metrics.psnr(clean, estimate), metrics.ssim(clean, estimate), metrics.mse(clean, estimate)
    assert psnr.shape == ssim.shape == mse.shape == (3,)
    for index in range(len(clean)):
        x = clean[index].permute(1, 2, 0).double().numpy()  # (H, W, 3)
        y = estimate[index].permute(1, 2, 0).double().numpy()
        assert psnr[index].item() == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1), abs=1e-4)
        reference = structural_similarity(
            x, y, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1
        )
        assert ssim[index].item() == pytest.approx(reference, abs=1e-4)
        assert mse[index].item() == pytest.approx(np.mean((x - y) ** 2), rel=1e-9)
