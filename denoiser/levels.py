"""Noise levels as configs and records write them: one level (a number), or a range that every training
image draws its own level from (blind training). Free of torch, so that reading a config stays light."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from denoiser.errors import ConfigurationError


@dataclass(frozen=True)
class LevelRange:
    """A training level that is a range: every training image draws its own level uniformly from
    [min, max] (blind training, as DnCNN-B: σ uniform in [0, 55]/255 for every patch). Written
    ``{min: 0, max: 55}`` in a family's list of training levels; labelled ``0–55``."""

    min: float
    max: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            raise ConfigurationError(f"a level range needs finite ends, got min {self.min}, max {self.max}")
        if not self.min < self.max:
            raise ConfigurationError(
                f"a level range needs min < max, got min {self.min:g}, max {self.max:g} (one level is written as a number)"
            )

    def __str__(self) -> str:
        return f"{self.min:g}–{self.max:g}"

    def __format__(self, spec: str) -> str:  # labels write levels with :g; a range reads "0–55" there
        return str(self)

    def __repr__(self) -> str:  # as a config writes it
        return f"{{min: {self.min:g}, max: {self.max:g}}}"

    def to_dict(self) -> dict[str, float]:
        return {"min": self.min, "max": self.max}


Level = float | LevelRange  # a training level: one level, or a range drawn from per image


def read_level(value: Any) -> Any:
    """A level from its stored form: ``{"min": …, "max": …}`` is a range; anything else as it is."""
    if isinstance(value, dict) and set(value) == {"min", "max"}:
        return LevelRange(float(value["min"]), float(value["max"]))
    return value


def level_text(level: Level) -> str:
    """``0.1``, or ``0–55`` for a range."""
    return str(level) if isinstance(level, LevelRange) else f"{level:g}"
