"""The sweep runner: trains and evaluates every pending cell of a grid, in a process pool, and stores the results."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import queue
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from bench.config import DataConfig, SweepConfig, dump_config
from bench.grid import Cell, build_cells
from bench.progress import SweepProgress
from bench.store import ResultStore, robustness, write_atomically, write_text
from denoiser.baselines import BaselineUnavailable, create_baseline
from denoiser.data import ImageSet, augment, load_dataset, split
from denoiser.design_loop import SpeedComparison, compare_with_design
from denoiser.evaluation import add_noise, evaluation_seed, score
from denoiser.memory import keep_freed_memory
from denoiser.models import count_parameters, create_model
from denoiser.noise import create_noise
from denoiser.training import denoise, pick_device, train

logger = logging.getLogger(__name__)

Report = Callable[[tuple], None]  # receives progress messages: ("epoch", cell_id, label, epoch, epochs, train, test)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_workers(requested: int, pending: int, device: torch.device) -> tuple[int, int]:
    """(workers, threads per worker) with workers × threads ≤ cores.

    Default on a CPU: one worker per core, one thread each, which measured faster than one
    worker with all the threads for the DAE on 2 cores (see README, "Parallel cells"). On CUDA:
    one worker, since the cells share one device.
    """
    cores = available_cores()
    if requested > 0:
        workers = min(requested, cores)
    elif device.type == "cuda":
        workers = 1
    else:
        workers = cores
    workers = max(1, min(workers, pending))
    return workers, max(1, cores // workers)


def prepare_data(data: DataConfig) -> tuple[ImageSet, ImageSet]:
    """Load, augment and split the sweep's data set: (train, test)."""
    images = load_dataset(data.dataset, **data.params)
    augmented = augment(images, data.augment_copies, seed=data.seed)
    return split(augmented, data.split, data.test_fraction, seed=data.seed)


