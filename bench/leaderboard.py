"""The leaderboard as a reader sees it: the ranked tables of :mod:`bench.ranking` as plain rows (the
terminal's and the report's), as Markdown (leaderboard.md) and as strict JSON records (``--format json|csv``).

Every name in a table comes from a config, a plugin or a data folder, so the Markdown escapes it. How
entries are ranked, tied and given intervals is :mod:`bench.ranking`'s; the names the CLI, the report,
the gate, the plots and :mod:`bench.api` import from here are re-exported from it (``__all__``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from bench.published import describe_published, published_for
from bench.ranking import (
    ALPHA,
    COST,
    DELTA,
    GROUP,
    LeaderboardError,
    _published_psnr,
    entry_half_width,
    filter_rows,
    find_results,
    metrics,
    rank,
    read_folder,
    read_results,
    robustness,
)
from denoiser.metrics import METRICS

__all__ = [
    # the rendering, defined here
    "COST_NOTE",
    "ROBUSTNESS_HEADER",
    "cost_cells",
    "display_columns",
    "display_rows",
    "group_notes",
    "groups",
    "header",
    "markdown_text",
    "rank_cell",
    "robustness_rows",
    "to_markdown",
    "to_records",
    "uncertainty_note",
    # the ranking, defined in bench.ranking and re-exported: the CLI, the report, the gate (bench.check),
    # the plots, bench.api and the tests import these from here
    "ALPHA",
    "LeaderboardError",
    "_published_psnr",
    "entry_half_width",
    "filter_rows",
    "find_results",
    "metrics",
    "rank",
    "read_folder",
    "read_results",
    "robustness",
]

logger = logging.getLogger(__name__)


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


COST_NOTE = (
    "Cost: parameters (0 for a classical method); ms/MP, inference time per megapixel, the median of 5 warmed, "
    "synchronised runs on one 256×256 image on the device the cell ran on (the DAE's tiling included; classical "
    "methods on the CPU); train s, the training's wall time; peak MB, the memory the cell added at its peak "
    "(CUDA: max allocated; CPU: the rise of the process's resident memory). [not converged]: the validation loss "
    "was still falling at the last epoch (by 1 % or more over the last 3), so the score understates the model."
)


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
        COST_NOTE,
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
        lines += _markdown_table(header(ranked), display_rows(group)) + [""]
    if robust is not None:
        for dataset, group in robust.groupby("dataset"):
            lines += [
                f"## Robustness · {markdown_text(dataset)}",
                "",
                "Mean PSNR over every evaluation noise and level, the worst one, and the drop to it from the PSNR at "
                "the model's own training level (blind: trained over a range of levels, so it has none). An entry "
                "scored on fewer evaluations (a baseline told σ skips jpeg) is listed after the ranked ones, unranked.",
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
