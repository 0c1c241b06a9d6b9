"""One plan of variants (bench/variants.py) and one denoiser interface (denoiser/interface.py): each model
variant is built on the meta device once per sweep; whether a name is learned is decided there alone; a
method says itself which noise it cannot score, and scoring calls trained and classical denoisers alike."""

from __future__ import annotations

import ast
import io
import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from rich.console import Console

from bench.config import ConfigError, load_config
from bench.grid import build_cells
from bench.scoring import BaselineRun, Scoring
from bench.sweep import cell_memory, run_sweep
from bench.sweep_data import prepare_data
from bench.variants import variants
from denoiser.baselines import create_baseline
from denoiser.inference import LearnedDenoiser
from denoiser.interface import Denoiser
from denoiser.models import create_model
from denoiser.noise import create_noise
from tests.conftest import CI_CONFIG, REPOSITORY

TINY = [
    "speed_reference=false",
    "data.params={tiles: 1}",
    "models={dae: {latent_dim: [4, 8]}, dncnn: {depth: 3, width: 4}, tv: {sigma: [oracle, estimated]}}",
    "noise={gaussian: [0.1]}",
    "train.epochs=1",
    "train.patches_per_epoch=16",
]


def test_each_model_variant_is_built_on_the_meta_device_once_in_a_sweep(tmp_path: Path, monkeypatch) -> None:
    import denoiser.models

    built: Counter[str] = Counter()
    original = denoiser.models.create_model_shape

    def counted(name: str, **params: object) -> torch.nn.Module:
        built[f"{name} {json.dumps(params, sort_keys=True)}"] += 1
        return original(name, **params)

    monkeypatch.setattr(denoiser.models, "create_model_shape", counted)
    config = load_config(Path(CI_CONFIG), TINY)
    outcome = run_sweep(config, tmp_path / "run", workers=1, console=Console(file=io.StringIO()))
    assert all(record.status == "ok" for record in outcome.records)
    cell_memory(config, prepare_data(config), outcome.cells)  # what a CUDA sweep asks of the plan: no new build
    assert built == {
        'dae {"latent_dim": 4}': 1,
        'dae {"latent_dim": 8}': 1,
        'dncnn {"depth": 3, "width": 4}': 1,
    }
    assert [variant.learned for variant in variants(config)] == [False, True, True, True, False, False]


def test_the_plan_names_each_variant_once_and_the_grid_follows_it() -> None:
    config = load_config(Path(CI_CONFIG), TINY + ["models.noisy={}"])
    plan = variants(config)
    assert [(variant.model, variant.params) for variant in plan] == [
        ("noisy", {}),
        ("dae", {"latent_dim": 4}),
        ("dae", {"latent_dim": 8}),
        ("dncnn", {"depth": 3, "width": 4}),
        ("tv", {"sigma": "oracle"}),
        ("tv", {"sigma": "estimated"}),
    ]
    assert plan[1].image_size == 64 and plan[3].image_size is None
    assert variants(config) is plan  # asked again: the same plan, nothing rebuilt
    cells = build_cells(config)
    assert [cell.model for cell in cells] == ["noisy", "tv", "tv", "dae", "dae", "dncnn"]
    assert [cell.learned for cell in cells] == [False, False, False, True, True, True]


def test_no_learned_or_baseline_decision_by_name_outside_the_plan() -> None:
    """No ``name in MODELS`` / ``name in BASELINES`` test anywhere in the package but bench/variants.py."""
    offenders = []
    for path in sorted([*(REPOSITORY / "bench").glob("*.py"), *(REPOSITORY / "denoiser").glob("*.py")]):
        if path.name == "variants.py" and path.parent.name == "bench":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                names = {item.id for item in node.comparators if isinstance(item, ast.Name)}
                if names & {"MODELS", "BASELINES"}:
                    offenders.append(f"{path.relative_to(REPOSITORY)}:{node.lineno}")
    assert offenders == []


def test_an_empty_axis_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^models.dae.latent_dim: an empty list leaves dae no variant to run"):
        load_config(Path(CI_CONFIG), ["models={dae: {latent_dim: []}}"])


# ----------------------------------------------------------------------------- one interface


