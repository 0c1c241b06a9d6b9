"""Adding a data set, a noise family and a plot takes one plugin file: each declares itself where it registers
(whole images and their pixels; a ladder and a level label; a figure for the report), and each appears in the
sweep, the tables and the report with no other edit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.store import ResultStore
from tests.conftest import CI_CONFIG, bench_here, plugin_module

PLUGIN = '''
import matplotlib.pyplot as plt
import torch

import bench
from bench.figures import save
from denoiser import ImageSet, register_dataset, register_noise
from denoiser.noise import GaussianNoise


def _images(count: int = 3, color: bool = False):
    generator = torch.Generator().manual_seed(7)
    return [(f"{index}.png", torch.rand(1, 3 if color else 1, 48, 40, generator=generator)) for index in range(count)]


@register_dataset("blobs", whole="images", load_whole=_images, pixels=lambda params, whole: 3 * 48 * 40)
def blobs(count: int = 8):
    """Random images: 64×64 tiles to train on, whole 48×40 images to score."""
    images = torch.rand(count, 1, 64, 64, generator=torch.Generator().manual_seed(8))
    return ImageSet(images, torch.arange(count), tuple(f"blob {index}" for index in range(count)))


@register_noise("grain", ladder=(0.02, 0.05, 0.1, 0.15, 0.2), level_label="grain σ")
def grain(level: float):
    """Film grain, here Gaussian noise by another name."""
    return GaussianNoise(float(level))


@bench.register_plot("scores_by_set", each="sweep")
def scores_by_set(rows, out):
    """Mean PSNR of each evaluation set."""
    figure, axis = plt.subplots()
    means = rows.groupby("dataset")["psnr"].mean()
    axis.bar(list(means.index), list(means.values))
    return save(figure, out / "scores_by_set.png")
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return plugin_module(tmp_path, monkeypatch, "one_plugin", PLUGIN)


def test_a_data_set_a_noise_family_and_a_plot_from_one_plugin_file(
    plugin: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    settings = [
        f"plugins=[{plugin}]",
        "speed_reference=false",
        "models={dncnn: {depth: 3, width: 4}, tv: {}}",
        "noise={grain: [0.1]}",
        "train.epochs=1",
        "train.patches_per_epoch=16",
        "evaluation.datasets={blobs: {dataset: blobs}}",
    ]
    arguments = [argument for setting in settings for argument in ("--set", setting)]
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--workers", "1", "--quiet", *arguments)
    assert code == 0, stderr

    # the sweep: every method scored on the plugin's set, under the plugin's noise
    records = ResultStore(out).read_records()
    assert {record.status for record in records} == {"ok"}
    for record in records:
        assert ("blobs", "grain 0.1") in {(item.dataset, item.name) for item in record.evaluations}, record.model

    # the tables: a leaderboard group of the plugin's set and family, in Markdown and JSON
    markdown = (out / "leaderboard.md").read_text()
    assert "blobs" in markdown and "grain" in markdown
    code, text, stderr = bench_here(capsys, "leaderboard", str(out), "--format", "json", "--plugin", plugin)
    assert code == 0, stderr
    groups = {(entry["dataset"], entry["eval_noise"]) for entry in json.loads(text)}
    assert ("blobs", "grain") in groups

    # the report: the plugin's figure beside the built-ins, the family's own figures drawn
    page = (out / "report.html").read_text()
    assert 'alt="scores_by_set"' in page and (out / "plots" / "scores_by_set.png").is_file()
    assert 'alt="quality_vs_noise_grain_blobs"' in page  # the family's figures, on the plugin's set
