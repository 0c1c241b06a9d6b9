"""Rankings from stored rows only: per data set, noise family and evaluation level, across seeds and sweeps.

Each entry carries an interval of its mean PSNR and SSIM, and whether a paired comparison on the same
noisy images tells it apart from the next entry (:mod:`bench.stats`); the per-image values for that
come from the cell records beside each results.csv, never from a re-run.

Which rows a sweep folder holds is decided once, by :func:`read_folder`: the report, the leaderboard
and the regression gate all read a folder through it.
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.published import describe_published, published_for
from bench.record import describe
from bench.stats import distinguishable, half_width, half_width_from_spread
from bench.store import MANIFEST, ResultStore, results_frame
from denoiser.errors import DenoiserError

logger = logging.getLogger(__name__)

METRICS = ("psnr", "ssim", "mse", "delta_psnr")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "mse": False, "delta_psnr": True}
GROUP = ["dataset", "eval_noise", "eval_level"]
ENTRY = ["model", "params", "split", "selected_on", "noise", "train_level"]  # one leaderboard entry (seeds are averaged)
ALPHA = 0.05  # default level of the comparisons; the intervals are 1 − ALPHA (95 %)
PER_IMAGE = ("psnr_per_image", "ssim_per_image")  # kept in the records, not in results.csv
# Columns a results table cannot be ranked without: what names an entry and an evaluation, and the metrics.
REQUIRED = (
    "cell_id",
    "model",
    "params",
    "status",
    "dataset",
    "split",
    "noise",
    "train_level",
    "seed",
    "eval_noise",
    "eval_level",
) + METRICS
NAMES = ("cell_id", "model", "dataset", "eval_noise")  # an ok row without one of them names nothing
# Columns older tables lack, and what they mean there (an unknown spread or image count: no interval).
DEFAULTS: dict[str, Any] = {
    "sweep": "",
    "matched": False,
    "selected_on": "test",
    "noise_protocol": None,
    "tiled": None,
    "n_images": float("nan"),
    "psnr_std": float("nan"),
    "ssim_std": float("nan"),
}
NUMBERS = METRICS + ("eval_level", "train_level", "seed", "n_images", "psnr_std", "ssim_std")
# Read as text, whatever they look like: a data set called 2012 or NA is a name, not a number or a gap.
TEXT = (
    "sweep",
    "cell_id",
    "model",
    "params",
    "dataset",
    "split",
    "noise",
    "eval_noise",
    "selected_on",
    "status",
    "error",
    "worst_eval",
    "noise_protocol",
    "tiled",
)
GAPS = ("", "nan", "NaN", "-nan", "NA", "N/A", "<NA>", "None", "null", "NULL", "#N/A")  # a missing number, as tables write one


class LeaderboardError(DenoiserError):
    """No results to rank, or a filter that matches nothing."""


def _parse_table(text: str, where: Path) -> pd.DataFrame:
    """A results table from its CSV text: names as written (only an empty cell is missing), numbers as pandas reads them."""
    try:
        columns = pd.read_csv(io.StringIO(text), nrows=0).columns
        missing = {column: [""] if column in TEXT else list(GAPS) for column in columns}
        return pd.read_csv(
            io.StringIO(text),
            dtype={column: str for column in TEXT if column in columns},
            keep_default_na=False,
            na_values=missing,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise LeaderboardError(f"{where}: not a results table ({error.__class__.__name__})") from None


def _read_table(path: Path) -> pd.DataFrame:
    try:
        text = path.read_text()
    except UnicodeDecodeError as error:
        raise LeaderboardError(f"{path}: not a results table ({error.__class__.__name__})") from None
    return _parse_table(text, path)


def _records_are_newer(store: ResultStore, table: Path) -> bool:
    """Whether a record or the manifest changed after ``table`` was written: a run interrupted or resumed since."""
    written = table.stat().st_mtime_ns
    for path in [store.root / MANIFEST, *store.runs.glob("*.json")]:
        try:
            if path.stat().st_mtime_ns > written:
                return True
        except OSError:  # gone in between, or never there
            continue
    return False


def read_folder(root: Path) -> pd.DataFrame:
    """The rows of the sweep in ``root`` as results.csv holds them (every status): its results.csv, or,
    where that is missing or older than the records (a run interrupted or resumed since), the rows of
    the records of the sweep as last run. The one rule of which rows a folder holds."""
    if not root.is_dir():
        raise LeaderboardError(f"{root}: no such folder")
    store, table = ResultStore(root), root / "results.csv"
    if table.is_file() and not _records_are_newer(store, table):
        return _read_table(table)
    if not store.runs.is_dir():
        raise LeaderboardError(f"{root}: no results here (no results.csv, no runs/ records); is this a sweep's results folder?")
    if table.is_file():
        logger.info("%s is older than the records in %s: reading the records", table, store.runs)
    # Through the same CSV reader, so that the rows are typed exactly as results.csv's would be; "\r\n"
    # ends lines so that a name holding a carriage return is quoted, not read as a line break.
    return _parse_table(results_frame(store.current_records()).to_csv(index=False, lineterminator="\r\n"), store.runs)


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    """Required columns present, numbers numbers and names names in ok rows, defaults where older tables lack a column."""
    missing = [column for column in REQUIRED if column not in rows]
    if missing:
        raise LeaderboardError(f"not a results table: no column {', '.join(missing)}")
    for column, default in DEFAULTS.items():  # older tables
        if column not in rows:
            rows[column] = default
    ok = rows["status"] == "ok"
    for column in NUMBERS:
        numbers = pd.to_numeric(rows[column], errors="coerce")
        bad = rows[column].notna() & numbers.isna() & ok
        if bad.any():
            raise LeaderboardError(f"not a results table: {column} holds {str(rows[column][bad].iloc[0])[:40]!r}, not a number")
        rows[column] = numbers
    for column in NAMES:
        if (rows[column].isna() & ok).any():
            raise LeaderboardError(f"not a results table: an ok row without a {column}")
    rows["matched"] = rows["matched"].fillna(False).astype(bool)
    for column in ("psnr_std", "ssim_std"):  # an infinite spread is no spread we know: no interval from it
        rows[column] = rows[column].where(np.isfinite(rows[column].astype(float)))
    return rows


def finite(rows: pd.DataFrame) -> pd.Series:
    """Per row: whether its metrics and evaluation level are all finite numbers (the rows that can be ranked)."""
    columns = [column for column in (*METRICS, "eval_level") if column in rows]
    return pd.Series(np.isfinite(rows[columns].astype(float)).all(axis=1), index=rows.index)


def _failing_non_finite(rows: pd.DataFrame) -> pd.DataFrame:
    """Cells with an ok row whose metrics are not all finite (older versions wrote NaN and ±inf) as failed,
    as a record with one is: a cell that scored NaN somewhere is not ranked anywhere."""
    cells = set(rows.loc[(rows["status"] == "ok") & ~finite(rows), "cell_id"])
    if cells:
        logger.warning(
            "%d cell%s with a NaN or infinite metric in an ok row: not ranked, counted as failed",
            len(cells),
            "" if len(cells) == 1 else "s",
        )
        rows = rows.assign(status=rows["status"].where(~rows["cell_id"].isin(cells), "failed"))
    return rows


def read_results(paths: Iterable[Path]) -> pd.DataFrame:
    """Ok rows of every sweep folder (as :func:`read_folder` reads it) or results table given; the
    same (cell, evaluation) counts once, and a cell with a non-finite metric counts as failed."""
    paths = list(paths)
    frames = [read_folder(path) if path.is_dir() else _read_table(path) for path in paths]
    if not frames:
        raise LeaderboardError("no results.csv found")
    rows = _failing_non_finite(_typed(pd.concat(frames, ignore_index=True)))
    rows = rows[rows["status"] == "ok"].reset_index(drop=True)
    rows = _with_per_image(rows, paths)
    return rows.drop_duplicates(subset=["cell_id", "dataset", "eval_noise", "eval_level"]).reset_index(drop=True)


def _level_key(level: float) -> float:
    """An evaluation level as a lookup key: the CSV parser and JSON may differ in the last bit."""
    return round(float(level), 9)


def _with_per_image(rows: pd.DataFrame, paths: Iterable[Path]) -> pd.DataFrame:
    """``rows`` with the per-image PSNR and SSIM of each (cell, evaluation), read from the records in
    ``runs/`` beside each results.csv; None where there is no record, or an older one without them."""
    found: dict[tuple, tuple[list[float], list[float]]] = {}
    cell_ids = set(rows["cell_id"])
    for path in paths:
        store = ResultStore(path if path.is_dir() else path.parent)
        if not store.runs.is_dir():
            continue
        present = sorted(cell_id for cell_id in cell_ids if store.record_path(str(cell_id)).is_file())
        for record in store.read_records(present):
            for item in record.evaluations:
                if item.psnr_per_image:
                    key = (record.cell_id, item.dataset or record.dataset, item.noise, _level_key(item.level))
                    found.setdefault(key, (item.psnr_per_image, item.ssim_per_image))
    keys = zip(rows["cell_id"], rows["dataset"], rows["eval_noise"], rows["eval_level"])
    values = [found.get((cell_id, dataset, noise, _level_key(level)), (None, None)) for cell_id, dataset, noise, level in keys]
    return rows.assign(
        psnr_per_image=pd.Series([psnr for psnr, _ in values], index=rows.index, dtype=object),
        ssim_per_image=pd.Series([ssim for _, ssim in values], index=rows.index, dtype=object),
    )


def find_results(root: Path) -> list[Path]:
    """Every sweep folder under ``root`` (a results folder or one sweep's): one with a results.csv, or with
    records in runs/ (a run interrupted before it wrote one), leaving out results moved aside by --fresh;
    ``root`` itself when it is a results table. Read them with :func:`read_results`."""
    if not root.exists():
        raise LeaderboardError(f"{root}: no such folder")
    if root.is_file():
        return [root]
    marks = [*root.rglob("results.csv"), *(path for path in root.rglob("runs") if path.is_dir())]
    # only folders below root count as moved aside: a root named previous-… is ranked when named
    found = sorted(
        {path.parent for path in marks if not any(part.startswith("previous-") for part in path.relative_to(root).parts)}
    )
    if not found:
        raise LeaderboardError(f"{root}: no results.csv or runs/ below this folder; run `python -m bench sweep` first")
    return found


def is_leaky(split: object, selected_on: object, trained: bool) -> bool:
    """A trained entry whose test images leaked into training (the augmented-copies split) or chose its epoch."""
    return trained and (split == "augmented-copies" or selected_on == "test")


def parameters(text: object) -> dict[str, Any]:
    """A row's ``params`` (JSON text) as a mapping; empty for anything else (a damaged or hand-edited table)."""
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def entry_name(row: pd.Series) -> str:
    """e.g. ``dae latent_dim=128 (trained gaussian 0.1)``; ``noisy``; leaky entries marked."""
    params = parameters(row["params"])
    trained = isinstance(row["noise"], str)
    name = describe(row["model"], params, row["noise"] if trained else None, row["train_level"] if trained else None)
    if is_leaky(row["split"], row["selected_on"], trained):
        name += " [leaky]"
    return name


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    """Empty entry keys filled (baselines have no training noise or level), so that groupby keeps them."""
    return rows.assign(
        noise=rows["noise"].astype(object).fillna(""),
        train_level=rows["train_level"].fillna(-1.0),
        params=rows["params"].fillna("{}"),
        selected_on=rows["selected_on"].astype(object).fillna(""),
    )


def _unkeyed(table: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`_keyed` and name each entry."""
    table["noise"] = table["noise"].replace("", None)
    table["selected_on"] = table["selected_on"].replace("", None)
    table["train_level"] = table["train_level"].where(table["train_level"] >= 0)
    table["entry"] = table.apply(entry_name, axis=1)
    return table


def rank(rows: pd.DataFrame, metric: str = "psnr", alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (group, entry): metric means and standard deviations over seeds, the 1 − alpha
    intervals of the mean PSNR and SSIM, ranked within each group; each entry says whether it is
    distinguishable from the next at level ``alpha`` (False for the last of a group, None where the
    records hold no per-image values), and ``tied_rank`` is the rank its run of ties shares."""
    if metric not in HIGHER_IS_BETTER:
        raise LeaderboardError(f"unknown metric {metric!r}; valid: {', '.join(HIGHER_IS_BETTER)}")
    if not 0 < alpha < 1:
        raise LeaderboardError(f"alpha must be between 0 and 1 (exclusive), got {alpha:g}")
    rows = rows[finite(rows)]  # rows built without read_results may still hold NaN or ±inf
    if rows.empty:
        raise LeaderboardError("no results match")
    for column in PER_IMAGE:  # rows built without read_results
        if column not in rows:
            rows = rows.assign(**{column: None})
    grouped = _keyed(rows).groupby(GROUP + ENTRY, dropna=False)
    runs = [group for _, group in grouped]  # each entry's rows, in the order of the aggregated table below
    aggregated = grouped.agg(
        **{f"{name}_mean": (name, "mean") for name in METRICS},
        **{f"{name}_std": (name, lambda values: values.std(ddof=0)) for name in METRICS},
        seeds=("seed", lambda values: max(1, values.nunique())),
        sweeps=("sweep", lambda values: ", ".join(sorted(set(map(str, values))))),
        n_images=("n_images", "max"),
        noise_protocol=("noise_protocol", "first"),
        tiled=("tiled", "first"),
    ).reset_index()
    aggregated = _with_intervals(aggregated, runs, alpha)
    aggregated = _unkeyed(aggregated)
    aggregated["published_psnr"] = [_published_psnr(row) for _, row in aggregated.iterrows()]
    aggregated["leaky"] = [
        is_leaky(split, selected, isinstance(noise, str))
        for split, selected, noise in zip(aggregated["split"], aggregated["selected_on"], aggregated["noise"])
    ]
    ascending = not HIGHER_IS_BETTER[metric]
    aggregated = aggregated.sort_values(GROUP + [f"{metric}_mean"], ascending=[True, True, True, ascending])
    aggregated["rank"] = aggregated.groupby(GROUP).cumcount() + 1
    aggregated = aggregated.reset_index(drop=True)
    return _with_ties(aggregated, [runs[entry] for entry in aggregated.pop("_entry")], metric, alpha)


def _with_intervals(aggregated: pd.DataFrame, runs: list[pd.DataFrame], alpha: float) -> pd.DataFrame:
    """``<metric>_ci_low`` and ``_ci_high``: the 1 − alpha intervals of the mean PSNR and SSIM; ``alpha``
    kept for the notes, ``_entry`` for finding each entry's rows again once the table is sorted."""
    aggregated = aggregated.assign(_entry=range(len(aggregated)), alpha=alpha)
    for name in ("psnr", "ssim"):
        half = pd.Series([entry_half_width(run, name, 1 - alpha) for run in runs], index=aggregated.index)
        aggregated[f"{name}_ci_low"] = aggregated[f"{name}_mean"] - half
        aggregated[f"{name}_ci_high"] = aggregated[f"{name}_mean"] + half
    return aggregated


def _seed_keys(run: pd.DataFrame) -> list[int | None]:
    """Training seeds of an entry's rows; None for a classical baseline (no seed)."""
    return [None if pd.isna(seed) else int(seed) for seed in run["seed"]]


def entry_half_width(run: pd.DataFrame, name: str, confidence: float = 1 - ALPHA) -> float:
    """Half the width of the interval of the mean of ``name`` over one entry's rows (``run``): Student t
    over its seeds' means where there are several, else over the images of its one run."""
    per_seed = run.groupby(pd.Series(_seed_keys(run), index=run.index).astype(object), dropna=False)[name].mean()
    if len(per_seed) > 1:
        return half_width(per_seed.tolist(), confidence)
    images = float(run["n_images"].min())
    if not math.isfinite(images):  # an older table without image counts: no interval
        return math.nan
    return half_width_from_spread(float(run[f"{name}_std"].mean()), int(images), confidence)


def _per_image_by_seed(run: pd.DataFrame, metric: str) -> dict[int | None, list[float]] | None:
    """An entry's per-image values of the ranking metric, one list per training seed (runs of the same
    seed averaged); None when a row has none. ΔPSNR compares as PSNR (the noisy input is the same for
    both) and MSE follows from each image's PSNR, so PSNR and SSIM per image are all a record keeps."""
    column = "ssim_per_image" if metric == "ssim" else "psnr_per_image"
    by_seed: dict[int | None, list[list[float]]] = {}
    for seed, values in zip(_seed_keys(run), run[column]):
        if not isinstance(values, list):
            return None
        by_seed.setdefault(seed, []).append(values)
    averaged = {seed: np.mean(values, axis=0) for seed, values in by_seed.items() if len({len(item) for item in values}) == 1}
    if len(averaged) != len(by_seed):
        return None
    return {seed: (10 ** (-values / 10) if metric == "mse" else values).tolist() for seed, values in averaged.items()}


def _with_ties(ranked: pd.DataFrame, runs: list[pd.DataFrame], metric: str, alpha: float) -> pd.DataFrame:
    """``distinct_from_next`` (a paired bootstrap over the same images, seeds paired where shared:
    :func:`bench.stats.distinguishable`) and
    ``tied_rank``: a run of entries, each indistinguishable from the next, shares its first one's rank;
    ``tied`` marks every entry of such a run."""
    values = [_per_image_by_seed(run, metric) for run in runs]
    ranks = ranked["rank"].tolist()
    last = [position + 1 == len(ranks) or ranks[position + 1] == 1 for position in range(len(ranks))]
    distinct: list[bool | None] = []
    tied_rank: list[int] = []
    for position, place in enumerate(ranks):
        if last[position]:
            distinct.append(False)  # no next entry: documented as false
        else:
            first, second = values[position], values[position + 1]
            # None: records without per-image values, unknown
            distinct.append(None if first is None or second is None else distinguishable(first, second, alpha))
        tied_with_previous = place > 1 and distinct[position - 1] is False
        tied_rank.append(tied_rank[-1] if tied_with_previous else int(place))
    ranked["distinct_from_next"] = pd.Series(distinct, index=ranked.index, dtype=object)
    ranked["tied_rank"] = tied_rank
    ranked["tied"] = [
        tied_rank[position] != ranks[position] or (distinct[position] is False and not last[position])
        for position in range(len(ranks))
    ]
    return ranked


def _published_psnr(row: pd.Series) -> float | None:
    """The published PSNR of this entry's method in this group, where one applies (DnCNN-S: 17 × 64 only)."""
    params = parameters(row["params"])
    for figure in published_for(row["dataset"], row["eval_noise"], row["noise_protocol"]):
        if figure.model == row["model"] and (figure.model != "dncnn" or (params.get("depth"), params.get("width")) == (17, 64)):
            return figure.psnr
    return None


def group_notes(group: pd.DataFrame) -> list[str]:
    """What a reader of one ranked group should know: the published figures for it, and tiled entries."""
    first = group.iloc[0]
    notes = []
    published = published_for(first["dataset"], first["eval_noise"], first["noise_protocol"])
    if published:
        notes.append(describe_published(published))
    tiled = group[group["tiled"].notna()]
    if not tiled.empty:
        notes.append(
            "Scored on whole images; "
            + ", ".join(sorted(set(tiled["model"])))
            + " ran on overlapping windows ("
            + str(tiled["tiled"].iloc[0])
            + "), since its input size is fixed."
        )
    return notes


def robustness(rows: pd.DataFrame) -> pd.DataFrame:
    """Per data set and entry: mean PSNR over every evaluation (noise, level), and the worst one.
    Seeds are averaged first. Ranked by the mean, highest first."""
    rows = rows[finite(rows)]
    if rows.empty:
        raise LeaderboardError("no results match")
    per_evaluation = (
        _keyed(rows).groupby(["dataset"] + ENTRY + ["eval_noise", "eval_level"], dropna=False)["psnr"].mean().reset_index()
    )
    per_evaluation["evaluation"] = per_evaluation["eval_noise"] + " " + per_evaluation["eval_level"].map("{:g}".format)
    summary = []
    for keys, group in per_evaluation.groupby(["dataset"] + ENTRY, dropna=False):
        worst = group.loc[group["psnr"].idxmin()]  # type: ignore[call-overload]  # an index label
        summary.append(
            dict(zip(["dataset"] + ENTRY, keys))
            | {
                "mean_psnr": group["psnr"].mean(),
                "worst_psnr": worst["psnr"],
                "worst_eval": worst["evaluation"],
                "evaluations": len(group),
            }
        )
    table = _unkeyed(pd.DataFrame(summary))
    table = table.sort_values(["dataset", "mean_psnr"], ascending=[True, False]).reset_index(drop=True)
    table["rank"] = table.groupby("dataset").cumcount() + 1
    return table


ROBUSTNESS_HEADER = ["rank", "model", "mean PSNR dB (all evaluations)", "worst PSNR dB", "worst at", "evaluations"]


def robustness_rows(table: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(row["rank"]),
            row["entry"],
            f"{row['mean_psnr']:.2f}",
            f"{row['worst_psnr']:.2f}",
            row["worst_eval"],
            str(row["evaluations"]),
        ]
        for _, row in table.iterrows()
    ]


def filter_rows(rows: pd.DataFrame, dataset: str | None, noise: str | None, level: float | None) -> pd.DataFrame:
    """The rows of one data set, evaluation noise and level, where given; one line when none match."""
    if rows.empty:  # nothing to filter: not the filters' fault
        raise LeaderboardError("no results match: no cell finished with finite metrics")
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    if noise is not None:
        rows = rows[rows["eval_noise"] == noise]
    if level is not None:
        rows = rows[(rows["eval_level"] - level).abs() < 1e-9]
    if rows.empty:
        raise LeaderboardError("no results match the filters")
    return rows


def _format(mean: float, std: float, seeds: int, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if seeds > 1 else f"{mean:.{digits}f}"


def _interval(low: float, high: float, digits: int) -> str:
    return f"[{low:.{digits}f}, {high:.{digits}f}]" if math.isfinite(low) and math.isfinite(high) else "–"


def rank_cell(row: pd.Series) -> str:
    """``3``, or ``2=`` for every entry of a run of ties (each indistinguishable from the next), which
    shares the rank of its first entry: a reader sees at once which gaps are noise."""
    return f"{row['tied_rank']}=" if row["tied"] else str(row["rank"])


DISPLAY = [("PSNR dB", "psnr", 2), ("SSIM", "ssim", 4), ("MSE", "mse", 5), ("ΔPSNR dB", "delta_psnr", 2)]


def display_rows(group: pd.DataFrame) -> list[list[str]]:
    """Cells for one ranked group, in the order of :data:`HEADER`."""
    return [
        [rank_cell(row), row["entry"]]
        + [_format(row["psnr_mean"], row["psnr_std"], row["seeds"], 2), _interval(row["psnr_ci_low"], row["psnr_ci_high"], 2)]
        + [_format(row[f"{key}_mean"], row[f"{key}_std"], row["seeds"], digits) for _, key, digits in DISPLAY[1:]]
        + [str(row["seeds"]), row["sweeps"]]
        for _, row in group.iterrows()
    ]


HEADER = ["rank", "model", DISPLAY[0][0], "PSNR interval"] + [title for title, _, _ in DISPLAY[1:]] + ["seeds", "sweep"]


def uncertainty_note(ranked: pd.DataFrame) -> str:
    """What the interval column and a rank like ``2=`` mean, at the level the ranking was made with."""
    alpha = float(ranked["alpha"].iloc[0])
    return (
        f"PSNR interval: the {100 * (1 - alpha):g} % Student-t interval of the mean PSNR, over seeds "
        "(over the images where there is one seed). A rank like 2= marks a tie: each entry of such a run "
        "cannot be told from the next by a paired bootstrap over the same noisy images, seeds paired "
        f"where shared (α = {alpha:g})."
    )


def groups(ranked: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    for (dataset, noise, level), group in ranked.groupby(GROUP, sort=True):
        yield f"{dataset} · {noise} {level:g}", group


# Markdown that a name could carry (names come from configs, plugins and data folders): raw HTML and
# entities, code spans, emphasis, links and images, and the cell separator of a table.
_MARKDOWN_ESCAPES = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "~": "\\~",
    "[": "\\[",
    "]": "\\]",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}


def markdown_text(text: object) -> str:
    """``text`` as literal Markdown on one line: no HTML, link, code or table cell boundary comes from it."""
    line = " ".join(str(text).splitlines())  # every line break Python knows, not only \n
    return "".join(_MARKDOWN_ESCAPES.get(character, character) for character in line)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(markdown_text(cell) for cell in cells) + " |" for cells in rows
    ]


def to_markdown(ranked: pd.DataFrame, metric: str, robust: pd.DataFrame | None = None) -> str:
    """leaderboard.md: one table per ranked group, then the robustness tables; every name escaped."""
    lines = [
        f"# Leaderboard (ranked by {metric}; mean ± std over seeds where there are several)",
        "",
        uncertainty_note(ranked),
        "",
    ]
    if ranked["leaky"].any():
        lines += [
            "Entries marked [leaky] trained on augmented copies of their test images or chose their epoch on them; "
            "their scores are inflated and not comparable with the others.",
            "",
        ]
    for title, group in groups(ranked):
        lines += [f"## {markdown_text(title)}", ""] + [markdown_text(note) + "\n" for note in group_notes(group)]
        lines += _markdown_table(HEADER, display_rows(group)) + [""]
    if robust is not None:
        for dataset, group in robust.groupby("dataset"):
            lines += [
                f"## Robustness · {markdown_text(dataset)}",
                "",
                "Mean PSNR over every evaluation noise and level, and the worst one.",
                "",
            ]
            lines += _markdown_table(ROBUSTNESS_HEADER, robustness_rows(group)) + [""]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """A value as strict JSON holds it: NaN and ±inf, which JSON has no word for, become null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def to_records(ranked: pd.DataFrame) -> list[dict]:
    """One mapping per ranked entry, for ``--format json|csv``: strict JSON values only (no NaN, no Infinity)."""
    columns = (
        [
            "dataset",
            "eval_noise",
            "eval_level",
            "rank",
            "entry",
            "model",
            "params",
            "noise",
            "train_level",
            "split",
            "selected_on",
            "leaky",
        ]
        + [f"{name}_{kind}" for name in METRICS for kind in ("mean", "std")]
        + [f"{name}_ci_{edge}" for name in ("psnr", "ssim") for edge in ("low", "high")]
        + ["distinct_from_next", "tied_rank", "seeds", "sweeps", "n_images", "noise_protocol", "tiled", "published_psnr"]
    )
    table = ranked[columns].astype(object).where(ranked[columns].notna(), None)
    return [{key: _plain(value) for key, value in item.items()} for item in table.to_dict(orient="records")]
