"""The leaderboard as a reader sees it, built once: each table's title, notes, header and rows of text, the
notes of the whole board, and one strict-JSON mapping per entry (:class:`Board`).

Every view renders the same :class:`Board`: Markdown (:func:`bench.leaderboard.to_markdown`, leaderboard.md),
HTML (:func:`bench.report.board_html`, report.html), the terminal (:func:`bench.summary.print_board`, ``bench
leaderboard``) and JSON or CSV (:attr:`Board.entries`, ``--format json|csv``). So a rank, a mark or a note reads
the same everywhere, and each note is worded once, in :mod:`bench.notes`. How entries are ranked, tied and
given intervals is :mod:`bench.ranking`'s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.notes import COST_NOTE, ROBUSTNESS_NOTE, mark_notes, uncertainty_note
from bench.published import describe_published, published_for
from bench.ranking import COST, DELTA, GROUP
from denoiser.metrics import METRICS


@dataclass(frozen=True)
class Section:
    """One table: its title, what a reader of it should know, its column titles and its rows of text."""

    title: str
    notes: list[str]
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Board:
    """The whole leaderboard: the notes that hold for every table, one ranked table per (data set, noise,
    level), one robustness table per data set, and every ranked entry as a strict-JSON mapping."""

    metric: str
    notes: list[str]
    ranked: list[Section]
    robustness: list[Section]
    entries: list[dict[str, Any]]

    @property
    def subtitle(self) -> str:
        return f"ranked by {self.metric}; mean ± std over seeds where there are several"


def build_board(ranked: pd.DataFrame, metric: str, robust: pd.DataFrame | None = None) -> Board:
    """The board of ``ranked`` (:func:`bench.ranking.rank` by ``metric``) and, where given, ``robust``
    (:func:`bench.ranking.robustness`): the one builder of every view's rows, marks and notes."""
    ranked_sections = [Section(title, group_notes(group), header(ranked), display_rows(group)) for title, group in groups(ranked)]
    robustness_sections = [
        Section(f"Robustness · {dataset}", [ROBUSTNESS_NOTE], ROBUSTNESS_HEADER, robustness_rows(group))
        for dataset, group in (robust.groupby("dataset") if robust is not None else [])
    ]
    shown = [ranked] + ([robust] if robust is not None else [])
    leaky = any(table["leaky"].eq(True).any() for table in shown if "leaky" in table)
    not_converged = any(table["converged"].eq(False).any() for table in shown if "converged" in table)
    notes = [uncertainty_note(float(ranked["alpha"].iloc[0])), COST_NOTE, *mark_notes(leaky, not_converged)]
    return Board(metric, notes, ranked_sections, robustness_sections, to_records(ranked))


def _format(mean: float, std: float, seeds: int, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if seeds > 1 else f"{mean:.{digits}f}"


def _interval(low: float, high: float, digits: int) -> str:
    return f"[{low:.{digits}f}, {high:.{digits}f}]" if math.isfinite(low) and math.isfinite(high) else "–"


def rank_cell(row: pd.Series) -> str:
    """``3``, or ``2=`` for every entry of a run of ties (each indistinguishable from the next), which
    shares the rank of its first entry: a reader sees at once which gaps are noise."""
    return f"{row['tied_rank']}=" if row["tied"] else str(row["rank"])


def display_columns(ranked: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(title, metric, digits) of every metric column of a ranked table: PSNR first, then each other
    metric in registry order, then ΔPSNR."""
    names = [column[: -len("_ci_low")] for column in ranked.columns if column.endswith("_ci_low")]
    shown = [
        (METRICS.create(name).title, name, METRICS.create(name).digits) if name in METRICS else (name, name, 4) for name in names
    ]
    shown.sort(key=lambda item: item[1] != "psnr")
    return shown + [("ΔPSNR dB", DELTA, 2)]


def header(ranked: pd.DataFrame) -> list[str]:
    """The column titles of :func:`display_rows`."""
    shown = display_columns(ranked)
    return (
        ["rank", "model", shown[0][0], "PSNR interval"]
        + [title for title, _, _ in shown[1:]]
        + ["parameters", "ms/MP", "train s", "peak MB", "seeds", "sweep"]
    )


def display_rows(group: pd.DataFrame) -> list[list[str]]:
    """Cells for one ranked group, in the order of :func:`header`."""
    shown = display_columns(group)
    return [
        [rank_cell(row), row["entry"]]
        + [_format(row["psnr_mean"], row["psnr_std"], row["seeds"], 2), _interval(row["psnr_ci_low"], row["psnr_ci_high"], 2)]
        + [_format(row[f"{key}_mean"], row[f"{key}_std"], row["seeds"], digits) for _, key, digits in shown[1:]]
        + cost_cells(row)
        + [str(row["seeds"]), row["sweeps"]]
        for _, row in group.iterrows()
    ]


def cost_cells(row: pd.Series) -> list[str]:
    """Parameters, inference ms per megapixel, training seconds and peak memory (MB) of one entry; – where unknown."""

    def shown(value: Any, form: str) -> str:
        return (
            "–"
            if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value)
            else format(value, form)
        )

    return [
        shown(row.get("n_parameters"), ","),
        shown(row.get("ms_per_megapixel"), ".3g"),
        shown(row.get("train_seconds"), ".1f"),
        shown(row.get("peak_memory_mb"), ".0f"),
    ]


def groups(ranked: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    for (dataset, noise, level), group in ranked.groupby(GROUP, sort=True):
        yield f"{dataset} · {noise} {level:g}", group


def group_notes(group: pd.DataFrame) -> list[str]:
    """What a reader of one ranked group should know: the published figures for it, and tiled entries."""
    first = group.iloc[0]
    notes = []
    published = published_for(first["dataset"], first["eval_noise"], first["noise_protocol"], first.get("noise_key"))
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


ROBUSTNESS_HEADER = [
    "rank", "model", "mean PSNR dB (all evaluations)", "worst PSNR dB", "worst at",
    "drop from its training level dB", "evaluations",
]  # fmt: skip


def robustness_rows(table: pd.DataFrame) -> list[list[str]]:
    return [
        [
            "–" if pd.isna(row["rank"]) else str(row["rank"]),
            row["entry"],
            f"{row['mean_psnr']:.2f}",
            f"{row['worst_psnr']:.2f}",
            row["worst_eval"],
            row["drop"],
            str(row["evaluations"]) if row["evaluations"] == row["of"] else f"{row['evaluations']} of {row['of']}",
        ]
        for _, row in table.iterrows()
    ]


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
            "train_range",
            "split",
            "selected_on",
            "leaky",
        ]
        + [f"{name}_{kind}" for _, name, _ in display_columns(ranked) for kind in ("mean", "std")]
        + [f"{name}_ci_{edge}" for _, name, _ in display_columns(ranked)[:-1] for edge in ("low", "high")]
        + ["distinct_from_next", "tied_rank", "seeds", "sweeps", "n_images", "noise_protocol", "tiled", "published_psnr"]
        + ["converged", *COST]
    )
    table = ranked[columns].astype(object).where(ranked[columns].notna(), None)
    return [{key: _plain(value) for key, value in item.items()} for item in table.to_dict(orient="records")]
