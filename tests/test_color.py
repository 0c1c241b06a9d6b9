"""Colour end to end: a colour sweep trains and scores colour models, labels its data as colour, draws
colour noise per channel, and a plugin model takes colour through a ``channels`` parameter."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
import torch
from rich.console import Console

from bench.config import ConfigError, load_config
from bench.sweep import run_sweep
from tests.conftest import CI_CONFIG, SHARED_DATA, requires_shared_data

COLOUR = ["speed_reference=false", "train.epochs=1", "train.batch_size=8", "data.params={tiles: 1, color: true}",
          "noise={gaussian: [0.1]}"]

PLUGIN = """
from torch import nn
from denoiser import register_model


@register_model("rgb-net")
def rgb_net(channels: int = 1, width: int = 4):
    '''Two convolutions, any channel count.'''
    return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, channels, 3, padding=1),
                         nn.Sigmoid())


@register_model("gray-only")
def gray_only():
    '''One convolution, grayscale only.'''
    return nn.Conv2d(1, 1, 3, padding=1)
"""


def colour_sweep(out: Path, *overrides: str):
    config = load_config(Path(CI_CONFIG), [*COLOUR, *overrides])
    return run_sweep(config, out, workers=1, console=Console(file=io.StringIO()))


def test_a_colour_sweep_trains_and_scores_colour_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "rgb_plugin.py").write_text(textwrap.dedent(PLUGIN))
    outcome = colour_sweep(tmp_path / "out", "plugins=[rgb_plugin]",
                           "models={dncnn: {depth: 3, width: 4}, dae: {latent_dim: 4}, rgb-net: {}, tv: {}}")
    assert all(record.status == "ok" for record in outcome.records), [(record.model, record.error) for record in outcome.records]
    learned = {record.model: record for record in outcome.records if record.learned}
    assert learned["dncnn"].params == {"depth": 3, "width": 4, "image_channels": 3}  # from the data
    assert learned["rgb-net"].params == {"channels": 3}  # a plugin's `channels`
    assert all(record.matched() is not None for record in learned.values())  # its training protocol says "per channel" too
    tv = next(record for record in outcome.records if record.model == "tv")
    assert tv.evaluations[0].settings["channel_axis"] == -1  # the colour options, recorded
    for record in outcome.records:
        assert record.dataset == "skimage-natural (colour)"
        assert all("per channel" in (item.protocol or "") for item in record.evaluations)
    checkpoint = torch.load(next((tmp_path / "out" / "checkpoints").glob("dncnn-*.pt")), weights_only=True)
    assert checkpoint["state_dict"]["layers.0.weight"].shape[1] == 3


def test_grayscale_cells_keep_their_ids() -> None:
    """Colour is added to a learned model's parameters only for colour data: grayscale ids do not move."""
    from bench.grid import build_cells

    cells = build_cells(load_config(Path(CI_CONFIG)))
    assert [cell.cell_id for cell in cells] == ["noisy-ffaec5624bb0b466", "dae-e1e81b37eb7422c3", "dae-86d079be8a3b9087"]


def test_a_model_that_cannot_take_colour_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "rgb_plugin.py").write_text(textwrap.dedent(PLUGIN))
    with pytest.raises(ConfigError, match="models.gray-only: cannot take colour images"):
        load_config(Path(CI_CONFIG), [*COLOUR, "plugins=[rgb_plugin]", "models={gray-only: {}}"])
    with pytest.raises(ConfigError, match="models.dncnn.image_channels: 1, but the data's images have 3 channels"):
        load_config(Path(CI_CONFIG), [*COLOUR, "models={dncnn: {depth: 3, width: 4, image_channels: 1}}"])


@requires_shared_data
def test_mcmaster_crops_are_scored_in_colour(tmp_path: Path) -> None:
    """The colour protocol on 2 McMaster images cropped to 96×96: CBM3D's neighbours (TV, the noisy input)."""
    from PIL import Image

    folder = tmp_path / "mcmaster"
    folder.mkdir()
    for name in ("1.tif", "2.tif"):
        Image.open(SHARED_DATA / "McMaster" / name).crop((100, 100, 196, 196)).save(folder / name)
    outcome = colour_sweep(tmp_path / "out", "models={tv: {}, dae: {latent_dim: 4}}", "evaluation.test_split=false",
                           "noise_options={gaussian: {clip: false, scale: 255}}", "noise={gaussian: [25]}",
                           f"evaluation.datasets={{mcmaster: {{dataset: folder, params: {{path: {folder}}}}}}}")
    noisy = next(record for record in outcome.records if record.model == "noisy").evaluations[0]
    assert noisy.dataset == "mcmaster (colour)" and noisy.protocol == "y = x + N(0, σ²) per channel, not clipped, σ = 25/255"
    assert abs(noisy.psnr - 20.17) < 0.3  # σ 25/255 unclipped: 20 log10(255/25) = 20.17 dB
    dae = next(record for record in outcome.records if record.model == "dae")  # tiled over the 96×96 colour crops
    assert dae.status == "ok" and dae.evaluations[0].tiled, dae.error
