"""The sweep grid: a config expands into cells, each with an id that hashes everything that determines its result."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from bench.config import SweepConfig, expand_parameters
from bench.record import describe
from denoiser.baselines import BASELINES
from denoiser.models import MODELS

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
    train_level: float | None
    seed: int | None

    def label(self) -> str:
        """e.g. ``dae latent_dim=32 (trained gaussian 0.1) seed 0``."""
        return describe(self.model, self.params, self.noise, self.train_level, self.seed)


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` or ``cpu``, as the cells will run: a cell id hashes the device that ran it."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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
    cells: list[Cell] = []
    baselines = {"noisy": {}} | {name: params for name, params in config.models.items() if name in BASELINES}
    for model, params in baselines.items():
        for combination in expand_parameters(model, params):
            identity = shared | {"model": model, "params": combination}
            cells.append(Cell(f"{model}-{_digest(identity)}", model, combination, False, None, None, None))
    for model, params in config.models.items():
        if model not in MODELS:
            continue
        for combination, (family, levels), seed in itertools.product(
            expand_parameters(model, params), config.noise.items(), config.seeds
        ):
            for level in levels:
                device = resolve_device(config.device)
                identity = shared | {
                    "model": model, "params": combination, "noise": family, "level": level, "seed": seed,
                    "train": config.to_dict()["train"], "device": device,
                }
                if device.startswith("cuda"):  # the CPU's kernels are deterministic either way: its ids stay
                    identity["deterministic"], identity["tf32"] = config.deterministic, config.tf32
                cells.append(Cell(f"{model}-{_digest(identity)}", model, combination, True, family, level, seed))
    return cells
