"""The one result model: cell records → one pandas frame, one row per evaluation (cell × data set × noise
and level), with typed columns. The leaderboard, the plots, the report, the gate and ``bench.load_results``
all start from it; results.csv is an export of it, never read back for analysis. A results folder is read
once per command (:func:`read_folder`) into :class:`Results`: its records and their frame, built once.

Columns: the cell's identity and training (``IDENTITY``: ``train_level`` is a number; a blind model's
range is ``train_range``, e.g. ``0–55``, and ``trained`` names either, e.g. ``gaussian 0–55``; what the
cell cost: ``n_parameters``, ``ms_per_megapixel``, ``train_seconds``, ``peak_memory_mb``, and whether its
training had ``converged``); for every metric the records hold (the registered ones, in
:func:`denoiser.metrics.registered` order) ``<metric>``, ``<metric>_std``, ``<metric>_noisy`` and
``<metric>_per_image`` (a list, kept out of results.csv); ``delta_psnr``; what the record says of itself
(``entry``: its label, ``leaky``, ``matched``); one ``param_<name>`` column per model parameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bench.notes import marks
from bench.record import CellRecord
from bench.store import MANIFEST, ResultStore, write_text
from denoiser.errors import DenoiserError
from denoiser.metrics import registered

IDENTITY = [
    "sweep", "cell_id", "model", "params", "dataset", "split", "noise", "train_level", "train_range", "trained",
    "eval_noise", "eval_level",
    "matched", "leaky", "entry", "latent_dim", "seed", "n_images", "epochs", "best_epoch", "stopped_early",
    "converged", "n_parameters", "ms_per_megapixel", "train_seconds", "peak_memory_mb", "train_images_per_s", "threads",
    "precision", "selected_on", "status", "error", "mean_psnr_all_levels",
    "worst_psnr", "worst_eval", "psnr_drop_from_matched", "delta_psnr", "noise_protocol", "noise_key", "tiled",
]  # fmt: skip
INTEGER_COLUMNS = ["latent_dim", "seed", "n_images", "epochs", "best_epoch", "threads", "n_parameters"]
TEXT_COLUMNS = ["sweep", "cell_id", "model", "params", "dataset", "split", "noise", "train_range", "trained", "eval_noise",
                "entry", "precision", "selected_on", "status", "error", "worst_eval", "noise_protocol", "noise_key",
                "tiled"]  # fmt: skip
PER_IMAGE = "_per_image"  # the suffix of the per-image columns


def metric_names(records: Iterable[CellRecord]) -> list[str]:
    """The metrics the records hold, the registered ones first in their order, then any other (a plugin's
    metric whose module is not imported here: its numbers are data and still load)."""
    held = {name for record in records for item in record.evaluations for name in item.metrics}
    order = [metric.name for metric in registered()]
    return [name for name in order if name in held] + sorted(held - set(order))


def _metric_headers(names: list[str]) -> list[str]:
    return [f"{name}{suffix}" for name in names for suffix in ("", "_std", "_noisy", PER_IMAGE)]


def results_frame(records: list[CellRecord]) -> pd.DataFrame:
    """One row per evaluation of every record (one row without metrics for a cell that did not run)."""
    rows = [row | {"leaky": record.leaky, "entry": entry_label(record)} for record in records for row in record.rows()]
    parameters = sorted({name for row in rows for name in row if name.startswith("param_")})
    names = metric_names(records)
    table = pd.DataFrame(rows, columns=IDENTITY + _metric_headers(names) + parameters)
    for column in INTEGER_COLUMNS:  # integers stay integers beside the empty cells of baselines
        table[column] = table[column].astype("Int64")
    for column in TEXT_COLUMNS:
        table[column] = table[column].astype(object)
    table["matched"] = table["matched"].eq(True)  # a cell that did not run was matched nowhere
    for name in names:  # numbers, with NaN where a cell did not run or an older record kept no spread
        for column in (name, f"{name}_std", f"{name}_noisy"):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    for column in ("eval_level", "train_level", "delta_psnr"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table


def entry_label(record: CellRecord) -> str:
    """A leaderboard entry's name: the record's label (seeds are averaged), marked when leaky. Whether its
    training had finished is the ``converged`` column: the leaderboard marks an entry ``[not converged]``
    when any of its seeds had not (:data:`bench.notes.NOT_CONVERGED`), so that seeds which differ stay one entry."""
    return record.label() + marks(record.precision, record.leaky)


def to_csv(frame: pd.DataFrame) -> str:
    """results.csv: the frame without the per-image lists (they stay in the records). Rows end in ``\\r\\n`` so
    that a name holding a bare carriage return is quoted, not read back as a row break."""
    kept = [column for column in frame.columns if not column.endswith(PER_IMAGE)]
    return frame[kept].to_csv(index=False, lineterminator="\r\n")


def parameters(row: pd.Series) -> dict[str, Any]:
    """A row's model parameters as a mapping (its ``params`` column holds them as JSON text, sorted)."""
    return json.loads(row["params"])


