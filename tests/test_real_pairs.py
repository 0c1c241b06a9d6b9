"""Real photographs: pair sets read as they ship (file-name patterns, named layouts), the σ told on real
pairs (each image's residual std), noise estimators as a registry, and the estimated-σ plot."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

from bench.config import ConfigError, expand_parameters, load_config
from bench.sweep import run_sweep
from denoiser.data import load_native, load_pairs
from denoiser.errors import ConfigurationError, DataError
from denoiser.estimators import ESTIMATORS, estimate, register_estimator
from denoiser.noise import RealNoise, create_noise, make_generator
from tests.conftest import SET12, SHARED_DATA, requires_shared_data

POLYU = SHARED_DATA / "PolyU"


def _write(path: Path, seed: int, noisy: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = np.full((24, 24, 3), 120.0) + (rng.normal(0, 8, (24, 24, 3)) if noisy else 0)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)


# ----------------------------------------------------------------------------- pair sets as they ship


def test_polyu_names_pair_by_layout_or_patterns_in_any_case(tmp_path: Path) -> None:
    for index, scene in enumerate(["Canon5D2_a_1", "Canon600D_b_2"]):
        _write(tmp_path / f"{scene}_mean.JPG", index)
        _write(tmp_path / f"{scene}_real.jpg", index, noisy=True)
    (tmp_path / "License.txt").write_text("not an image")
    by_layout = load_pairs(str(tmp_path), layout="polyu")
    by_patterns = load_pairs(str(tmp_path), clean="*_MEAN.jpg", noisy="*_real.JPG")
    assert [name for name, _, _ in by_layout] == [name for name, _, _ in by_patterns] == ["canon5d2_a_1", "canon600d_b_2"]
    assert all(torch.equal(a[2], b[2]) for a, b in zip(by_layout, by_patterns))
    assert [name for name, _, _ in load_pairs(str(tmp_path), layout="polyu", include="canon600d_*")] == ["canon600d_b_2"]


def test_sidd_scenes_pair_within_their_folders_by_prefix(tmp_path: Path) -> None:
    for scene in ("0001_001_S6", "0002_001_S6"):
        for shot in ("010", "011"):
            _write(tmp_path / "Data" / scene / f"GT_SRGB_{shot}.PNG", 1)
            _write(tmp_path / "Data" / scene / f"NOISY_SRGB_{shot}.PNG", 2, noisy=True)
    pairs = load_pairs(str(tmp_path), layout="sidd", color=True)
    assert [name for name, _, _ in pairs] == [f"Data/{scene}/{shot}.png" for scene in ("0001_001_S6", "0002_001_S6") for shot in ("010", "011")]
    assert pairs[0][1].shape == (1, 3, 24, 24)
    assert len(load_pairs(str(tmp_path), clean="gt_srgb_", noisy="noisy_srgb_")) == 4  # prefixes, any case


def test_files_that_do_not_pair_are_refused_in_one_line(tmp_path: Path) -> None:
    _write(tmp_path / "a_mean.JPG", 0)
    _write(tmp_path / "a_real.JPG", 0, noisy=True)
    _write(tmp_path / "b_mean.JPG", 1)
    with pytest.raises(DataError, match="1 image.s. without a partner, e.g. b_mean.JPG"):
        load_pairs(str(tmp_path), layout="polyu")
    (tmp_path / "b_mean.JPG").rename(tmp_path / "b.JPG")
    with pytest.raises(DataError, match=r"named neither \*_mean.jpg nor \*_real.jpg, e.g. b.JPG"):
        load_pairs(str(tmp_path), layout="polyu")
    assert len(load_pairs(str(tmp_path), layout="polyu", include="a_*")) == 1  # what include leaves out is not a stray
    for params, message in [
        ({"layout": "nope"}, "unknown pair layout"),
        ({"layout": "polyu", "clean": "*_mean.JPG"}, "either layout or clean and noisy"),
        ({"clean": "*_mean.JPG"}, "noisy: give the file-name pattern of both sides"),
        ({"clean": "*a*b", "noisy": "*_real.JPG"}, "at most one"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            load_pairs(str(tmp_path), **params)


def test_a_bad_pairs_parameter_is_refused_at_load(tmp_path: Path) -> None:
    _write(tmp_path / "a_mean.JPG", 0)
    _write(tmp_path / "a_real.JPG", 0, noisy=True)
    base = ["models={noisy: {}}", "noise={gaussian: [0.1]}", "speed_reference=false"]
    for params, message in [("layout: nope", "layout: unknown pair layout"), ("pattern: x", "pattern: no such parameter")]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [*base, f"evaluation.datasets={{real: {{dataset: pairs, params: {{path: {tmp_path}, {params}}}}}}}"])


def test_folder_include_keeps_the_files_it_matches(tmp_path: Path) -> None:
    for name in ("Canon5D2_x_mean.JPG", "Canon600D_y_mean.JPG", "Canon600D_y_real.JPG"):
        _write(tmp_path / name, 0)
    assert [name for name, _ in load_native("folder", path=str(tmp_path), include="canon600d_*_MEAN.jpg")] == ["Canon600D_y_mean.JPG"]


# ----------------------------------------------------------------------------- the σ told on real pairs


def test_the_sigma_told_on_a_pair_is_its_residual_std_over_all_channels() -> None:
    clean = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    noisy = clean + 0.05 * torch.randn(1, 3, 20, 30, generator=torch.Generator().manual_seed(1))
    told = RealNoise.of(clean, noisy)
    assert told.equivalent_sigma == pytest.approx(float(np.std((noisy - clean).double().numpy())), abs=1e-12)
    assert told.family == "real"


@requires_shared_data
def test_polyu_in_place_oracle_tv_is_scikit_images_call(tmp_path: Path) -> None:
    from skimage.metrics import peak_signal_noise_ratio
    from skimage.restoration import denoise_tv_chambolle

    overrides = [
        "data.params={tiles: 2, color: true}", "data.augment_copies=0", "noise={gaussian: [0.1]}", "speed_reference=false",
        "evaluation.test_split=false", "models={tv: {sigma: [oracle, estimated], estimator: weak-texture}}",
        f"evaluation.datasets={{polyu: {{dataset: pairs, params: {{path: {POLYU}, layout: polyu, limit: 3}}}}}}",
    ]  # fmt: skip
    outcome = run_sweep(load_config(None, overrides), tmp_path / "out", workers=1, console=Console(file=io.StringIO()))
    scores = {record.params.get("sigma"): record.evaluations[0] for record in outcome.records if record.model == "tv"}
    pairs = load_pairs(str(POLYU), layout="polyu", color=True, limit=3)
    expected_psnr, truths = [], []
    for _, clean, noisy in pairs:
        clean_image, noisy_image = (image[0].permute(1, 2, 0).double().numpy() for image in (clean, noisy))
        truth = float(np.std(noisy_image - clean_image))
        estimate_ = denoise_tv_chambolle(noisy_image, weight=truth, channel_axis=-1)
        expected_psnr.append(peak_signal_noise_ratio(clean_image, np.clip(estimate_, 0, 1), data_range=1))
        truths.append(truth)
    assert scores["oracle"].psnr == pytest.approx(np.mean(expected_psnr), abs=1e-3)
    assert scores["oracle"].settings["sigma_per_image"] == pytest.approx(truths, abs=1e-6)
    estimated = scores["estimated"].settings
    assert estimated["estimator"] == "weak-texture" and estimated["sigma_true_per_image"] == pytest.approx(truths, abs=1e-6)
    assert estimated["sigma_per_image"] != estimated["sigma_true_per_image"]
    assert scores["oracle"].level == pytest.approx(np.mean(truths), abs=1e-6)
    from bench.report import write_report

    drawn = {path.name for path in write_report(tmp_path / "out")}
    assert "estimated_sigma_real.png" in drawn  # each image's estimate against its truth, with the diagonal


# ----------------------------------------------------------------------------- estimators


def test_estimators_are_a_registry_and_a_plugin_can_add_one() -> None:
    assert {"wavelet", "weak-texture"} <= set(ESTIMATORS.names())

    @register_estimator("half-range")
    def half_range(noisy: torch.Tensor) -> float:
        """half the image's range"""
        return float(noisy.max() - noisy.min()) / 2

    from denoiser.baselines import create_baseline

    baseline = create_baseline("tv", sigma="estimated", estimator="half-range")
    told = baseline.told(torch.zeros(2, 1, 16, 16).index_fill_(2, torch.tensor([0]), 0.5), create_noise("gaussian", 0.1))
    assert [noise.level for noise in told] == [0.25, 0.25]
    with pytest.raises(ConfigurationError, match="estimator must be one of"):
        create_baseline("tv", sigma="estimated", estimator="nope")


