"""What the terminal shows of results: the summary printed at the end of a sweep (a rich table of every model at
its matched noise level), the leaderboard's tables (``bench leaderboard``: :func:`print_board`) and the
regression gate's figures (``bench check``: :func:`print_gate`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.notes import LEAKY_NOTE, NOT_CONVERGED_NOTE, marks
from bench.record import CellRecord, Evaluation, format_params, same_level

if TYPE_CHECKING:  # the sweep module imports torch, the tables pandas: keep them out of light commands such as `list`
    from bench.check import Figure
    from bench.sweep import SweepOutcome
    from bench.tables import Board, Section


def summary_console() -> Console:
    """The standard output; wide enough for the table even when it is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def print_summary(outcome: SweepOutcome, console: Console) -> None:
    """Model, parameters, training level, PSNR/SSIM at the matched level, ΔPSNR; notes and failures below."""
    title = f"{outcome.root}: {len(outcome.records)} cells ({outcome.skipped} skipped as already finished)"
    console.print(summary_table(matched_rows(outcome.records), title))
    for note in _notes(outcome):
        console.print(note, markup=False, highlight=False)
    for record in outcome.skipped_cells:
        console.print(f"[yellow]skipped[/] {record.model}: {record.error}")
    for record in outcome.failed:
        console.print(f"[red]failed[/] {record.cell_id} ({record.label()}): {record.error}")
    console.print(f"results: {outcome.root / 'results.csv'}")


SUMMARY_COLUMNS = ("noise", "level", "model", "params", "trained at", "PSNR dB", "SSIM", "ΔPSNR dB", "epochs")


def summary_table(rows: list[tuple[CellRecord, Evaluation]], title: str) -> Table:
    """One row per (cell, evaluation) of :func:`matched_rows`; with more than one evaluation set, a first
    ``data set`` column, the rows grouped by set in the order the sweep scores them."""
    several = len({_dataset(record, item) for record, item in rows}) > 1
    table = Table(title=title, title_justify="left")
    for column in ("data set",) * several + SUMMARY_COLUMNS:
        left = column in ("data set", "noise", "model", "params")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for record, item in rows:
        trained = "-" if not record.learned else f"{record.train_level:g}" + (" (blind)" if record.blind else "")
        if record.learned and record.noise != item.noise:  # scored on another family (real pairs): say which it trained on
            trained = f"{record.noise} {trained}"
        cells: list[str | Text] = [
            item.noise,
            f"{item.level:g}",
            Text(record.model + marks(record.precision, record.leaky, record.converged)),  # Text: marks are words, not markup
            format_params(record.params) or "-",
            trained,
            f"{item.psnr:.2f}",
            f"{item.ssim:.4f}",
            f"{item.delta_psnr:+.2f}",
            "-" if record.epochs is None else str(record.epochs),
        ]
        table.add_row(*([Text(_dataset(record, item))] if several else []), *cells)
    return table


def _notes(outcome: SweepOutcome) -> list[str]:
    """What the marks of the table mean, and why cells ran again."""
    notes = []
    if any(record.leaky for record in outcome.records):
        notes.append(LEAKY_NOTE)
    unfinished = [record for record in outcome.records if record.status == "ok" and record.converged is False]
    if unfinished:
        epochs = max(record.epochs or 0 for record in unfinished)
        notes.append(
            f"{NOT_CONVERGED_NOTE} {len(unfinished)} learned cell(s) are marked so: train longer, e.g. "
            f"--set train.epochs={2 * epochs}, and keep train.patience to stop where it levels off"
        )
    if outcome.reruns:
        pieces = sorted({piece for changed in outcome.reruns.values() for piece in changed})
        notes.append(
            f"rerun: {len(outcome.reruns)} cell(s) finished before under other code; the code of "
            f"{', '.join(pieces)} changed, so they ran again"
        )
    return notes


def _dataset(record: CellRecord, item: Evaluation) -> str:
    return item.dataset or record.dataset


def matched_rows(records: list[CellRecord]) -> list[tuple[CellRecord, Evaluation]]:
    """For the summary: each learned cell at its own training (noise, level), and each baseline and blind
    model (trained over a range) at every fixed training (noise, level) of the sweep, and every cell on real
    pairs (scored once, at no training level); grouped by evaluation
    set in the order the cells score them (the training data's test split first, then the config's sets),
    then sorted by noise, level and PSNR."""
    training = {(record.noise, record.train_level) for record in records if record.learned and not record.blind}
    rows = []
    order: dict[str, int] = {}
    for record in records:
        if record.status != "ok":
            continue
        for item in record.evaluations:
            order.setdefault(_dataset(record, item), len(order))
            at_training = any(item.noise == noise and same_level(item.level, level) for noise, level in training)
            matched = record.is_matched(item) if record.learned and not record.blind else at_training or not training
            if matched or item.noise == "real":  # real pairs: every cell's one row there
                rows.append((record, item))
    rows.sort(key=lambda row: (order[_dataset(*row)], row[1].noise, row[1].level, -_finite(row[1].psnr)))
    return rows


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1e9


def print_board(board: Board, console: Console) -> None:
    """The terminal's view of the leaderboard: each ranked table and its notes, the board's notes, then each
    robustness table and its notes. Names are Text: a [bracket] in one is not rich markup."""
    for section in board.ranked:
        _print_section(section, console)
    for note in board.notes:
        console.print(note, markup=False, highlight=False)
    for section in board.robustness:
        _print_section(section, console)


LEFT_COLUMNS = ("model", "sweep", "worst at")  # text columns; numbers are aligned right


def _print_section(section: Section, console: Console) -> None:
    table = Table(title=Text(section.title), title_justify="left")
    for header in section.header:
        table.add_column(header, justify="left" if header in LEFT_COLUMNS else "right")
    for cells in section.rows:
        table.add_row(*map(Text, cells))
    console.print(table)
    for note in section.notes:
        console.print(note, markup=False, highlight=False)


def print_gate(figures: list[Figure], title: str, console: Console) -> int:
    """The gate's table of compared figures, a line per regression and the count; returns how many regressed."""
    from bench.check import shown

    table = Table(title=Text(title), title_justify="left")
    for header in ("cell", "figure", "baseline", "now", "allowed", "result"):
        table.add_column(header, justify="right" if header in ("baseline", "now") else "left")
    for figure in figures:  # names as Text: a [bracket] in a model's name is not rich markup
        result = "[green]pass[/]" if figure.passed else "[red]FAIL[/]"
        table.add_row(
            Text(figure.cell), Text(figure.figure), shown(figure.baseline), shown(figure.current), figure.allowed, result
        )
    console.print(table)
    failures = [figure for figure in figures if not figure.passed]
    for figure in failures:
        line = f"regression: {figure.cell}: {figure.figure} is {shown(figure.current)} (allowed {figure.allowed})"
        console.print(line, markup=False, highlight=False)
    console.print(f"gate: {len(figures) - len(failures)} of {len(figures)} figures within tolerance, {len(failures)} regressions")
    return len(failures)
