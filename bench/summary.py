"""The summary printed at the end of a sweep: a rich table of every model at its matched noise level."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the sweep module imports torch: keep it out of light commands such as `check`
    from bench.sweep import SweepOutcome


def _params(params: dict) -> str:
    return " ".join(f"{name}={value}" for name, value in sorted(params.items())) or "-"


def summary_console() -> Console:
    """The standard output; wide enough for the table even when it is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def print_summary(outcome: "SweepOutcome", console: Console) -> None:
    """Model, parameters, training level, PSNR/SSIM at the matched level, ΔPSNR; failures listed below."""
    from bench.sweep import matched_rows

    leaky = any(record.get("leaky") for record in outcome.records)
    title = f"{outcome.root}: {len(outcome.records)} cells ({outcome.skipped} skipped as already finished)"
    table = Table(title=title, title_justify="left")
    for column in ("noise", "level", "model", "params", "trained at", "PSNR dB", "SSIM", "ΔPSNR dB", "epochs"):
        left = column in ("noise", "model", "params")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in matched_rows(outcome.records):
        record, item = row["record"], row["evaluation"]
        trained = f"{record['train_level']:g}" if record.get("learned") else "-"
        table.add_row(
            item["noise"], f"{item['level']:g}", record["model"] + (" (leaky split)" if record.get("leaky") else ""),
            _params(record["params"]), trained, f"{item['psnr']:.2f}", f"{item['ssim']:.4f}",
            f"{item['delta_psnr']:+.2f}", str(record.get("epochs", "-")),
        )
    console.print(table)
    if leaky:
        console.print("[yellow]leaky split:[/] augmented copies of test images were trained on (split: augmented-copies)")
    for record in outcome.skipped_cells:
        console.print(f"[yellow]skipped[/] {record['model']}: {record['error']}")
    for record in outcome.failed:
        console.print(f"[red]failed[/] {record['cell_id']} ({record['model']} {_params(record['params'])}): {record['error']}")
    console.print(f"results: {outcome.root / 'results.csv'}")
