"""Rankings from stored rows only: per data set, noise family and evaluation level, across seeds and sweeps."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

import pandas as pd

from bench.published import describe_published, published_for
from bench.record import describe
from denoiser.errors import DenoiserError

logger = logging.getLogger(__name__)

METRICS = ("psnr", "ssim", "mse", "delta_psnr")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "mse": False, "delta_psnr": True}
GROUP = ["dataset", "eval_noise", "eval_level"]
ENTRY = ["model", "params", "split", "selected_on", "noise", "train_level"]  # one leaderboard entry (seeds are averaged)


class LeaderboardError(DenoiserError):
    """No results to rank, or a filter that matches nothing."""


def read_results(paths: Iterable[Path]) -> pd.DataFrame:
    """Rows of every results.csv given, ok rows only; the same (cell, evaluation) counts once."""
    frames = []
    for path in paths:
        try:
            frames.append(pd.read_csv(path))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise LeaderboardError(f"{path}: not a results table ({error.__class__.__name__})") from None
    if not frames:
        raise LeaderboardError("no results.csv found")
    rows = pd.concat(frames, ignore_index=True)
    missing = [column for column in ("cell_id", "model", "status", "dataset", "eval_noise", "eval_level") if column not in rows]
    if missing:
        raise LeaderboardError(f"not a results table: no column {', '.join(missing)}")
    for column in list(METRICS) + ["eval_level"]:
        numbers = pd.to_numeric(rows[column], errors="coerce")
        bad = rows[column].notna() & numbers.isna() & (rows["status"] == "ok")
        if bad.any():
            raise LeaderboardError(f"not a results table: {column} holds {str(rows[column][bad].iloc[0])[:40]!r}, not a number")
        rows[column] = numbers
    for column, missing in (("matched", False), ("selected_on", "test"), ("noise_protocol", None), ("tiled", None)):  # older tables
        if column not in rows:
            rows[column] = missing
    rows["matched"] = rows["matched"].fillna(False).astype(bool)
    rows = rows[rows["status"] == "ok"]
    return rows.drop_duplicates(subset=["cell_id", "dataset", "eval_noise", "eval_level"]).reset_index(drop=True)


def find_results(root: Path) -> list[Path]:
    """Every results.csv under ``root`` (a results folder or one sweep's), leaving out results moved aside by --fresh."""
    if not root.exists():
        raise LeaderboardError(f"{root}: no such folder")
    if root.is_file():
        return [root]
    # only folders below root count as moved aside: a root named previous-… is ranked when named
    found = sorted(path for path in root.rglob("results.csv")
                   if not any(part.startswith("previous-") for part in path.relative_to(root).parts))
    if not found:
        raise LeaderboardError(f"{root}: no results.csv below this folder; run `python -m bench sweep` first")
    return found


def is_leaky(split: object, selected_on: object, trained: bool) -> bool:
    """A trained entry whose test images leaked into training (the augmented-copies split) or chose its epoch."""
    return trained and (split == "augmented-copies" or selected_on == "test")


def entry_name(row: pd.Series) -> str:
    """e.g. ``dae latent_dim=128 (trained gaussian 0.1)``; ``noisy``; leaky entries marked."""
    params = json.loads(row["params"]) if isinstance(row["params"], str) else {}
    trained = isinstance(row["noise"], str)
    name = describe(row["model"], params, row["noise"] if trained else None, row["train_level"] if trained else None)
    if is_leaky(row["split"], row["selected_on"], trained):
        name += " [leaky]"
    return name


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    """Empty entry keys filled (baselines have no training noise or level), so that groupby keeps them."""
    return rows.assign(noise=rows["noise"].fillna(""), train_level=rows["train_level"].fillna(-1.0),
                       params=rows["params"].fillna("{}"), selected_on=rows["selected_on"].astype(object).fillna(""))


def _unkeyed(table: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`_keyed` and name each entry."""
    table["noise"] = table["noise"].replace("", None)
    table["selected_on"] = table["selected_on"].replace("", None)
    table["train_level"] = table["train_level"].where(table["train_level"] >= 0)
    table["entry"] = table.apply(entry_name, axis=1)
    return table


def rank(rows: pd.DataFrame, metric: str = "psnr") -> pd.DataFrame:
    """One row per (group, entry): metric means and standard deviations over seeds, ranked within each group."""
    if metric not in HIGHER_IS_BETTER:
        raise LeaderboardError(f"unknown metric {metric!r}; valid: {', '.join(HIGHER_IS_BETTER)}")
    if rows.empty:
        raise LeaderboardError("no results match")
    aggregated = _keyed(rows).groupby(GROUP + ENTRY, dropna=False).agg(
        **{f"{name}_mean": (name, "mean") for name in METRICS},
        **{f"{name}_std": (name, lambda values: values.std(ddof=0)) for name in METRICS},
        seeds=("seed", lambda values: max(1, values.nunique())),
        sweeps=("sweep", lambda values: ", ".join(sorted(set(map(str, values))))),
        n_images=("n_images", "max"),
        noise_protocol=("noise_protocol", "first"),
        tiled=("tiled", "first"),
    ).reset_index()
    aggregated = _unkeyed(aggregated)
    aggregated["published_psnr"] = [_published_psnr(row) for _, row in aggregated.iterrows()]
    aggregated["leaky"] = [is_leaky(split, selected, isinstance(noise, str)) for split, selected, noise
                           in zip(aggregated["split"], aggregated["selected_on"], aggregated["noise"])]
    ascending = not HIGHER_IS_BETTER[metric]
    aggregated = aggregated.sort_values(GROUP + [f"{metric}_mean"], ascending=[True, True, True, ascending])
    aggregated["rank"] = aggregated.groupby(GROUP).cumcount() + 1
    return aggregated.reset_index(drop=True)


def _published_psnr(row: pd.Series) -> float | None:
    """The published PSNR of this entry's method in this group, where one applies (DnCNN-S: 17 × 64 only)."""
    params = json.loads(row["params"]) if isinstance(row["params"], str) else {}
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
        notes.append("Scored on whole images; " + ", ".join(sorted(set(tiled["model"]))) + " ran on overlapping windows ("
                     + str(tiled["tiled"].iloc[0]) + "), since its input size is fixed.")
    return notes


def robustness(rows: pd.DataFrame) -> pd.DataFrame:
    """Per data set and entry: mean PSNR over every evaluation (noise, level), and the worst one.
    Seeds are averaged first. Ranked by the mean, highest first."""
    per_evaluation = _keyed(rows).groupby(["dataset"] + ENTRY + ["eval_noise", "eval_level"], dropna=False)["psnr"].mean().reset_index()
    per_evaluation["evaluation"] = per_evaluation["eval_noise"] + " " + per_evaluation["eval_level"].map("{:g}".format)
    summary = []
    for keys, group in per_evaluation.groupby(["dataset"] + ENTRY, dropna=False):
        worst = group.loc[group["psnr"].idxmin()]
        summary.append(dict(zip(["dataset"] + ENTRY, keys)) | {
            "mean_psnr": group["psnr"].mean(), "worst_psnr": worst["psnr"], "worst_eval": worst["evaluation"],
            "evaluations": len(group),
        })
    table = _unkeyed(pd.DataFrame(summary))
    table = table.sort_values(["dataset", "mean_psnr"], ascending=[True, False]).reset_index(drop=True)
    table["rank"] = table.groupby("dataset").cumcount() + 1
    return table


ROBUSTNESS_HEADER = ["rank", "model", "mean PSNR dB (all evaluations)", "worst PSNR dB", "worst at", "evaluations"]


def robustness_rows(table: pd.DataFrame) -> list[list[str]]:
    return [[str(row["rank"]), row["entry"], f"{row['mean_psnr']:.2f}", f"{row['worst_psnr']:.2f}", row["worst_eval"],
             str(row["evaluations"])] for _, row in table.iterrows()]


def filter_rows(rows: pd.DataFrame, dataset: str | None, noise: str | None, level: float | None) -> pd.DataFrame:
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


DISPLAY = [("PSNR dB", "psnr", 2), ("SSIM", "ssim", 4), ("MSE", "mse", 5), ("ΔPSNR dB", "delta_psnr", 2)]


def display_rows(group: pd.DataFrame) -> list[list[str]]:
    """Cells for one ranked group, in the order of :data:`HEADER`."""
    return [
        [str(row["rank"]), row["entry"]]
        + [_format(row[f"{key}_mean"], row[f"{key}_std"], row["seeds"], digits) for _, key, digits in DISPLAY]
        + [str(row["seeds"]), row["sweeps"]]
        for _, row in group.iterrows()
    ]


HEADER = ["rank", "model"] + [title for title, _, _ in DISPLAY] + ["seeds", "sweep"]


def groups(ranked: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    for (dataset, noise, level), group in ranked.groupby(GROUP, sort=True):
        yield f"{dataset} · {noise} {level:g}", group


def to_markdown(ranked: pd.DataFrame, metric: str, robust: pd.DataFrame | None = None) -> str:
    lines = [f"# Leaderboard (ranked by {metric}; mean ± std over seeds where there are several)", ""]
    if ranked["leaky"].any():
        lines += ["Entries marked [leaky] trained on augmented copies of their test images or chose their epoch on them; "
                  "their scores are inflated and not comparable with the others.", ""]
    for title, group in groups(ranked):
        lines += [f"## {title}", ""] + [note + "\n" for note in group_notes(group)]
        lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(cells) + " |" for cells in display_rows(group)]
        lines.append("")
    if robust is not None:
        for dataset, group in robust.groupby("dataset"):
            lines += [f"## Robustness · {dataset}", "", "Mean PSNR over every evaluation noise and level, and the worst one.", "",
                      "| " + " | ".join(ROBUSTNESS_HEADER) + " |", "|" + "---|" * len(ROBUSTNESS_HEADER)]
            lines += ["| " + " | ".join(cells) + " |" for cells in robustness_rows(group)]
            lines.append("")
    return "\n".join(lines)


def to_records(ranked: pd.DataFrame) -> list[dict]:
    columns = ["dataset", "eval_noise", "eval_level", "rank", "entry", "model", "params", "noise", "train_level",
               "split", "selected_on", "leaky"] + [f"{name}_{kind}" for name in METRICS for kind in ("mean", "std")] + ["seeds", "sweeps", "n_images", "noise_protocol", "tiled", "published_psnr"]
    table = ranked[columns].astype(object).where(ranked[columns].notna(), None)
    return table.to_dict(orient="records")
