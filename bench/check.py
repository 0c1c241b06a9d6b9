"""The regression gate: compare a sweep's results with a committed baseline, in quality and in speed.

Quality: every metric the baseline holds (the committed one: PSNR and SSIM), for every cell at every
evaluation level, in the metric's own direction (deterministic on a CPU, so the tolerances are small).
Speed: with ``speed_reference: true`` in the config, each worker times the suite's trainer and the
founding design's loop in turn on the same fixed images and records the ratio
(``denoiser.design_loop.compare_with_design``), so that a slower machine does not trip the gate and a
slower trainer does.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.record import CellRecord
from bench.results import Results
from bench.store import write_text
from denoiser.errors import DenoiserError
from denoiser.metrics import METRICS

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


def shown(value: float | None) -> str:
    """A compared number as the table and the regression lines print it: ``missing`` where the run has none."""
    return "missing" if value is None else f"{value:.4f}"


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def speed_ratio(records: list[CellRecord]) -> float | None:
    """Median over learned cells of their worker's (trainer images/s) / (design loop images/s)."""
    ratios = [ratio for ratio in (record.speed_ratio for record in records) if ratio is not None and _finite(ratio) and ratio > 0]
    return statistics.median(ratios) if ratios else None


def baseline_from_run(run: Results, tolerances: dict[str, float] | None = None) -> dict[str, Any]:
    """The baseline document for the run's records (:func:`bench.results.read_folder`: an interrupted run's too)."""
    records = run.records
    cells = {}
    for record in records:
        if record.status != "ok":
            raise CheckError(
                f"{run.root}: cell {record.cell_id} did not finish ({record.status}); fix it before updating the baseline"
            )
        cells[record.cell_id] = {"label": record.label()} | {
            metric: {record.evaluation_key(item): item.metrics[metric].mean for item in record.evaluations}
            for metric in dict.fromkeys(name for item in record.evaluations for name in item.metrics)
        }
    return {
        "format": BASELINE_FORMAT,
        "tolerances": tolerances or dict(DEFAULT_TOLERANCES),
        "speed_ratio": speed_ratio(records),
        "cells": cells,
    }


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def read_baseline(path: Path) -> dict[str, Any]:
    """The baseline document in ``path``, checked: every figure a finite number; one line for anything else."""
    try:
        document = json.loads(path.read_text(), parse_constant=_no_constant)  # NaN and Infinity are not JSON
    except FileNotFoundError:
        raise CheckError(f"{path}: no such baseline file (create it with --update)") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise CheckError(f"{path}: not a baseline (invalid JSON: {error})") from None
    required = {"format", "tolerances", "speed_ratio", "cells"}
    if not isinstance(document, dict) or not required <= document.keys() or not isinstance(document["cells"], dict):
        raise CheckError(f"{path}: not a baseline (expected keys {', '.join(sorted(required))})")
    if document["format"] != BASELINE_FORMAT:
        raise CheckError(f"{path}: baseline format {document['format']!r}, this version reads {BASELINE_FORMAT}")
    tolerances = document["tolerances"]
    if not isinstance(tolerances, dict) or not all(_finite(value) for value in tolerances.values()):
        raise CheckError(f"{path}: not a baseline (tolerances must map names to numbers)")
    if not all(
        isinstance(cell, dict) and isinstance(cell.get("psnr"), dict) and isinstance(cell.get("ssim"), dict)
        for cell in document["cells"].values()
    ):
        raise CheckError(f"{path}: not a baseline (each cell needs psnr and ssim mappings)")
    if not all(
        isinstance(cell.get("label"), str)
        and all(isinstance(figures, dict) and all(map(_finite, figures.values())) for key, figures in _figures(cell))
        for cell in document["cells"].values()
    ):
        raise CheckError(f"{path}: not a baseline (each cell needs a label, and finite numbers as its psnr and ssim)")
    if document["speed_ratio"] is not None and not (_finite(document["speed_ratio"]) and document["speed_ratio"] > 0):
        raise CheckError(f"{path}: not a baseline (speed_ratio must be a positive number or null)")
    missing = set(DEFAULT_TOLERANCES) - set(tolerances)
    if missing:
        raise CheckError(f"{path}: tolerances lack {', '.join(sorted(missing))}")
    return document


