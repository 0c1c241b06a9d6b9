"""What a registered entry declares about itself (``register(name, **metadata)``), and that a plugin's
data set or noise family declaring it is treated as a built-in one, with no other edit."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from bench.config import ConfigError, load_config
from bench.plots import _level_label
from bench.schema import COLOUR_MARK, DataConfig, check_name
from bench.sweep import run_sweep
from denoiser import ConfigurationError, register_dataset
from denoiser.data import check_params, expected_whole_pixels, whole_datasets, whole_kind
from denoiser.noise import ladder, level_label
from denoiser.registry import MAX_NAME, Registry, name_problem
from tests.conftest import CI_CONFIG, plugin_module


def test_metadata_is_kept_read_only_and_empty_by_default() -> None:
    registry: Registry = Registry("plot")
    registry.register("plain")(lambda: None)
    registry.register("drawn", kind="line", columns=("psnr",))(lambda: None)
    assert dict(registry.get("plain").metadata) == {}
    assert registry.get("drawn").metadata == {"kind": "line", "columns": ("psnr",)}
    with pytest.raises(TypeError):
        registry.get("drawn").metadata["kind"] = "bar"  # type: ignore[index]


def test_the_built_in_data_sets_declare_what_they_give_on_whole_images() -> None:
    assert {name: whole_kind(name) for name in ("folder", "skimage-natural", "pairs", "cifar10", "mnist")} == {
        "folder": "images", "skimage-natural": "images", "pairs": "pairs", "cifar10": None, "mnist": None}
    assert whole_datasets() == ["folder", "pairs", "skimage-natural"]
    assert expected_whole_pixels("skimage-natural", {"limit": 1}) == 512 * 512  # astronaut, from its header


def test_the_built_in_families_declare_their_ladder_and_label() -> None:
    assert ladder("jpeg") == (80, 60, 40, 25, 10)
    assert _level_label("gaussian") == level_label("gaussian") == "σ (std of the noise, [0, 1] scale)"
    assert _level_label("real") == "real severity"  # the noise already in pairs: no family registered


@pytest.mark.parametrize("metadata, message", [
    ({"whole": "tiles"}, "whole must be images, pairs or None"),
    ({"whole": "images"}, "whole and load_whole go together"),
    ({"whole": "images", "load_whole": lambda path: []}, "load_whole must take color"),
    ({"pixels": 3}, "pixels must be a function"),
])
def test_data_set_metadata_is_checked_where_it_registers(metadata: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        register_dataset("odd", **metadata)


PLUGIN = '''
import torch
from denoiser import ImageSet, register_dataset, register_noise
from denoiser.noise import GaussianNoise


def images(count: int = 2, color: bool = False):
    generator = torch.Generator().manual_seed(count)
    return [(f"{index}.png", torch.rand(1, 3 if color else 1, 40, 33, generator=generator)) for index in range(count)]


def pairs(count: int = 2, color: bool = False):
    return [(name, clean, (clean + 0.05).clamp(0, 1)) for name, clean in images(count, color)]


def pixels(params, whole):
    return int(params.get("count", 2)) * 40 * 33 * (2 if whole else 1)


@register_dataset("meta-whole", whole="images", load_whole=images, pixels=pixels)
def whole_set():
    """Random images, scored whole."""
    return ImageSet(torch.rand(8, 1, 64, 64), torch.arange(8), tuple(map(str, range(8))))


@register_dataset("meta-pairs", whole="pairs", load_whole=pairs, train=False)
def pair_set():
    """Random pairs, their noise in them."""
    raise RuntimeError("scored only")


@register_noise("meta-noise", ladder=(0.01, 0.02, 0.03, 0.04, 0.05), level_label="meta σ")
def noise(level: float):
    """Gaussian noise by another name."""
    return GaussianNoise(level)
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return plugin_module(tmp_path, monkeypatch, "meta_plugin", PLUGIN)


def test_a_plugins_declarations_reach_the_checks_the_sweep_and_the_plots(plugin: str, tmp_path: Path) -> None:
    sets = "evaluation.datasets={whole: {dataset: meta-whole, params: {count: 3}}, real: {dataset: meta-pairs}}"
    overrides = ["speed_reference=false", "train.epochs=1", "data.params={tiles: 2}", f"plugins=[{plugin}]",
                 "models={noisy: {}}", "noise={meta-noise: [0.02]}", sets]
    config = load_config(Path(CI_CONFIG), overrides)
    assert ladder("meta-noise") == (0.01, 0.02, 0.03, 0.04, 0.05) and _level_label("meta-noise") == "meta σ"
    with pytest.raises(ConfigurationError, match=r"^tiles: no such parameter; valid: count, color$"):
        check_params("meta-whole", {"tiles": 2}, whole=True)
    with pytest.raises(ConfigError, match="'meta-pairs' is scored only, in evaluation.datasets"):
        load_config(Path(CI_CONFIG), [*overrides, "data.dataset=meta-pairs", "data.params={}"])
    outcome = run_sweep(config, tmp_path / "out", workers=1, console=Console(file=io.StringIO()))
    scored = {(item.dataset, item.noise) for record in outcome.records for item in record.evaluations}
    assert {("whole", "meta-noise"), ("real", "real")} <= scored, [record.error for record in outcome.records]


def test_a_plugins_whole_images_are_held_to_the_memory_bound(plugin: str) -> None:
    huge = "evaluation.datasets={whole: {dataset: meta-whole, params: {count: 1000000}}}"
    with pytest.raises(ConfigError, match="evaluation.datasets: .* megapixels of whole images"):
        load_config(Path(CI_CONFIG), [f"plugins=[{plugin}]", huge])


def test_one_rule_for_names_registered_or_configured() -> None:
    for name in ("x" * (MAX_NAME + 1), " ", "a\nb", "a/b"):
        problem = name_problem(name)
        assert problem is not None
        with pytest.raises(ConfigError, match=f"^data.name: .* {re.escape(problem)}$"):
            check_name("data.name", name)
    assert name_problem("x" * MAX_NAME) is None


def test_one_colour_mark() -> None:
    assert DataConfig(params={"color": True}).label == "skimage-natural" + COLOUR_MARK
