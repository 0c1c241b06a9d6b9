"""The sweep runner: trains and evaluates every pending cell of a grid, here or in worker processes, and stores the results."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.cell import (
    CellEvent,
    SweepData,
    check_fits,
    failed_record,
    measure_speed,
    needs_speed,
    prepare_data,
    run_cell,
    start_process,
)
from bench.config import SweepConfig, dump_config
from bench.grid import Cell, build_cells, changed_code
from bench.progress import SweepProgress
from bench.record import CellRecord
from bench.store import ResultStore, write_text
from bench.workers import WorkerPool
from denoiser.models import create_model_shape
from denoiser.training import pick_device, training_memory_bytes

logger = logging.getLogger(__name__)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


CELLS_PER_GPU = 4  # the knee measured on one H100: the seed protocol took 143 s at 1 worker, 68 s at 4, 67 s at 8
CUDA_CONTEXT_BYTES = 512 << 20  # each worker process's own CUDA context and kernels (an estimate, not measured here)
GPU_MEMORY_SHARE = 0.9  # of the free memory, the rest left to the caching allocator's slack and evaluation


@dataclass(frozen=True)
class WorkerChoice:
    """How many cells run at once, and why (recorded in env.json)."""

    count: int
    reason: str


def choose_workers(
    requested: int, pending: int, threads: int, device: torch.device, free_memory: int | None = None, cell_memory: int = 0
) -> WorkerChoice:
    """How many cells run at once; each runs with ``threads`` torch threads, whatever this returns.

    Default on a CPU: as many workers as the cores allow at ``threads`` each (one per core at the
    default of one thread, measured faster than one worker with all the threads for the DAE on
    2 cores: see README, "Parallel cells"). On CUDA: ``CELLS_PER_GPU`` cells share the device, fewer
    when ``free_memory`` (bytes free on the GPU) does not hold that many cells of ``cell_memory``
    bytes each. ``requested`` > 0 (``--workers``) overrides the default. Workers × threads never
    exceed the cores, and there are never more workers than pending cells.
    """
    fits = max(1, available_cores() // threads)
    reasons = [f"cores allow {fits} at {threads} thread(s) each"]
    if requested > 0:
        workers, default = requested, f"{requested} requested"
    elif device.type == "cuda":
        workers, default = CELLS_PER_GPU, f"cuda: {CELLS_PER_GPU} cells per GPU (measured knee)"
        if free_memory is not None and cell_memory > 0:
            by_memory = max(1, int(free_memory * GPU_MEMORY_SHARE) // cell_memory)
            workers = min(workers, by_memory)
            reasons.append(
                f"memory allows {by_memory} ({free_memory / 2**30:.1f} GiB free, {cell_memory / 2**30:.2f} GiB per cell)"
            )
    else:
        workers, default = fits, "cpu: one worker per `threads` cores"
    count = max(1, min(workers, fits, pending))
    reasons.append(f"{pending} pending cell(s)")
    return WorkerChoice(count, f"{default}; {'; '.join(reasons)} → {count}")


def cell_memory(config: SweepConfig, data: SweepData, cells: list[Cell]) -> int:
    """Device memory one worker needs for the largest of ``cells``' learned models (bytes): its
    training estimate (``training_memory_bytes``) plus the worker's CUDA context."""
    largest = 0
    selection = data.test if config.train.select_on == "test" else data.validation
    for cell in cells:
        if not cell.learned:
            continue
        network = create_model_shape(cell.model, **cell.params)
        size = getattr(network, "image_size", None) or config.train.patch_size or data.train.images.shape[-1]
        stored = data.train.images.numel() + 2 * selection.images.numel() + config.train.patches_per_epoch * size * size
        largest = max(largest, training_memory_bytes(network, config.train.batch_size, (size, size), stored))
    return largest + CUDA_CONTEXT_BYTES


# ----------------------------------------------------------------------------- worker processes

_worker: dict[str, Any] = {}


def _start_worker(config: SweepConfig, root: str, data: SweepData, speed: bool) -> None:
    start_process(config.threads, config.plugins)
    _worker.update(config=config, store=ResultStore(Path(root)), data=data, speed=measure_speed() if speed else None)


def _run_in_worker(cell: Cell, report: Callable[[CellEvent], None]) -> CellRecord:
    return run_cell(cell, _worker["config"], _worker["store"], _worker["data"], report, _worker["speed"])


# ----------------------------------------------------------------------------- the sweep


@dataclass
class SweepOutcome:
    root: Path
    cells: list[Cell]
    skipped: int
    records: list[CellRecord]  # every cell's record, in grid order
    reruns: dict[str, list[str]] = field(default_factory=dict)  # cell id → the pieces whose code changed since its last run

    @property
    def failed(self) -> list[CellRecord]:
        return [record for record in self.records if record.status == "failed"]

    @property
    def skipped_cells(self) -> list[CellRecord]:
        """Cells that could not run here (an optional package missing): not failures."""
        return [record for record in self.records if record.status == "skipped"]


def default_output(config: SweepConfig) -> Path:
    return Path("results") / config.name


