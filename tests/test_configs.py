"""Every shipped config runs end to end: each file in configs/, with tiny overrides (one epoch, a handful of
patches, small learned models, one level per family, one or two images of each evaluation set), must end
with every cell ``ok``. What cannot be here is replaced or dropped with its reason: CIFAR-10's full download
by the shared sample, BM3D where its optional package is not installed, a Slurm cluster by local processes."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench.config import config_from_tree, read_yaml
from bench.sweep import run_sweep
from denoiser.models import MODELS
from tests.conftest import CIFAR_SAMPLE, REPOSITORY, SHARED_DATA

CONFIGS = sorted((REPOSITORY / "configs").glob("*.yaml"))
SMALL_MODELS = {"dae": {"latent_dim": 16}, "dncnn": {"depth": 3, "width": 8}}


def _first_levels(levels: list[Any]) -> list[Any]:
    """The first fixed level of a family, and its first range (blind training) where it has one."""
    fixed = [level for level in levels if not isinstance(level, dict)][:1]
    ranges = [level for level in levels if isinstance(level, dict)][:1]
    return fixed + ranges


def _tiny(tree: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The config shrunk to seconds, and what had to be changed because it cannot run here."""
    notes = []
    data = tree["data"]
    params = data.setdefault("params", {})
    if data["dataset"] == "cifar10":
        params.update(path=str(CIFAR_SAMPLE), limit=12)
        notes.append("CIFAR-10 read from the shared sample")
    elif data["dataset"] == "skimage-natural":
        params["tiles"] = 2
    else:
        params["limit"] = 12
    data["augment_copies"] = min(data.get("augment_copies", 0), 1)
    models = {}
    for name, model_params in tree["models"].items():
        if name == "bm3d" and importlib.util.find_spec("bm3d") is None:
            notes.append("bm3d dropped: its optional package is not installed")
            continue
        models[name] = SMALL_MODELS.get(name, {}) if name in MODELS else model_params
    tree["models"] = models
    tree["noise"] = {family: _first_levels(levels) for family, levels in tree["noise"].items()}
    evaluation = tree.get("evaluation", {})
    if "noise" in evaluation:
        evaluation["noise"] = {family: levels[:1] for family, levels in evaluation["noise"].items()}
    for dataset in evaluation.get("datasets", {}).values():
        dataset.setdefault("params", {})["limit"] = 1
    train = tree.setdefault("train", {})
    train.update(epochs=1, patience=0, batch_size=8)
    train.pop("decay_epoch", None)
    if train.get("patch_size"):
        train.update(patch_size=32, patches_per_epoch=16)
    tree.update(seeds=[0], speed_reference=False)
    if tree.get("executor") == "submitit":
        tree["submitit"] = {**tree.get("submitit", {}), "cluster": "local", "gpus_per_node": 0, "cpus_per_task": 1}
        notes.append("submitit on local processes")
    return tree, notes


def _needs_shared_data(tree: dict[str, Any]) -> bool:
    paths = [tree["data"].get("params", {}).get("path", "")]
    paths += [dataset.get("params", {}).get("path", "") for dataset in tree.get("evaluation", {}).get("datasets", {}).values()]
    return tree["data"]["dataset"] == "cifar10" or any("shared/data" in str(path) for path in paths)


def test_every_config_file_is_covered() -> None:
    assert len(CONFIGS) >= 9, [config.name for config in CONFIGS]


def _case(path: Path) -> Any:
    """Each config as one test case; the one that spawns submitit's processes runs with the heavy tests."""
    heavy = read_yaml(path).get("executor") == "submitit"
    return pytest.param(path, id=path.stem, marks=[pytest.mark.heavy] if heavy else [])


@pytest.mark.parametrize("path", [_case(config) for config in CONFIGS])
def test_a_shipped_config_runs_with_every_cell_ok(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree, notes = _tiny(read_yaml(path))
    if _needs_shared_data(tree) and not SHARED_DATA.is_dir():
        pytest.skip(f"{path.name} reads the real images at {SHARED_DATA} (../shared/data beside the checkout)")
    monkeypatch.chdir(REPOSITORY)  # the configs' relative paths (../shared/data) are from the repository root
    outcome = run_sweep(config_from_tree(tree), tmp_path / path.stem, workers=1, console=Console(file=io.StringIO()))
    statuses = {record.label(): (record.status, record.error) for record in outcome.records}
    assert statuses and all(status == "ok" for status, _ in statuses.values()), (notes, statuses)
