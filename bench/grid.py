"""The sweep grid: a config expands into cells, each with an id that hashes everything that determines its result."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from bench.config import SweepConfig
from denoiser.baselines import BASELINES
from denoiser.models import MODELS

# Bump when a change to the code alters results, so that old records are recomputed.
RESULTS_FORMAT = 1


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
        """Short human-readable description, e.g. ``dae latent_dim=32 gaussian 0.1 seed 0``."""
        parts = [self.model] + [f"{name}={value}" for name, value in sorted(self.params.items())]
        if self.learned:
            parts += [f"{self.noise} {self.train_level:g}", f"seed {self.seed}"]
        return " ".join(parts)


def _is_axis(model: str, parameter: str, value: Any) -> bool:
    """A list is an axis, except for a tuple-valued parameter (``channels``), where a list of lists is."""
    if not isinstance(value, list):
        return False
    registry = MODELS if model in MODELS else BASELINES
    default = registry.get(model).parameters.get(parameter)
    if isinstance(default, tuple):
        return all(isinstance(item, list) for item in value)
    return True


def expand_parameters(model: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the axis parameters, e.g. {latent_dim: [32, 128]} → [{latent_dim: 32}, {latent_dim: 128}]."""
    names = sorted(params)
    choices = [params[name] if _is_axis(model, name, params[name]) else [params[name]] for name in names]
    return [dict(zip(names, combination)) for combination in itertools.product(*choices)]


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_cells(config: SweepConfig) -> list[Cell]:
    """All cells of the sweep in a stable order: the classical baselines first (quick, and they give
    early reference numbers), then the learned models."""
    shared = {
        "format": RESULTS_FORMAT,
        "data": config.to_dict()["data"],
        "evaluation": {"noise": config.eval_noise, "seed": config.evaluation.seed},
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
                identity = shared | {
                    "model": model, "params": combination, "noise": family, "level": level, "seed": seed,
                    "train": config.to_dict()["train"], "device": config.device,
                }
                cells.append(Cell(f"{model}-{_digest(identity)}", model, combination, True, family, level, seed))
    return cells
