"""The one result model: cell records → one pandas frame, one row per evaluation (cell × data set × noise
and level), with typed columns. The leaderboard, the plots, the report, the gate and ``bench.load_results``
all start from it; results.csv is an export of it, never read back for analysis.

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
from typing import Any

import pandas as pd

from bench.record import CellRecord
from denoiser.metrics import registered

IDENTITY = [
    "sweep", "cell_id", "model", "params", "dataset", "split", "noise", "train_level", "train_range", "trained",
    "eval_noise", "eval_level",
    "matched", "leaky", "entry", "latent_dim", "seed", "n_images", "epochs", "best_epoch", "stopped_early",
    "converged", "n_parameters", "ms_per_megapixel", "train_seconds", "peak_memory_mb", "train_images_per_s", "threads",
    "precision", "selected_on", "status", "error", "mean_psnr_all_levels",
    "worst_psnr", "worst_eval", "psnr_drop_from_matched", "delta_psnr", "noise_protocol", "tiled",
]  # fmt: skip
INTEGER_COLUMNS = ["latent_dim", "seed", "n_images", "epochs", "best_epoch", "threads", "n_parameters"]
TEXT_COLUMNS = ["sweep", "cell_id", "model", "params", "dataset", "split", "noise", "train_range", "trained", "eval_noise",
                "entry", "precision", "selected_on", "status", "error", "worst_eval", "noise_protocol", "tiled"]  # fmt: skip
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
    when any of its seeds had not (:data:`NOT_CONVERGED`), so that seeds which differ stay one entry."""
    return record.label() + precision_mark(record.precision) + (" [leaky]" if record.leaky else "")


def precision_mark(precision: str | None) -> str:
    """`` [bf16]`` for an entry trained in mixed precision; nothing for float32 (or a baseline, which trains nothing)."""
    from denoiser.precision import SHORT

    return "" if precision in (None, "float32") else f" [{SHORT.get(precision, precision)}]"


NOT_CONVERGED = " [not converged]"


def to_csv(frame: pd.DataFrame) -> str:
    """results.csv: the frame without the per-image lists (they stay in the records). Rows end in ``\\r\\n`` so
    that a name holding a bare carriage return is quoted, not read back as a row break."""
    kept = [column for column in frame.columns if not column.endswith(PER_IMAGE)]
    return frame[kept].to_csv(index=False, lineterminator="\r\n")


def parameters(row: pd.Series) -> dict[str, Any]:
    """A row's model parameters as a mapping (its ``params`` column holds them as JSON text, sorted)."""
    return json.loads(row["params"])