def measure_speed() -> SpeedComparison:
    """The suite's trainer against the founding design's loop on fixed images with this process's
    threads: the ratio makes training speed comparable across machines (see bench/check.py)."""
    images = torch.rand(256, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    return compare_with_design(images)


def cell_record(cell: Cell, config: SweepConfig) -> dict[str, Any]:
    """What every record of ``cell`` starts with: its identity and the sweep's data settings."""
    return {
        "cell_id": cell.cell_id, "sweep": config.name, "model": cell.model, "params": cell.params,
        "learned": cell.learned, "dataset": config.data.dataset, "split": config.data.split,
        "leaky": config.data.split == "augmented-copies", "noise": cell.noise, "train_level": cell.train_level,
        "seed": cell.seed, "evaluations": [], "status": "ok", "error": None,
    }


def run_cell(cell: Cell, config: SweepConfig, store: ResultStore, data: tuple[ImageSet, ImageSet], report: Report,
             speed: SpeedComparison | None = None) -> dict[str, Any]:
    """Train (if learned) and evaluate one cell at every evaluation level; write its record and return it.

    Any error inside the cell becomes a ``failed`` record with the reason: the sweep goes on.
    """
    train_set, test_set = data
    device = pick_device(config.device)
    record = cell_record(cell, config) | {
        "device": str(device), "threads": torch.get_num_threads(), "n_train": len(train_set), "n_test": len(test_set),
    }
    label = cell.label()
    start = time.perf_counter()
    try:
        if cell.learned:
            torch.manual_seed(cell.seed)  # weight initialisation
            model = create_model(cell.model, **cell.params)
            record["n_parameters"] = count_parameters(model)
            report(("start", cell.cell_id, label, config.train.epochs))

            def on_epoch(epoch_report) -> None:
                report(("epoch", cell.cell_id, label, epoch_report.epoch, epoch_report.epochs,
                        epoch_report.train_loss, epoch_report.test_loss))

            result = train(
                model, train_set.images, test_set.images, create_noise(cell.noise, cell.train_level),
                epochs=config.train.epochs, batch_size=config.train.batch_size,
                learning_rate=config.train.learning_rate, patience=config.train.patience,
                seed=cell.seed, device=device, on_epoch=on_epoch,
            )
            record |= {
                "epochs": result.epochs, "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                "train_losses": result.train_losses, "test_losses": result.test_losses,
                "train_seconds": result.train_seconds, "train_images_per_s": result.images_per_second,
            }
            if speed is not None:  # measured once per worker, for the regression gate
                record["reference_images_per_s"] = speed.design_images_per_s
                record["reference_trainer_images_per_s"] = speed.trainer_images_per_s
                record["speed_ratio"] = speed.ratio
            save_checkpoint(store, cell, model)

            def estimate(noisy: torch.Tensor, noise) -> torch.Tensor:
                return denoise(model, noisy.to(device)).cpu()
        else:
            report(("start", cell.cell_id, label, None))
            baseline = create_baseline(cell.model, **cell.params)
            baseline.function()  # raises BaselineUnavailable when an optional package is missing: skipped
            estimate = baseline
        evaluation_start = time.perf_counter()
        clean = test_set.images
        for family, levels in config.eval_noise.items():
            for level in levels:
                noise = create_noise(family, level)
                noisy = add_noise(clean, noise, evaluation_seed(config.evaluation.seed, noise))
                scores = score(clean, noisy, estimate(noisy, noise))
                entry = {"noise": family, "level": level} | scores.__dict__ | {"delta_psnr": scores.delta_psnr}
                if not cell.learned:
                    entry["settings"] = baseline.settings(noise)
                record["evaluations"].append(entry)
        record["eval_seconds"] = time.perf_counter() - evaluation_start
        record["robustness"] = robustness(record)
    except BaselineUnavailable as error:
        record |= {"status": "skipped", "error": str(error)}
    except Exception as error:  # noqa: BLE001 - a failing cell is recorded, not fatal to the sweep
        message = str(error).splitlines()[0] if str(error) else ""
        record |= {"status": "failed", "error": f"{type(error).__name__}: {message}"}
        logger.debug("cell %s failed", cell.cell_id, exc_info=True)
    record["seconds"] = time.perf_counter() - start
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    store.write_record(record)
    return record


def save_checkpoint(store: ResultStore, cell: Cell, model: torch.nn.Module) -> None:
    """state_dict plus the model's name and parameters: loadable with ``weights_only=True``."""
    import io

    buffer = io.BytesIO()
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    torch.save({"model": cell.model, "params": cell.params, "state_dict": state}, buffer)
    write_atomically(store.checkpoint_path(cell.cell_id), buffer.getvalue())


# ----------------------------------------------------------------------------- worker processes

_worker: dict[str, Any] = {}


def _start_worker(config: SweepConfig, root: str, threads: int, messages: Any, data: tuple[ImageSet, ImageSet]) -> None:
    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()  # a spawned process starts with glibc's defaults
    torch.set_num_threads(threads)
    _worker.update(config=config, store=ResultStore(Path(root)), messages=messages, data=data,
                   speed=measure_speed() if config.speed_reference else None)


def _run_in_worker(cell: Cell) -> dict[str, Any]:
    return run_cell(cell, _worker["config"], _worker["store"], _worker["data"], _worker["messages"].put, _worker["speed"])


# ----------------------------------------------------------------------------- the sweep


@dataclass
class SweepOutcome:
    root: Path
    cells: list[Cell]
    skipped: int
    records: list[dict[str, Any]]  # every cell's record, in grid order

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [record for record in self.records if record["status"] == "failed"]

    @property
    def skipped_cells(self) -> list[dict[str, Any]]:
        """Cells that could not run here (an optional package missing): not failures."""
        return [record for record in self.records if record["status"] == "skipped"]


def default_output(config: SweepConfig) -> Path:
    return Path("results") / config.name


def run_sweep(
    config: SweepConfig,
    root: Path,
    *,
    workers: int = 0,
    fresh: bool = False,
    console: Any = None,
    live: bool = False,
) -> SweepOutcome:
    """Run every cell of ``config`` that has no ``ok`` record under ``root``; write results.csv.

    The data set is loaded (and so checked) once, before anything is written; workers get a copy.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if config.executor == "submitit":
        from bench.cluster import require_submitit

        require_submitit()  # before anything is written
    data = prepare_data(config.data)
    store = ResultStore(root)
    store.create()
    if fresh:
        aside = store.move_aside()
        if aside is not None:
            logger.info("--fresh: moved the previous results to %s", aside)
        store.create()
    write_text(root / "config.yaml", dump_config(config))

    cells = build_cells(config)
    finished = store.finished(cell.cell_id for cell in cells)
    pending = [cell for cell in cells if cell.cell_id not in finished]
    device = pick_device(config.device)
    worker_count, threads = choose_workers(workers or config.workers, len(pending), device)
    if config.executor == "submitit":
        worker_count, threads = config.submitit.array_parallelism, config.submitit.cpus_per_task
    store.write_env(str(device), worker_count, threads)
    if finished:
        logger.info("%d of %d cells already finished: skipped", len(finished), len(cells))
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
                elif worker_count == 1:
                    _run_here(config, store, pending, threads, progress, labels, data)
                else:
                    _run_in_pool(config, store, pending, worker_count, threads, progress, labels, data)
            except KeyboardInterrupt:
                store.remove_leftovers()  # the stopped workers' unfinished writes
                raise

    records = store.read_records(cell.cell_id for cell in cells)
    store.write_results_csv(records)
    return SweepOutcome(root, cells, len(finished), records)


def _dispatch(progress: SweepProgress, message: tuple) -> None:
    kind, cell_id = message[0], message[1]
    if kind == "start":
        progress.started(cell_id, message[2], message[3])
    elif kind == "epoch":
        progress.epoch(cell_id, *message[2:])


def _run_here(config: SweepConfig, store: ResultStore, pending: list[Cell], threads: int, progress: SweepProgress,
              labels: dict[str, str], data: tuple[ImageSet, ImageSet]) -> None:
    torch.set_num_threads(threads)
    speed = measure_speed() if config.speed_reference else None
    for cell in pending:
        record = run_cell(cell, config, store, data, lambda message: _dispatch(progress, message), speed)
        progress.finished(record, labels[cell.cell_id])


def _run_in_pool(config: SweepConfig, store: ResultStore, pending: list[Cell], workers: int, threads: int,
                 progress: SweepProgress, labels: dict[str, str], data: tuple[ImageSet, ImageSet]) -> None:
    # spawn, not fork: forking a process whose OpenMP threads already ran can deadlock.
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(config, str(store.root), threads, messages, data))
    try:
        futures: dict[Future, Cell] = {pool.submit(_run_in_worker, cell): cell for cell in pending}
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(messages, progress)
            for future in done:
                progress.finished(future.result(), labels[futures[future].cell_id])
        _drain(messages, progress)
    except BaseException:
        # Interrupted (Ctrl-C) or broken: stop the running cells now rather than waiting for them.
        # Finished cells are already on disk, and records are written atomically, so nothing is half-written.
        processes = list(getattr(pool, "_processes", {}).values())
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _drain(messages: Any, progress: SweepProgress) -> None:
    while True:
        try:
            _dispatch(progress, messages.get_nowait())
        except queue.Empty:
            return


def matched_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For the summary: each learned cell at its own training (noise, level), and each baseline at
    every training (noise, level) of the sweep, sorted by level then PSNR."""
    training_levels = sorted({(record["noise"], record["train_level"]) for record in records if record.get("learned")})
    rows = []
    for record in records:
        if record["status"] != "ok":
            continue
        for item in record["evaluations"]:
            key = (item["noise"], item["level"])
            matched = key == (record["noise"], record["train_level"]) if record.get("learned") else key in training_levels or not training_levels
            if matched:
                rows.append({"record": record, "evaluation": item})
    rows.sort(key=lambda row: (row["evaluation"]["noise"], row["evaluation"]["level"], -_finite(row["evaluation"]["psnr"])))
    return rows


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1e9
