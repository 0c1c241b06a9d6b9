"""Where a sweep's pending cells run: one ``Executor`` protocol, three executors behind it.

- :class:`InProcessExecutor`: one cell after another in the sweep's own process (one worker, no timeout);
- :class:`PoolExecutor`: spawned worker processes (``bench/workers.py``): a worker that dies, or a cell
  past ``cell_timeout``, fails its own cell only;
- :class:`bench.cluster.SubmititExecutor`: one submitit job array (``--executor submitit``).

Each runs every cell it is given to a stored record (a cell that dies without writing one gets a failed
record), and tells the progress display of every cell event and every finished cell. The planning (which
cells, how many workers) is the sweep's (``bench/sweep.py``); :func:`choose_executor` picks one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from bench.cell import CellEvent, failed_record, measure_speed, needs_speed, run_cell, start_process
from bench.cluster import SubmititExecutor
from bench.config import SweepConfig
from bench.grid import Cell
from bench.progress import SweepProgress
from bench.record import CellRecord
from bench.store import ResultStore
from bench.sweep_data import SweepData
from bench.workers import WorkerPool

logger = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs ``cells`` to records in the store, reporting to ``progress``; returns when every one has ended.
    Ctrl-C (KeyboardInterrupt) goes through, after the executor's own processes are stopped."""

    def run(self, cells: list[Cell], progress: SweepProgress) -> None: ...


def choose_executor(config: SweepConfig, store: ResultStore, data: SweepData, workers: int) -> Executor:
    """submitit when the config says so; else this process for one worker, else a pool of ``workers``.
    A ``cell_timeout`` needs a process it can stop: with one, even one worker is a pool (of one)."""
    if config.executor == "submitit":
        return SubmititExecutor(config, store)
    if workers == 1 and not config.cell_timeout:
        return InProcessExecutor(config, store, data)
    return PoolExecutor(config, store, data, workers)


@dataclass(frozen=True)
class InProcessExecutor:
    """The cells one after another in this process, with the config's threads (the caller's own setting
    restored after: the API and the tests run sweeps in-process)."""

    config: SweepConfig
    store: ResultStore
    data: SweepData

    def run(self, cells: list[Cell], progress: SweepProgress) -> None:
        previous = torch.get_num_threads()
        torch.set_num_threads(self.config.threads)
        try:
            speed = measure_speed() if needs_speed(self.config, cells) else None
            for cell in cells:
                record = run_cell(cell, self.config, self.store, self.data, progress.event, speed)
                progress.finished(record, cell.label())
        finally:
            torch.set_num_threads(previous)


@dataclass(frozen=True)
class PoolExecutor:
    """The cells in ``workers`` spawned processes. A worker killed mid-cell (the OOM killer, ``kill -9``)
    fails its own cell, recorded with the signal, and so does a cell past ``cell_timeout`` (its worker
    killed); the others go on."""

    config: SweepConfig
    store: ResultStore
    data: SweepData
    workers: int

    def run(self, cells: list[Cell], progress: SweepProgress) -> None:
        def died(cell: Cell, reason: str) -> None:
            record = failed_record(cell, self.config, reason)
            self.store.write_record(record)
            progress.finished(record, cell.label())

        pool = WorkerPool(
            self.workers,
            _run_in_worker,
            _start_worker,
            (self.config, str(self.store.root), self.data, needs_speed(self.config, cells)),
            timeout=self.config.cell_timeout,
        )
        pool.run(cells, progress.event, lambda cell, record: progress.finished(record, cell.label()), died)


# ----------------------------------------------------------------------------- inside a worker process

_worker: dict[str, Any] = {}  # what a worker sets up once: the config, the store, the data, the speed comparison


def _start_worker(config: SweepConfig, root: str, data: SweepData, speed: bool) -> None:
    start_process(config.threads, config.plugins)
    _worker.update(config=config, store=ResultStore(Path(root)), data=data, speed=measure_speed() if speed else None)


def _run_in_worker(cell: Cell, report: Callable[[CellEvent], None]) -> CellRecord:
    return run_cell(cell, _worker["config"], _worker["store"], _worker["data"], report, _worker["speed"])