def run_sweep(
    config: SweepConfig,
    root: Path,
    *,
    workers: int = 0,
    fresh: bool = False,
    force: bool = False,
    console: Any = None,
    live: bool = False,
) -> SweepOutcome:
    """Run every cell of ``config`` that has no ``ok`` record under ``root``; write results.csv.

    The folder is checked (``ResultStore.claim``: a user's other files are never replaced unless
    ``force``) and the data set loaded (and so checked) once, before anything is written; workers get a copy.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if config.executor == "submitit":
        from bench.cluster import require_submitit

        require_submitit()  # before anything is written
    store = ResultStore(root)
    store.claim(config.name, fresh=fresh, force=force)
    data = prepare_data(config)
    check_fits(config, data)
    store.create()
    with store.lock():  # a second sweep on this folder is refused until this one ends
        return _run_locked(config, store, data, workers=workers, fresh=fresh, console=console, live=live)


def _run_locked(
    config: SweepConfig, store: ResultStore, data: SweepData, *, workers: int, fresh: bool, console: Any, live: bool
) -> SweepOutcome:
    root = store.root
    if fresh:
        aside = store.move_aside()
        if aside is not None:
            logger.info("--fresh: moved the previous results to %s", aside)
        store.create()
    store.mark(config.name)
    write_text(root / "config.yaml", dump_config(config))

    cells = build_cells(config)
    store.write_manifest(cell.cell_id for cell in cells)
    finished = store.finished(cell.cell_id for cell in cells)
    pending = [cell for cell in cells if cell.cell_id not in finished]
    reruns = code_changes(store, pending)
    device = pick_device(config.device)
    requested = workers or config.workers
    free_memory, per_cell = None, 0
    if device.type == "cuda" and not requested and pending:
        free_memory = torch.cuda.mem_get_info(device)[0]
        try:
            per_cell = cell_memory(config, data, pending)
        except Exception as error:  # a plugin model that cannot be built on the meta device: no memory cap
            logger.warning("could not estimate a cell's GPU memory (%s): workers not capped by memory", error)
    choice = choose_workers(requested, len(pending), config.threads, device, free_memory, per_cell)
    worker_count, workers_reason = choice.count, choice.reason
    if config.executor == "submitit":
        worker_count = config.submitit.array_parallelism
        workers_reason = "submitit: the job array's array_parallelism"
    threads = config.threads
    store.write_env(str(device), worker_count, threads, workers_reason)
    if finished:
        logger.info("%d of %d cells already finished: skipped", len(finished), len(cells))
    if reruns:
        logger.info(
            "%d cell(s) run again: the code behind them changed (%s)",
            len(reruns),
            ", ".join(sorted({piece for pieces in reruns.values() for piece in pieces})),
        )
    if pending:
        where = "a submitit job array" if config.executor == "submitit" else f"{worker_count} worker(s) × {threads} thread(s)"
        logger.info("running %d cells on %s: %s", len(pending), device, where)

    with SweepProgress(len(cells), len(finished), console, live) as progress:
        if pending:
            labels = {cell.cell_id: cell.label() for cell in cells}
            try:
                if config.executor == "submitit":
                    from bench.cluster import run_with_submitit

                    run_with_submitit(config, store, pending, progress, labels)
                elif worker_count == 1 and not config.cell_timeout:  # a timeout needs a process it can stop
                    _run_here(config, store, pending, progress, labels, data)
                else:
                    _run_in_pool(config, store, pending, worker_count, progress, labels, data)
            except KeyboardInterrupt:
                store.remove_leftovers()  # the stopped workers' unfinished writes
                raise

    records = store.read_records(cell.cell_id for cell in cells)
    store.write_results_csv(records)
    return SweepOutcome(root, cells, len(finished), records, reruns)


def code_changes(store: ResultStore, pending: list[Cell]) -> dict[str, list[str]]:
    """Pending cells that finished before under other code (a stored ``ok`` record with the same
    settings, another id): cell id → the pieces whose code changed. Says why a resumed sweep reruns them."""
    wanted = {cell.setting_id: cell for cell in pending}
    reruns: dict[str, list[str]] = {}
    for record in store.read_records():
        cell = wanted.get(record.setting_id or "")
        if cell is not None and record.status == "ok" and record.cell_id != cell.cell_id:
            reruns[cell.cell_id] = changed_code(record.code, cell.code) or ["its code"]
    return reruns


def _run_here(
    config: SweepConfig, store: ResultStore, pending: list[Cell], progress: SweepProgress, labels: dict[str, str], data: SweepData
) -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        speed = measure_speed() if needs_speed(config, pending) else None
        for cell in pending:
            record = run_cell(cell, config, store, data, progress.event, speed)
            progress.finished(record, labels[cell.cell_id])
    finally:
        torch.set_num_threads(previous)  # the caller's own setting (the API and the tests run sweeps in-process)


def _run_in_pool(
    config: SweepConfig,
    store: ResultStore,
    pending: list[Cell],
    workers: int,
    progress: SweepProgress,
    labels: dict[str, str],
    data: SweepData,
) -> None:
    """The pending cells in ``workers`` spawned processes. A worker killed mid-cell (the OOM killer,
    ``kill -9``) fails its own cell, recorded with the signal, and so does a cell past ``cell_timeout``
    (its worker killed); the others go on."""

    def died(cell: Cell, reason: str) -> None:
        record = failed_record(cell, config, reason)
        store.write_record(record)
        progress.finished(record, labels[cell.cell_id])

    pool = WorkerPool(
        workers,
        _run_in_worker,
        _start_worker,
        (config, str(store.root), data, needs_speed(config, pending)),
        timeout=config.cell_timeout,
    )
    pool.run(pending, progress.event, lambda cell, record: progress.finished(record, labels[cell.cell_id]), died)