def test_trained_and_classical_denoisers_are_called_and_asked_alike() -> None:
    jpeg, gaussian = create_noise("jpeg", 30), create_noise("gaussian", 0.1)
    noisy = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    learned = LearnedDenoiser(create_model("dncnn", depth=3, width=4))
    told, estimated = create_baseline("tv"), create_baseline("tv", sigma="estimated")
    for method in (learned, told, estimated):
        assert isinstance(method, Denoiser)
        assert method(noisy, gaussian).shape == noisy.shape
        assert method.skip(gaussian) is None
    assert learned.skip(jpeg) is None and estimated.skip(jpeg) is None
    assert told.skip(jpeg) == (
        "sigma: oracle cannot tell tv the σ of jpeg noise, which has none; give sigma: estimated, "
        "or [oracle, estimated] for both (the oracle rows then leave jpeg out)"
    )
    assert BaselineRun(told).skip(jpeg) == told.skip(jpeg)  # the cell asks the method, not its name
    assert Scoring(learned, torch.device("cpu"), learned.tiling).tiling is None
    assert LearnedDenoiser(create_model("dae", latent_dim=4), stride=16).tiling == "64×64 windows, stride 16, averaged"


SKIPPING_PLUGIN = '''
from torch import nn

from denoiser import register_model


class NoJpeg(nn.Module):
    def __init__(self, blocks: bool) -> None:
        super().__init__()
        self.body = nn.Conv2d(1, 1, 3, padding=1)
        self.blocks = blocks

    def forward(self, noisy):
        return noisy - self.body(noisy)

    def skip(self, noise):
        return "trained for pixel noise only, not for JPEG blocks" if noise.family == "jpeg" and not self.blocks else None


@register_model("no-jpeg")
def no_jpeg(blocks: bool = False) -> nn.Module:
    return NoJpeg(blocks)
'''


def test_a_plugin_model_says_itself_which_noise_it_cannot_score(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "skipping_plugin.py").write_text(SKIPPING_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    base = [*TINY, "plugins=[skipping_plugin]", "models={no-jpeg: {}}"]
    with pytest.raises(ConfigError, match=r"^models.no-jpeg: trained for pixel noise only, not for JPEG blocks$"):
        load_config(Path(CI_CONFIG), [*base, "evaluation.noise={jpeg: [30]}"])
    both = [*base, "models={no-jpeg: {blocks: [false, true]}}", "evaluation.noise={jpeg: [30], gaussian: [0.1]}"]
    outcome = run_sweep(load_config(Path(CI_CONFIG), both), tmp_path / "run", workers=1, console=Console(file=io.StringIO()))
    pixels, blocks = [record for record in outcome.records if record.model == "no-jpeg"]
    assert pixels.status == blocks.status == "ok"
    assert [item.name for item in pixels.evaluations] == ["gaussian 0.1"]  # its own word: jpeg left out
    assert [item.name for item in blocks.evaluations] == ["jpeg 30", "gaussian 0.1"]
    noisy = next(record for record in outcome.records if record.model == "noisy")
    assert [item.name for item in noisy.evaluations] == ["jpeg 30", "gaussian 0.1"]
    sys.modules.pop("skipping_plugin", None)


RESIDUAL_PLUGIN = '''
from torch import nn

from denoiser import register_model


class Residual(nn.Module):
    def __init__(self, answer: str) -> None:
        super().__init__()
        self.body = nn.Conv2d(1, 1, 3, padding=1)
        self.skip = nn.Identity()  # a layer called skip: not the method's word on any noise
        self.answer = answer

    def forward(self, noisy):
        return self.skip(noisy) - self.body(noisy)


class Asked(Residual):
    def skip(self, noise):  # noqa: F811 - the method, this time
        if self.answer == "raise":
            raise RuntimeError("cannot say")
        return 3 if self.answer == "number" else None


@register_model("residual")
def residual() -> nn.Module:
    return Residual("none")


@register_model("asked")
def asked(answer: str = "none") -> nn.Module:
    return Asked(answer)
'''


def test_a_layer_called_skip_is_not_asked_and_a_skip_that_fails_is_one_line(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "residual_plugin.py").write_text(RESIDUAL_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    base = [*TINY, "plugins=[residual_plugin]", "evaluation.noise={gaussian: [0.1]}"]
    config = load_config(Path(CI_CONFIG), [*base, "models={residual: {}}"])
    assert [variant.skip(create_noise("gaussian", 0.1)) for variant in variants(config)] == [None, None]
    with pytest.raises(ConfigError, match=r"^models.asked: its skip fails on gaussian noise \(RuntimeError: cannot say\)$"):
        load_config(Path(CI_CONFIG), [*base, "models={asked: {answer: raise}}"])
    returned = r"^models.asked: its skip fails on gaussian noise \(DenoiserError: Asked.skip returned int"
    with pytest.raises(ConfigError, match=returned):
        load_config(Path(CI_CONFIG), [*base, "models={asked: {answer: number}}"])
    sys.modules.pop("residual_plugin", None)
