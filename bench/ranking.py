"""Rankings from the records only: per data set, noise family and evaluation level, across seeds and sweeps.

Which rows a sweep folder holds is decided once, by :func:`bench.results.read_folder`: the report, the
leaderboard and the regression gate all read a folder through it; :func:`rankable` keeps the rows that can be ranked.
:func:`rank` gives each entry (seeds averaged) an interval of every metric's mean, and whether a paired
comparison on the same noisy images tells it apart from the next entry (:mod:`bench.stats`), from the
per-image values the records keep, never from a re-run; a run of entries that cannot be told apart
shares a rank. :func:`robustness` ranks each entry over every evaluation of a data set. How the ranked
tables are built for a reader is :mod:`bench.tables`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bench.notes import NOT_CONVERGED
from bench.published import published_for
from bench.record import same_level
from bench.results import PER_IMAGE, ResultsError, parameters, read_folder
from bench.stats import distinguishable, half_width, half_width_from_spread
from denoiser.levels import LevelRange
from denoiser.metrics import METRICS

logger = logging.getLogger(__name__)

GROUP = ["dataset", "eval_noise", "eval_level"]
ENTRY = [
    "model",
    "params",
    "split",
    "selected_on",
    "precision",
    "noise",
    "train_level",
    "train_range",
]  # one entry (seeds are averaged)
# what each entry cost, aggregated over its seeds (and evaluations): parameters, inference ms per megapixel,
# training wall time, peak memory; converged: whether every seed's training had finished (None: not learned)
COST = {"n_parameters": "first", "ms_per_megapixel": "mean", "train_seconds": "mean", "peak_memory_mb": "max"}
ALPHA = 0.05  # default level of the comparisons; the intervals are 1 − ALPHA (95 %)
DELTA = "delta_psnr"  # the gain over the noisy input: ranked as a metric, compared image by image as PSNR


class LeaderboardError(ResultsError):
    """No results to rank, or a filter that matches nothing."""


def metrics(rows: pd.DataFrame) -> list[str]:
    """What ``rows`` can be ranked by: each metric they hold (registered first), then ΔPSNR."""
    names = [column[: -len(PER_IMAGE)] for column in rows.columns if column.endswith(PER_IMAGE)]
    return names + [DELTA]


def higher_is_better(metric: str) -> bool:
    """A registered metric's direction (ΔPSNR's is PSNR's). Records may hold a plugin's metric whose module
    is not imported here: its numbers show, but its direction is the plugin's to say."""
    if metric == DELTA:
        return True
    if metric not in METRICS:
        raise LeaderboardError(f"metric {metric!r} is not registered here: pass --plugin with the module that registers it")
    return METRICS.create(metric).higher_is_better


def finite(rows: pd.DataFrame) -> pd.Series:
    """Per row: whether its metrics and evaluation level are all finite numbers (the rows that can be ranked)."""
    columns = [column for column in metrics(rows) + ["eval_level"] if column in rows]
    return pd.Series(np.isfinite(rows[columns].astype(float)).all(axis=1), index=rows.index)


def read_results(paths: Iterable[Path]) -> pd.DataFrame:
    """The rankable rows (:func:`rankable`) of every sweep folder given (a results.csv given stands for its
    folder), each read once with :func:`bench.results.read_folder`."""
    frames = [read_folder(path if path.is_dir() else path.parent).frame for path in paths]
    if not frames:
        raise LeaderboardError("no results found")
    return rankable(pd.concat(frames, ignore_index=True))


def rankable(rows: pd.DataFrame) -> pd.DataFrame:
    """The ok rows with finite metrics, the same (cell, evaluation) once: a cell found in several sweeps counts once."""
    rows = rows[(rows["status"] == "ok") & finite(rows)].reset_index(drop=True)
    return rows.drop_duplicates(subset=["cell_id", "dataset", "eval_noise", "eval_level"]).reset_index(drop=True)


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    """Empty entry keys filled (baselines have no training noise or level), so that groupby keeps them."""
    return rows.assign(
        noise=rows["noise"].astype(object).fillna(""),
        train_level=rows["train_level"].fillna(-1.0),
        train_range=rows["train_range"].astype(object).fillna(""),
        params=rows["params"].fillna("{}"),
        selected_on=rows["selected_on"].astype(object).fillna(""),
        precision=rows["precision"].astype(object).fillna(""),
    )


