"""The sweep runner: plans a grid's cells (which are pending, how many run at once and why), runs the
pending ones with an executor (``bench/executors.py``: here, in worker processes or as a submitit job
array) and stores the results."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.cluster import require_submitit
from bench.config import SweepConfig, dump_config
from bench.executors import choose_executor
from bench.grid import Cell, build_cells, changed_code
from bench.progress import SweepProgress
from bench.record import CellRecord
from bench.results import Results
from bench.store import ResultStore, write_text
from bench.sweep_data import SweepData, check_fits, prepare_data
from bench.variants import variants
from denoiser.devices import pick_device
from denoiser.training import training_memory_bytes

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
    training estimate (``training_memory_bytes``, on the variant's meta-device shape) plus the worker's CUDA context."""
    largest = 0
    selection = data.test if config.train.select_on == "test" else data.validation
    run = {(cell.model, json.dumps(cell.params, sort_keys=True)) for cell in cells if cell.learned}
    for variant in variants(config):
        if variant.shape is None or (variant.model, json.dumps(variant.params, sort_keys=True)) not in run:
            continue
        size = variant.image_size or config.train.patch_size or data.train.images.shape[-1]
        stored = data.train.images.numel() + 2 * selection.images.numel() + config.train.patches_per_epoch * size * size
        largest = max(largest, training_memory_bytes(variant.shape, config.train.batch_size, (size, size), stored))
    return largest + CUDA_CONTEXT_BYTES


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep will do, decided before any cell runs: its cells, which are finished already,
    which run (and which of those run again because their code changed), where, and how many at once."""

    cells: list[Cell]  # every cell of the grid, in grid order
    finished: dict[str, CellRecord]  # the cells with an ``ok`` record, by id: skipped, their records read once here
    pending: list[Cell]  # the cells to run, in grid order
    reruns: dict[str, list[str]]  # pending cell id → the pieces whose code changed since its last run
    device: torch.device
    workers: WorkerChoice  # how many cells at once, and why (env.json's workers_reason)


def plan_sweep(config: SweepConfig, store: ResultStore, data: SweepData, cells: list[Cell], requested: int) -> SweepPlan:
    """Which of ``cells`` are pending under ``store``, and how many workers run them (``requested`` > 0:
    that many; a submitit job array: its ``array_parallelism``). The stored records are read once, here."""
    held = {cell.cell_id: store.read_record(cell.cell_id) for cell in cells}  # runs/<id>.json, by its name
    finished = {cell_id: record for cell_id, record in held.items() if record is not None and record.status == "ok"}
    pending = [cell for cell in cells if cell.cell_id not in finished]
    stored = [record for record in held.values() if record is not None]
    if pending and store.runs.is_dir():  # the other records, for the code-change check: each read once as well
        stored += store.read_records(sorted({path.stem for path in store.runs.glob("*.json")} - held.keys()))
    device = pick_device(config.device)
    if config.executor == "submitit":
        workers = WorkerChoice(config.submitit.array_parallelism, "submitit: the job array's array_parallelism")
    else:
        workers = _local_workers(config, data, pending, device, requested)
    return SweepPlan(cells, finished, pending, code_changes(stored, pending), device, workers)


def _local_workers(
    config: SweepConfig, data: SweepData, pending: list[Cell], device: torch.device, requested: int
) -> WorkerChoice:
    """:func:`choose_workers` for ``pending``, with the GPU's free memory and a cell's need where CUDA picks the count."""
    free_memory, per_cell = None, 0
    if device.type == "cuda" and not requested and pending:
        free_memory = torch.cuda.mem_get_info(device)[0]
        try:
            per_cell = cell_memory(config, data, pending)
        except Exception as error:  # a plugin model that cannot be built on the meta device: no memory cap
            logger.warning("could not estimate a cell's GPU memory (%s): workers not capped by memory", error)
    return choose_workers(requested, len(pending), config.threads, device, free_memory, per_cell)


def code_changes(stored: list[CellRecord], pending: list[Cell]) -> dict[str, list[str]]:
    """Pending cells that finished before under other code (a stored ``ok`` record with the same
    settings, another id): cell id → the pieces whose code changed. Says why a resumed sweep reruns them."""
    wanted = {cell.setting_id: cell for cell in pending}
    reruns: dict[str, list[str]] = {}
    for record in stored:
        cell = wanted.get(record.setting_id or "")
        if cell is not None and record.status == "ok" and record.cell_id != cell.cell_id:
            reruns[cell.cell_id] = changed_code(record.code, cell.code) or ["its code"]
    return reruns


def _log_plan(config: SweepConfig, plan: SweepPlan) -> None:
    if plan.finished:
        logger.info("%d of %d cells already finished: skipped", len(plan.finished), len(plan.cells))
    if plan.reruns:
        logger.info(
            "%d cell(s) run again: the code behind them changed (%s)",
            len(plan.reruns),
            ", ".join(sorted({piece for pieces in plan.reruns.values() for piece in pieces})),
        )
    if plan.pending:
        if config.executor == "submitit":
            where = "a submitit job array"
        else:
            where = f"{plan.workers.count} worker(s) × {config.threads} thread(s)"
        logger.info("running %d cells on %s: %s", len(plan.pending), plan.device, where)


# ----------------------------------------------------------------------------- the sweep


@dataclass
class SweepOutcome:
    """What a sweep holds when it ends: its results (every cell's record, read once after the cells ran, and
    their frame) and its images, which the summary and the report take instead of reading them again."""

    cells: list[Cell]
    skipped: int
    results: Results
    reruns: dict[str, list[str]] = field(default_factory=dict)  # cell id → the pieces whose code changed since its last run
    data: SweepData | None = None  # the images the cells ran on (the report's example images are drawn on its test split)

    @property
    def root(self) -> Path:
        return self.results.root

    @property
    def records(self) -> list[CellRecord]:
        """Every cell's record, in grid order."""
        return self.results.records

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
    """Run every cell of ``config`` that has no ``ok`` record under ``root``; write results.csv; return what the
    sweep holds (:class:`SweepOutcome`) for the summary and the report.

    The folder is checked (``ResultStore.claim``: a user's other files are never replaced unless
    ``force``) and the data set loaded (and so checked) once, before anything is written; workers get a copy.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if config.executor == "submitit":
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
    """The sweep under its lock: the folder set up, the plan made and written down (the manifest, env.json),
    the pending cells run by the chosen executor, then results.csv written. Each record is read once: the
    stored ones when planning (which cells are finished, whose code changed), the cells run here once they ran."""
    _start_folder(config, store, fresh)
    cells = build_cells(config)
    store.write_manifest(cell.cell_id for cell in cells)
    plan = plan_sweep(config, store, data, cells, workers or config.workers)
    store.write_env(str(plan.device), plan.workers.count, config.threads, plan.workers.reason)
    _log_plan(config, plan)
    with SweepProgress(len(cells), len(plan.finished), console, live) as progress:
        if plan.pending:
            executor = choose_executor(config, store, data, plan.workers.count)
            try:
                executor.run(plan.pending, progress)
            except KeyboardInterrupt:
                store.remove_leftovers()  # the stopped workers' unfinished writes
                raise
    ran = {cell.cell_id: store.read_record(cell.cell_id) for cell in plan.pending}  # by file name, as planning reads
    records = [plan.finished.get(cell.cell_id) or ran.get(cell.cell_id) for cell in cells]
    results = Results(store.root, [record for record in records if record is not None])
    results.write_csv()
    return SweepOutcome(cells, len(plan.finished), results, plan.reruns, data)


def _start_folder(config: SweepConfig, store: ResultStore, fresh: bool) -> None:
    """With ``fresh``, the previous results moved aside; then the folder marked as this sweep's, with its config."""
    if fresh:
        aside = store.move_aside()
        if aside is not None:
            logger.info("--fresh: moved the previous results to %s", aside)
        store.create()
    store.mark(config.name)
    write_text(store.root / "config.yaml", dump_config(config))