def test_an_estimator_without_sigma_estimated_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="models.tv.estimator: only sigma: estimated uses an estimator"):
        load_config(None, ["models={tv: {estimator: weak-texture}}"])
    load_config(None, ["models={tv: {sigma: [oracle, estimated], estimator: weak-texture}}"])  # accepted


def test_an_estimator_axis_is_one_variant_per_estimator_and_one_oracle() -> None:
    variants = expand_parameters("tv", {"sigma": ["oracle", "estimated"], "estimator": ["wavelet", "weak-texture"]})
    assert variants == [
        {"sigma": "oracle"}, {"estimator": "wavelet", "sigma": "estimated"}, {"estimator": "weak-texture", "sigma": "estimated"}
    ]  # fmt: skip


@requires_shared_data
def test_weak_texture_sees_correlated_noise_and_stays_true_on_white_noise() -> None:
    images = [image for _, image in load_native("folder", path=str(SET12))][::2]  # six of the twelve
    sigma = 25 / 255

    def mean_ratio(name: str, family: str, **options: float) -> float:
        noise = create_noise(family, sigma, clip=False, **options)
        return float(np.mean([estimate(name, noise(image.clone(), make_generator(index))) for index, image in enumerate(images)])) / sigma

    assert mean_ratio("weak-texture", "correlated-gaussian", width=1.0) >= 0.75
    assert mean_ratio("wavelet", "correlated-gaussian", width=1.0) < 0.3  # the default is blind to it
    assert mean_ratio("weak-texture", "gaussian") == pytest.approx(1.0, abs=0.05)


def test_weak_texture_reads_a_flat_image_exactly_and_takes_small_images() -> None:
    for shape, sigma in [((1, 1, 128, 128), 0.05), ((1, 3, 64, 80), 0.1), ((1, 1, 20, 20), 0.05)]:
        flat = torch.full(shape, 0.5) + sigma * torch.randn(shape, generator=torch.Generator().manual_seed(3))
        assert estimate("weak-texture", flat) == pytest.approx(sigma, rel=0.1)
