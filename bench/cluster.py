"""``--executor submitit``: the pending cells of a sweep as one job array, through submitit.

The results folder (on a filesystem the cluster shares) is the only channel back: each task
writes its cell's record and checkpoint exactly as a local worker does, so resuming works
across executors and a re-submission skips finished cells. Tested with submitit's ``local``
cluster, which runs the tasks as processes on this machine.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cell import failed_record, measure_speed, needs_speed, run_cell, start_process
from bench.config import SweepConfig
from bench.grid import Cell
from bench.progress import SweepProgress
from bench.record import CellRecord
from bench.store import ResultStore
from bench.sweep_data import prepare_data
from denoiser.errors import DenoiserError

logger = logging.getLogger(__name__)


class ExecutorUnavailable(DenoiserError):
    """submitit is not installed."""


def require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ExecutorUnavailable("--executor submitit needs submitit: pip install 'denoise-bench[slurm]'") from None
    return submitit


def run_cell_task(config: SweepConfig, root: str, cell: Cell) -> CellRecord:
    """One task of the array: load the data, run the cell with the config's threads (as a local
    worker does, so the numbers match), write its record (in the shared folder)."""
    start_process(config.threads, config.plugins)
    speed = measure_speed() if needs_speed(config, [cell]) else None
    return run_cell(cell, config, ResultStore(Path(root)), prepare_data(config), lambda event: None, speed)


def submitit_executor(config: SweepConfig, store: ResultStore) -> Any:
    """submitit's ``AutoExecutor`` for the config's ``submitit:`` settings, its logs under ``<out>/submitit/``."""
    submitit = require_submitit()
    settings = config.submitit
    executor = submitit.AutoExecutor(
        folder=store.root / "submitit" / "%j", cluster=None if settings.cluster == "auto" else settings.cluster
    )
    executor.update_parameters(
        name=f"denoise-bench-{config.name}",
        timeout_min=settings.timeout_min,
        cpus_per_task=settings.cpus_per_task,
        gpus_per_node=settings.gpus_per_node,
        mem_gb=settings.mem_gb,
        slurm_partition=settings.partition or None,
        slurm_array_parallelism=settings.array_parallelism,
    )
    return executor


def failed_task_record(config: SweepConfig, cell: Cell, job: Any, error: BaseException) -> CellRecord:
    """The record of a task that died without writing one (killed, out of memory, timed out)."""
    message = str(error).strip().splitlines()
    reason = message[-1] if message else type(error).__name__
    return failed_record(cell, config, f"task {job.job_id} failed: {reason[:300]} (log: {job.paths.stderr})")


@dataclass(frozen=True)
class SubmititExecutor:
    """The cells as one submitit job array (an ``Executor``, see bench/executors.py), followed until every
    task has ended: the display shows the array's state counts, and a task that died without a record
    becomes a failed cell naming its log."""

    config: SweepConfig
    store: ResultStore

    def run(self, cells: list[Cell], progress: SweepProgress) -> None:
        count = len(cells)
        jobs = submitit_executor(self.config, self.store).map_array(
            run_cell_task, [self.config] * count, [str(self.store.root)] * count, cells
        )
        logger.info(
            "submitted %d tasks as job array %s (logs in %s)", count, jobs[0].job_id.split("_")[0], self.store.root / "submitit"
        )
        waiting = {cell.cell_id: (cell, job) for cell, job in zip(cells, jobs)}
        last_counts: tuple[int, ...] = ()
        while waiting:
            self._collect(waiting, progress)
            states = [job.state for _, job in waiting.values()]
            counts = (
                sum(state in ("PENDING", "REQUEUED", "UNKNOWN") for state in states),
                sum(state == "RUNNING" for state in states),
                count - len(waiting),
            )
            if counts != last_counts:
                progress.note(f"job array: {counts[0]} pending, {counts[1]} running, {counts[2]} ended")
                last_counts = counts
            if waiting:
                time.sleep(1.0)

    def _collect(self, waiting: dict[str, tuple[Cell, Any]], progress: SweepProgress) -> None:
        """Take the tasks that have ended out of ``waiting``: each one's record (written by the task, or a
        failed one written here) goes to the display."""
        for cell_id, (cell, job) in list(waiting.items()):
            if not job.done():
                continue
            del waiting[cell_id]
            try:
                record = job.result()
            except Exception as error:  # noqa: BLE001 - the task died: record it, go on
                record = failed_task_record(self.config, cell, job, error)
                self.store.write_record(record)
            progress.finished(record, cell.label())
