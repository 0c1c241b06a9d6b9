"""The summary printed at the end of a sweep: a rich table of every model at its matched noise level."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.record import CellRecord, Evaluation, format_params, same_level
from denoiser.training import CONVERGENCE_WINDOW

if TYPE_CHECKING:  # the sweep module imports torch: keep it out of light commands such as `check`
    from bench.sweep import SweepOutcome


def summary_console() -> Console:
    """The standard output; wide enough for the table even when it is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def print_summary(outcome: SweepOutcome, console: Console) -> None:
    """Model, parameters, training level, PSNR/SSIM at the matched level, ΔPSNR; failures listed below."""
    leaky = any(record.leaky for record in outcome.records)
    title = f"{outcome.root}: {len(outcome.records)} cells ({outcome.skipped} skipped as already finished)"
    table = Table(title=title, title_justify="left")
    for column in ("noise", "level", "model", "params", "trained at", "PSNR dB", "SSIM", "ΔPSNR dB", "epochs"):
        left = column in ("noise", "model", "params")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for record, item in matched_rows(outcome.records):
        trained = "-" if not record.learned else f"{record.train_level:g}" + (" (blind)" if record.blind else "")
        if record.learned and record.noise != item.noise:  # scored on another family (real pairs): say which it trained on
            trained = f"{record.noise} {trained}"
        table.add_row(
            item.noise,
            f"{item.level:g}",
            # Text: the marks are words, not rich markup
            Text(record.model + (" [leaky]" if record.leaky else "") + (" [not converged]" if record.converged is False else "")),
            format_params(record.params) or "-",
            trained,
            f"{item.psnr:.2f}",
            f"{item.ssim:.4f}",
            f"{item.delta_psnr:+.2f}",
            "-" if record.epochs is None else str(record.epochs),
        )
    console.print(table)
    if leaky:
        console.print(
            "[yellow]\\[leaky]:[/] test images, or augmented copies of them, were trained on or chose the epoch "
            "(split: augmented-copies, train.select_on: test): those scores are inflated"
        )
    unfinished = [record for record in outcome.records if record.status == "ok" and record.converged is False]
    if unfinished:
        epochs = max(record.epochs or 0 for record in unfinished)
        console.print(
            f"[yellow]\\[not converged]:[/] {len(unfinished)} learned cell(s) ended with the validation loss still "
            f"falling (by 1 % or more over the last {CONVERGENCE_WINDOW} epochs): their scores understate the model. "
            f"Train longer, e.g. --set train.epochs={2 * epochs}, and keep train.patience to stop where it levels off"
        )
    if outcome.reruns:
        pieces = sorted({piece for changed in outcome.reruns.values() for piece in changed})
        console.print(
            f"rerun: {len(outcome.reruns)} cell(s) finished before under other code; the code of "
            f"{', '.join(pieces)} changed, so they ran again",
            markup=False,
        )
    for record in outcome.skipped_cells:
        console.print(f"[yellow]skipped[/] {record.model}: {record.error}")
    for record in outcome.failed:
        console.print(f"[red]failed[/] {record.cell_id} ({record.label()}): {record.error}")
    console.print(f"results: {outcome.root / 'results.csv'}")


def matched_rows(records: list[CellRecord]) -> list[tuple[CellRecord, Evaluation]]:
    """For the summary: each learned cell at its own training (noise, level), and each baseline and blind
    model (trained over a range) at every fixed training (noise, level) of the sweep, sorted by level then PSNR."""
    training = {(record.noise, record.train_level) for record in records if record.learned and not record.blind}
    rows = []
    for record in records:
        if record.status != "ok":
            continue
        for item in record.evaluations:
            at_training = any(item.noise == noise and same_level(item.level, level) for noise, level in training)
            matched = record.is_matched(item) if record.learned and not record.blind else at_training or not training
            if matched:
                rows.append((record, item))
    rows.sort(key=lambda row: (row[1].noise, row[1].level, -_finite(row[1].psnr)))
    return rows


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1e9
