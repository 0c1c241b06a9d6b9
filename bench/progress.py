"""Progress of a sweep: a rich live display on a terminal, plain log lines otherwise (or with --quiet)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench.record import CellRecord

if TYPE_CHECKING:  # bench.cell imports torch: keep it out of light commands
    from bench.cell import CellEvent

logger = logging.getLogger(__name__)


class SweepProgress:
    """Cells done / total with an ETA, and one line per running cell (epoch and loss)."""

    def __init__(self, total: int, skipped: int, console: Console, live: bool) -> None:
        self.total = total
        self.done = skipped
        self.live = live
        self.console = console
        self._tasks: dict[str, TaskID] = {}
        self._last_log: dict[str, float] = {}
        self._progress: Progress | None = None
        if live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._overall = self._progress.add_task("cells", total=total, completed=skipped, status="")

    def __enter__(self) -> SweepProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def event(self, event: CellEvent) -> None:
        """A message from a running cell: it started, or finished an epoch."""
        if event.report is None:
            self.started(event.cell_id, event.label, event.epochs)
        else:
            report = event.report
            self.epoch(event.cell_id, event.label, report.epoch, report.epochs, report.train_loss, report.validation_loss)

    def started(self, cell_id: str, label: str, epochs: int | None) -> None:
        if self._progress is not None:
            self._tasks[cell_id] = self._progress.add_task(f"  {label}", total=epochs or 1, status="starting")
        else:
            logger.debug("started %s", label)

    def epoch(self, cell_id: str, label: str, epoch: int, epochs: int, train_loss: float, validation_loss: float) -> None:
        status = f"epoch {epoch}/{epochs} loss {train_loss:.5f} validation {validation_loss:.5f}"
        if self._progress is not None:
            if cell_id not in self._tasks:
                self.started(cell_id, label, epochs)
            self._progress.update(self._tasks[cell_id], completed=epoch, status=status)
        else:
            now = time.monotonic()
            if now - self._last_log.get(cell_id, 0.0) >= 10.0:  # plain output: at most one line per 10 s per cell
                self._last_log[cell_id] = now
                logger.info("%s: %s", label, status)

    def note(self, text: str) -> None:
        """A status line (e.g. the job array's state counts)."""
        if self._progress is not None:
            self._progress.update(self._overall, status=text)
        else:
            logger.info("%s", text)

    def finished(self, record: CellRecord, label: str) -> None:
        self.done += 1
        if record.status == "ok":
            outcome = f"ok in {record.seconds:.1f} s"
            matched = record.matched()
            if matched is not None:
                outcome += f", {matched.psnr:.2f} dB at its training level"
        elif record.status == "skipped":
            outcome = f"skipped: {record.error}"
        else:
            outcome = f"FAILED: {record.error}"
        if self._progress is not None:
            task = self._tasks.pop(record.cell_id, None)
            if task is not None:
                self._progress.remove_task(task)
            self._progress.advance(self._overall)
            self._progress.console.log(f"[{self.done}/{self.total}] {label}: {outcome}")
        else:
            logger.info("[%d/%d] %s: %s", self.done, self.total, label, outcome)
