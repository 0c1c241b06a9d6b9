"""The regression gate: compare a sweep's results with a committed baseline, in quality and in speed.

Quality: every cell's PSNR and SSIM at every evaluation level (deterministic on a CPU, so the
tolerances are small). Speed: with ``speed_reference: true`` in the config, each worker times
the suite's trainer and the founding design's loop in turn on the same fixed images and
records the ratio (``denoiser.design_loop.compare_with_design``), so that a slower machine
does not trip the gate and a slower trainer does.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.record import CellRecord
from bench.store import ResultStore, write_text
from denoiser.errors import DenoiserError

BASELINE_FORMAT = 1
DEFAULT_TOLERANCES = {"psnr_db": 0.05, "ssim": 0.002, "speed_ratio_fraction": 0.15}


class CheckError(DenoiserError):
    """A missing or malformed baseline, or a folder without results."""


@dataclass(frozen=True)
class Figure:
    """One compared number."""

    cell: str
    figure: str
    baseline: float
    current: float | None
    allowed: str
    passed: bool


def _run_records(run_dir: Path) -> list[CellRecord]:
    if not (run_dir / "results.csv").is_file():
        raise CheckError(f"{run_dir}: no results.csv here; run the sweep first")
    import pandas as pd

    cell_ids = list(dict.fromkeys(pd.read_csv(run_dir / "results.csv")["cell_id"]))
    return ResultStore(run_dir).read_records(cell_ids)


def speed_ratio(records: list[CellRecord]) -> float | None:
    """Median over learned cells of their worker's (trainer images/s) / (design loop images/s)."""
    ratios = [record.speed_ratio for record in records if record.speed_ratio]
    return statistics.median(ratios) if ratios else None


def baseline_from_run(run_dir: Path, tolerances: dict[str, float] | None = None) -> dict[str, Any]:
    """The baseline document for the run in ``run_dir``."""
    records = _run_records(run_dir)
    cells = {}
    for record in records:
        if record.status != "ok":
            raise CheckError(f"{run_dir}: cell {record.cell_id} did not finish ({record.status}); fix it before updating the baseline")
        cells[record.cell_id] = {
            "label": record.label(),
            "psnr": {record.evaluation_key(item): item.psnr for item in record.evaluations},
            "ssim": {record.evaluation_key(item): item.ssim for item in record.evaluations},
        }
    return {
        "format": BASELINE_FORMAT,
        "tolerances": tolerances or dict(DEFAULT_TOLERANCES),
        "speed_ratio": speed_ratio(records),
        "cells": cells,
    }


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckError(f"{path}: no such baseline file (create it with --update)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckError(f"{path}: not a baseline (invalid JSON: {error})") from None
    required = {"format", "tolerances", "speed_ratio", "cells"}
    if not isinstance(document, dict) or not required <= document.keys() or not isinstance(document["cells"], dict):
        raise CheckError(f"{path}: not a baseline (expected keys {', '.join(sorted(required))})")
    if document["format"] != BASELINE_FORMAT:
        raise CheckError(f"{path}: baseline format {document['format']!r}, this version reads {BASELINE_FORMAT}")
    tolerances = document["tolerances"]
    if not isinstance(tolerances, dict) or not all(
            isinstance(value, (int, float)) and not isinstance(value, bool) for value in tolerances.values()):
        raise CheckError(f"{path}: not a baseline (tolerances must map names to numbers)")
    if not all(isinstance(cell, dict) and isinstance(cell.get("psnr"), dict) and isinstance(cell.get("ssim"), dict)
               for cell in document["cells"].values()):
        raise CheckError(f"{path}: not a baseline (each cell needs psnr and ssim mappings)")
    missing = set(DEFAULT_TOLERANCES) - set(tolerances)
    if missing:
        raise CheckError(f"{path}: tolerances lack {', '.join(sorted(missing))}")
    return document


def compare(run_dir: Path, baseline: dict[str, Any]) -> list[Figure]:
    """Every figure of the baseline against the run."""
    records = {record.cell_id: record for record in _run_records(run_dir)}
    tolerances = baseline["tolerances"]
    figures: list[Figure] = []
    for cell_id, expected in baseline["cells"].items():
        record = records.get(cell_id)
        current = {}
        if record is not None and record.status == "ok":
            for item in record.evaluations:
                key = record.evaluation_key(item)
                current[("psnr", key)], current[("ssim", key)] = item.psnr, item.ssim
        for metric, tolerance, unit in (("psnr", tolerances["psnr_db"], " dB"), ("ssim", tolerances["ssim"], "")):
            for name, value in expected[metric].items():
                now = current.get((metric, name))
                passed = now is not None and now >= value - tolerance
                figures.append(Figure(expected["label"], f"{metric.upper()} at {name}", value, now, f"≥ {value - tolerance:.4f}{unit}", passed))
    if baseline["speed_ratio"] is not None:
        now = speed_ratio(list(records.values()))
        floor = baseline["speed_ratio"] * (1 - tolerances["speed_ratio_fraction"])
        figures.append(Figure("all learned cells", "speed vs the design loop (median ratio)", baseline["speed_ratio"], now,
                              f"≥ {floor:.3f}", now is not None and now >= floor))
    return figures


def write_baseline(path: Path, document: dict[str, Any]) -> None:
    if path.is_dir():
        raise CheckError(f"{path}: is a folder; give the baseline's file name, e.g. {path / 'ci.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(document, indent=1) + "\n")
    except OSError as error:
        raise CheckError(f"{path}: cannot write the baseline ({error.strerror or type(error).__name__})") from None
