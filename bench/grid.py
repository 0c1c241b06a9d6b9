"""The sweep grid: a config expands into cells, each with an id that hashes everything that determines its
result: the settings, and the code (the package's version, a plugin's source by hash; see README, "Resume")."""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import denoiser
from bench.config import SweepConfig
from bench.record import describe
from bench.variants import Variant, method_entry, variants
from denoiser.data import DATASETS
from denoiser.devices import pick_device
from denoiser.levels import LevelRange
from denoiser.noise import NOISE
from denoiser.registry import Entry

# Bump when a change to the code alters results, so that old records are recomputed.
RESULTS_FORMAT = 3


@dataclass(frozen=True)
class Cell:
    """One unit of work: a learned model trained on one noise level with one seed, or one classical baseline."""

    cell_id: str
    model: str
    params: dict[str, Any]
    learned: bool
    noise: str | None  # training noise family; None for classical baselines
    train_level: float | LevelRange | None  # a range: blind training, each image drawing its level from it
    seed: int | None
    # what code produced its numbers: piece → version (see code_versions); part of the id, kept in the record
    code: dict[str, str] = field(default_factory=dict)
    setting_id: str = ""  # the id without the code: the same cell under other code has the same setting_id

    def label(self) -> str:
        """e.g. ``dae latent_dim=32 (trained gaussian 0.1) seed 0``."""
        return describe(self.model, self.params, self.noise, self.train_level, self.seed)


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _package_module(module: str) -> bool:
    return module.split(".")[0] in ("denoiser", "bench")


@functools.cache
def _source_digest(path: str, modified: int, size: int) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


def source_version(entry: Entry) -> str:
    """The version of the code behind a registered name: the package's version for the package's own
    entries; for a plugin's, its module and the hash of that module's source file, so that an edit of
    the plugin changes the ids of the cells it made (a helper module it imports is not covered)."""
    if _package_module(entry.module):
        return f"denoise-bench {denoiser.__version__}"
    try:
        module = sys.modules.get(entry.module)
        path = getattr(module, "__file__", None) or inspect.getsourcefile(entry.factory)
        if path is None:
            raise TypeError
        return f"{entry.module} sha256:{_source_digest(path, os.stat(path).st_mtime_ns, os.stat(path).st_size)}"
    except (TypeError, OSError):  # defined where no source file exists (an interactive session)
        return f"{entry.module} (no source file: its edits are not seen)"


def code_versions(config: SweepConfig, variant: Variant) -> dict[str, str]:
    """Every registered piece a cell runs: its model or baseline, the noise families it trains and is
    scored on, and its data set; each with :func:`source_version`."""
    entry, _ = method_entry(variant.model)
    pieces: dict[str, Entry[Any]] = {f"{'model' if variant.learned else 'baseline'} {variant.model}": entry}
    families = set(config.eval_noise) | (set(config.noise) if variant.learned else set())
    pieces |= {f"noise {family}": NOISE.get(family) for family in sorted(families)}
    pieces[f"data set {config.data.dataset}"] = DATASETS.get(config.data.dataset)
    return {name: source_version(entry) for name, entry in pieces.items()}


def changed_code(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """The pieces whose code differs, e.g. ``["model mine (my_plugin)"]``."""
    return [f"{name} ({new[name].split(' ')[0]})" for name in sorted(new) if old.get(name) != new[name]]


def build_cells(config: SweepConfig) -> list[Cell]:
    """All cells of the sweep in a stable order: the classical baselines first (quick, and they give
    early reference numbers), then the learned models."""
    shared = {
        "format": RESULTS_FORMAT,
        "data": config.to_dict()["data"],
        "evaluation": {"noise": config.eval_noise, "seed": config.evaluation.seed},
        "noise_options": config.noise_options,
        "threads": config.threads,
    }
    return _baseline_cells(config, shared) + _learned_cells(config, shared)


def _cell(
    model: str,
    params: dict[str, Any],
    identity: dict[str, Any],
    code: dict[str, str],
    training: tuple[str | None, float | LevelRange | None, int | None] = (None, None, None),
) -> Cell:
    """A cell whose id hashes ``identity`` and the code behind it; its setting id, the identity alone."""
    noise, level, seed = training
    return Cell(
        f"{model}-{_digest(identity | {'code': code})}",
        model,
        params,
        noise is not None,
        noise,
        level,
        seed,
        code,
        _digest(identity),
    )


def _baseline_cells(config: SweepConfig, shared: dict[str, Any]) -> list[Cell]:
    cells = []
    for variant in (variant for variant in variants(config) if not variant.learned):
        identity = shared | {"model": variant.model, "params": variant.params}
        cells.append(_cell(variant.model, variant.params, identity, code_versions(config, variant)))
    return cells


def _learned_cells(config: SweepConfig, shared: dict[str, Any]) -> list[Cell]:
    device = str(pick_device(config.device))  # as the cells will run: a cell id hashes the device that ran it
    cells = []
    for variant in (variant for variant in variants(config) if variant.learned):
        code = code_versions(config, variant)
        for (family, levels), seed in itertools.product(config.noise.items(), config.seeds):
            for level in levels:
                identity = shared | {
                    "model": variant.model,
                    "params": variant.params,
                    "noise": family,
                    "level": level.to_dict() if isinstance(level, LevelRange) else level,
                    "seed": seed,
                    "train": config.to_dict()["train"],
                    "device": device,
                }
                if config.precision != "float32":  # float32 cells keep the ids they always had
                    identity["precision"] = config.precision
                if device.startswith("cuda"):  # the CPU's kernels are deterministic either way: its ids stay
                    identity["deterministic"], identity["tf32"] = config.deterministic, config.tf32
                cells.append(_cell(variant.model, variant.params, identity, code, (family, level, seed)))
    return cells