def compare(run: Results, baseline: dict[str, Any]) -> list[Figure]:
    """Every figure of the baseline against the run's records; a run that holds none of the baseline's cells is
    another sweep (or none), which no figure can be compared with: one line."""
    records = {record.cell_id: record for record in run.records}
    _same_sweep(run.root, records, baseline)
    tolerances = baseline["tolerances"]
    figures: list[Figure] = []
    for cell_id, expected in baseline["cells"].items():
        record = records.get(cell_id)
        current: dict[tuple[str, str], float] = {}
        if record is not None and record.status == "ok":
            for item in record.evaluations:
                key = record.evaluation_key(item)
                current |= {(metric, key): scores.mean for metric, scores in item.metrics.items()}
        for metric, values in _figures(expected):
            figures += [
                _figure(expected["label"], metric, name, value, current.get((metric, name)), tolerances)
                for name, value in values.items()
            ]
    if baseline["speed_ratio"] is not None:
        now = speed_ratio(list(records.values()))
        floor = baseline["speed_ratio"] * (1 - tolerances["speed_ratio_fraction"])
        figures.append(
            Figure(
                "all learned cells",
                "speed vs the design loop (median ratio)",
                baseline["speed_ratio"],
                now,
                f"≥ {floor:.3f}",
                now is not None and now >= floor,
            )
        )
    return figures


def _figures(cell: dict[str, Any]) -> list[tuple[str, Any]]:
    """A baseline cell's metrics: every key but its label maps evaluations to that metric's value."""
    return [(key, values) for key, values in cell.items() if key != "label"]


def _figure(cell: str, metric: str, evaluation: str, value: float, now: float | None, tolerances: dict[str, float]) -> Figure:
    """One metric at one evaluation against the baseline: it may fall (or, lower being better, rise) by its
    tolerance (``psnr_db`` for PSNR, the metric's own name for any other; a metric without one: two
    units of its last displayed digit)."""
    if metric not in METRICS:  # a plugin's metric: its direction is the plugin's to say
        raise CheckError(
            f"the baseline gates metric {metric!r}, not registered here: pass --plugin with the module that registers it"
        )
    registered = METRICS.create(metric)
    higher = registered.higher_is_better
    default = 2 * 10**-registered.digits
    tolerance = tolerances.get("psnr_db" if metric == "psnr" else metric, default)
    bound = value - tolerance if higher else value + tolerance
    passed = now is not None and (now >= bound if higher else now <= bound)
    unit = " dB" if metric == "psnr" else ""
    return Figure(cell, f"{metric.upper()} at {evaluation}", value, now, f"{'≥' if higher else '≤'} {bound:.4f}{unit}", passed)


def _same_sweep(run_dir: Path, records: dict[str, CellRecord], baseline: dict[str, Any]) -> None:
    """Raise unless the run holds at least one of the baseline's cells (cell ids hash the config)."""
    expected = len(baseline["cells"])
    if expected == 0 or any(cell_id in records for cell_id in baseline["cells"]):
        return
    if not records:
        raise CheckError(f"{run_dir} holds no cell records (the baseline has {expected} cells); run the sweep first")
    raise CheckError(
        f"{run_dir} holds none of the baseline's {expected} cells (it holds {len(records)} others): it is "
        "another sweep (config) than the baseline's; compare runs of the same config, or --update"
    )


def write_baseline(path: Path, document: dict[str, Any]) -> None:
    """Write the baseline document as strict JSON (a NaN or an infinity is refused, not written)."""
    if path.is_dir():
        raise CheckError(f"{path}: is a folder; give the baseline's file name, e.g. {path / 'ci.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
    except ValueError:
        raise CheckError(f"{path}: not written: the baseline holds a NaN or infinite figure") from None
    except OSError as error:
        raise CheckError(f"{path}: cannot write the baseline ({error.strerror or type(error).__name__})") from None