def _unkeyed(table: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`_keyed`."""
    table["noise"] = table["noise"].replace("", None)
    table["selected_on"] = table["selected_on"].replace("", None)
    table["precision"] = table["precision"].replace("", None)
    table["train_range"] = table["train_range"].replace("", None)
    table["train_level"] = table["train_level"].where(table["train_level"] >= 0)
    return table


def rank(rows: pd.DataFrame, metric: str = "psnr", alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (group, entry): every metric's mean and standard deviation over seeds and the 1 − alpha
    interval of its mean, ranked within each group by ``metric``; each entry says whether it is
    distinguishable from the next at level ``alpha`` (False for the last of a group, None where the
    records hold no per-image values), and ``tied_rank`` is the rank its run of ties shares."""
    if metric not in metrics(rows):
        raise LeaderboardError(f"unknown metric {metric!r}; valid: {', '.join(metrics(rows))}")
    if not 0 < alpha < 1:
        raise LeaderboardError(f"alpha must be between 0 and 1 (exclusive), got {alpha:g}")
    rows = rows[finite(rows)]  # rows built without read_results may still hold NaN or ±inf
    if rows.empty:
        raise LeaderboardError("no results match")
    grouped = _keyed(rows).groupby(GROUP + ENTRY, dropna=False)
    runs = [group for _, group in grouped]  # each entry's rows, in the order of the aggregated table below
    names = metrics(rows)
    aggregated = grouped.agg(
        **{f"{name}_mean": (name, "mean") for name in names},
        **{f"{name}_std": (name, lambda values: values.std(ddof=0)) for name in names},
        seeds=("seed", lambda values: max(1, values.nunique())),
        sweeps=("sweep", lambda values: ", ".join(sorted(set(map(str, values))))),
        n_images=("n_images", "max"),
        noise_protocol=("noise_protocol", "first"),
        noise_key=("noise_key", "first"),
        tiled=("tiled", "first"),
        entry=("entry", "first"),
        leaky=("leaky", "first"),
        **{column: (column, how) for column, how in COST.items()},
    ).reset_index()
    aggregated["converged"] = [_all_converged(run) for run in runs]
    aggregated["entry"] = _marked(aggregated["entry"], aggregated["converged"])
    aggregated = _unkeyed(_with_intervals(aggregated, runs, names[:-1], alpha))
    aggregated["published_psnr"] = [_published_psnr(row) for _, row in aggregated.iterrows()]
    aggregated = aggregated.sort_values(GROUP + [f"{metric}_mean"], ascending=[True, True, True, not higher_is_better(metric)])
    aggregated["rank"] = aggregated.groupby(GROUP).cumcount() + 1
    aggregated = aggregated.reset_index(drop=True)
    return _with_ties(aggregated, [runs[entry] for entry in aggregated.pop("_entry")], metric, alpha)


def _marked(entries: pd.Series, converged: pd.Series) -> pd.Series:
    """Entries whose training had not finished in every seed, marked ``[not converged]``."""
    return pd.Series(
        [entry + NOT_CONVERGED if done is False else entry for entry, done in zip(entries, converged)], index=entries.index
    )


def _all_converged(run: pd.DataFrame) -> bool | None:
    """Whether every seed of an entry had finished training; None for an entry without training."""
    values = [value for value in run["converged"] if isinstance(value, (bool, np.bool_))]
    return None if not values else all(values)


def _with_intervals(aggregated: pd.DataFrame, runs: list[pd.DataFrame], names: list[str], alpha: float) -> pd.DataFrame:
    """``<metric>_ci_low`` and ``_ci_high``: the 1 − alpha intervals of every metric's mean; ``alpha``
    kept for the notes, ``_entry`` for finding each entry's rows again once the table is sorted."""
    aggregated = aggregated.assign(_entry=range(len(aggregated)), alpha=alpha)
    for name in names:
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
    both); an older record's MSE follows from each image's PSNR."""
    column = f"{'psnr' if metric == DELTA else metric}{PER_IMAGE}"
    from_psnr = metric == "mse" and not all(isinstance(values, list) for values in run[column])
    by_seed: dict[int | None, list[list[float]]] = {}
    for seed, values in zip(_seed_keys(run), run["psnr_per_image" if from_psnr else column]):
        if not isinstance(values, list):
            return None
        by_seed.setdefault(seed, []).append(values)
    averaged = {seed: np.mean(values, axis=0) for seed, values in by_seed.items() if len({len(item) for item in values}) == 1}
    if len(averaged) != len(by_seed):
        return None
    return {seed: (10 ** (-values / 10) if from_psnr else values).tolist() for seed, values in averaged.items()}


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
    """The published PSNR of this entry's method in this group, where one applies. A classical method's
    always; a network's only at the published depth and width 64, trained on Gaussian noise as published:
    DnCNN-S's at the σ scored, DnCNN-B's (blind) over [0, 55] (the levels on the 0–255 scale, as the
    group's literature protocol has them)."""
    params = parameters(row)
    blind_range = row.get("train_range")
    for figure in published_for(row["dataset"], row["eval_noise"], row["noise_protocol"], row.get("noise_key")):
        if figure.model != row["model"]:
            continue
        if figure.depth is None:
            return figure.psnr
        if (params.get("depth"), params.get("width")) != (figure.depth, 64) or row.get("noise") != "gaussian":
            continue
        trained_as_published = (
            blind_range == str(LevelRange(0, 55))
            if figure.blind
            else not isinstance(blind_range, str) and row.get("train_level") == figure.sigma
        )
        if trained_as_published:
            return figure.psnr
    return None


def robustness(rows: pd.DataFrame) -> pd.DataFrame:
    """Per data set and entry: mean PSNR over every evaluation (noise, level), the worst one, and the
    drop from its PSNR at its own training level to the worst (``drop``: dB for a fixed-level model,
    ``blind`` for one trained over a range, which has no own level; ``-`` for a classical baseline).
    Seeds are averaged first. Ranked by the mean, highest first, among the entries scored on every
    evaluation of the data set; an entry scored on fewer (a baseline told σ skips jpeg, which has none)
    has a mean over other evaluations: it is listed after them, unranked (``rank`` None)."""
    rows = rows[finite(rows)]
    if rows.empty:
        raise LeaderboardError("no results match")
    keys = ["dataset"] + ENTRY + ["entry"]
    keyed = _keyed(rows)
    per_evaluation = keyed.groupby(keys + ["eval_noise", "eval_level"], dropna=False)["psnr"].mean().reset_index()
    per_evaluation["evaluation"] = per_evaluation["eval_noise"] + " " + per_evaluation["eval_level"].map("{:g}".format)
    everything = per_evaluation.groupby("dataset")["evaluation"].nunique().to_dict()
    own_level = keyed[keyed["matched"]].groupby(keys, dropna=False)["psnr"].mean().to_dict()
    converged = {values: _all_converged(group) for values, group in keyed.groupby(keys, dropna=False)}
    summary = []
    for values, group in per_evaluation.groupby(keys, dropna=False):
        worst = group.loc[group["psnr"].idxmin()]  # type: ignore[call-overload]  # an index label
        entry = dict(zip(keys, values))
        if entry["train_range"]:
            drop = "blind"
        elif values in own_level:
            drop = f"{own_level[values] - worst['psnr']:.2f}"
        else:
            drop = "-"
        summary.append(
            entry
            | {
                "entry": str(entry["entry"]) + (NOT_CONVERGED if converged.get(values) is False else ""),
                "mean_psnr": group["psnr"].mean(),
                "worst_psnr": worst["psnr"],
                "worst_eval": worst["evaluation"],
                "drop": drop,
                "evaluations": len(group),
                "of": everything[entry["dataset"]],
            }
        )
    table = _unkeyed(pd.DataFrame(summary))
    complete = table["evaluations"] == table["of"]
    table = table.assign(_partial=~complete).sort_values(["dataset", "_partial", "mean_psnr"], ascending=[True, True, False])
    table = table.drop(columns="_partial").reset_index(drop=True)
    ranks = table[table["evaluations"] == table["of"]].groupby("dataset").cumcount() + 1
    table["rank"] = ranks.reindex(table.index).astype("Int64")
    return table


def filter_rows(rows: pd.DataFrame, dataset: str | None, noise: str | None, level: float | None) -> pd.DataFrame:
    """The rows of one data set, evaluation noise and level, where given; one line when none match."""
    if rows.empty:  # nothing to filter: not the filters' fault
        raise LeaderboardError("no results match: no cell finished with finite metrics")
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    if noise is not None:
        rows = rows[rows["eval_noise"] == noise]
    if level is not None:
        rows = rows[[same_level(value, level) for value in rows["eval_level"]]]
    if rows.empty:
        raise LeaderboardError("no results match the filters")
    return rows