# ----------------------------------------------------------------------------- a results folder, read once


class ResultsError(DenoiserError):
    """A folder that holds no results of a sweep."""


@dataclass(frozen=True)
class Results:
    """The results of one sweep folder as a command holds them: its records, read once, and their frame,
    built once on first use. Every reader in one command (the summary, the leaderboard, the report, the gate,
    :func:`bench.load_results`) takes this value rather than reading the folder again."""

    root: Path
    records: list[CellRecord]  # the sweep's cells, in grid order

    @cached_property
    def frame(self) -> pd.DataFrame:
        """:func:`results_frame` of the records: one row per evaluation of every record."""
        return results_frame(self.records)

    def write_csv(self) -> Path:
        """``results.csv``: an export of the frame; nothing reads it back for analysis."""
        path = self.root / "results.csv"
        write_text(path, to_csv(self.frame))
        return path


def read_folder(root: Path) -> Results:
    """The results of the sweep in ``root`` (every status), from its records: those of the sweep as last run
    (``cells.json``), also when it was interrupted before writing results.csv. A folder written before
    the manifest existed: the cells its results.csv names, else every record. The one rule of which
    records a folder holds; results.csv itself is an export and its numbers are never read back."""
    if not root.is_dir():
        raise ResultsError(f"{root}: no such folder")
    store = ResultStore(root)
    if not store.runs.is_dir():
        raise ResultsError(f"{root}: no results here (no runs/ records); is this a sweep's results folder?")
    if (root / MANIFEST).is_file() or not (root / "results.csv").is_file():
        return Results(root, store.current_records())
    try:  # an older folder: which cells are its sweep's, in order
        cell_ids = list(dict.fromkeys(pd.read_csv(root / "results.csv", usecols=["cell_id"], dtype=str)["cell_id"]))
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return Results(root, store.read_records())
    return Results(root, store.read_records(cell_ids))


def find_results(root: Path) -> list[Path]:
    """Every sweep folder under ``root`` (a results folder or one sweep's): one with a results.csv, or with
    records in runs/ (a run interrupted before it wrote one), leaving out results moved aside by --fresh;
    ``root`` itself when it is a results table. Each is read with :func:`read_folder`."""
    if not root.exists():
        raise ResultsError(f"{root}: no such folder")
    if root.is_file():
        return [root]
    signs = [*root.rglob("results.csv"), *(path for path in root.rglob("runs") if path.is_dir())]
    # only folders below root count as moved aside: a root named previous-… is ranked when named
    found = sorted(
        {path.parent for path in signs if not any(part.startswith("previous-") for part in path.relative_to(root).parts)}
    )
    if not found:
        raise ResultsError(f"{root}: no results.csv or runs/ below this folder; run `python -m bench sweep` first")
    return found
