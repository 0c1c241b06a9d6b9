"""One cell of a sweep, wherever it runs (in the sweep's process, a pool worker or a submitit task):
train it if it is learned, evaluate it at every evaluation level, store its record and checkpoint.

A cell's numbers depend only on the cell and the config: every cell runs with the config's
``threads`` torch threads, whatever the number of workers or pending cells (see README,
"Parallel cells"), because oneDNN's kernels may sum in another order on another thread count.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from bench.checkpoints import save_checkpoint
from bench.config import SweepConfig, data_channels
from bench.grid import Cell
from bench.record import CellRecord, non_finite
from bench.scoring import BaselineRun, Scoring, evaluate_cell
from bench.store import ResultStore
from bench.sweep_data import SweepData
from denoiser.baselines import BaselineUnavailable, create_baseline
from denoiser.cost import PeakMemory, time_inference
from denoiser.design_loop import SpeedComparison, compare_with_design
from denoiser.devices import deterministic_kernels, pick_device, tf32_kernels
from denoiser.evaluation import torch_settings_kept
from denoiser.inference import LearnedDenoiser
from denoiser.memory import keep_freed_memory
from denoiser.models import MODELS, count_parameters, create_model
from denoiser.noise import protocol_for
from denoiser.precision import INFERENCE_PRECISION
from denoiser.training import EpochReport, TrainSettings, fit_to_input_size, train

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellEvent:
    """A progress message from a running cell: it started (``report`` is None) or finished an epoch."""

    cell_id: str
    label: str
    epochs: int | None  # the maximum; None for a classical baseline
    report: EpochReport | None = None


Report = Callable[[CellEvent], None]


def start_process(threads: int, plugins: Sequence[str] = ()) -> None:
    """What every process that runs cells does first: the memory setting, the cell's thread count,
    and the plugins (a spawned worker or a submitit task imports only the package)."""
    from denoiser.plugins import load_plugins

    keep_freed_memory()  # a spawned process starts with glibc's defaults
    torch.set_num_threads(threads)
    load_plugins(plugins)


@contextlib.contextmanager
def cell_state(threads: int, seed: int) -> Iterator[None]:
    """The process state a cell runs in, set afresh for every cell and restored after: what one cell (a
    plugin that calls ``torch.set_num_threads``, changes the default dtype, turns gradients off or draws
    from the global generators) did to its process never reaches the next cell in the same worker.
    The deterministic-kernel and TF32 flags are set per cell by ``run_cell`` in the same way."""
    with torch_settings_kept():
        torch.set_num_threads(threads)
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        yield


def measure_speed() -> SpeedComparison:
    """The suite's trainer against the founding design's loop on fixed images with this process's
    threads: the ratio makes training speed comparable across machines (see bench/check.py)."""
    images = torch.rand(256, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    return compare_with_design(images)


def needs_speed(config: SweepConfig, cells: list[Cell]) -> bool:
    """The speed comparison is measured only for the gate, and only where a learned cell will use it."""
    return config.speed_reference and any(cell.learned for cell in cells)


def new_record(cell: Cell, config: SweepConfig) -> CellRecord:
    """The record every outcome of ``cell`` starts from: its identity and the sweep's data settings."""
    return CellRecord(
        cell_id=cell.cell_id,
        sweep=config.name,
        model=cell.model,
        params=cell.params,
        learned=cell.learned,
        dataset=config.data.label,
        split=config.data.split,
        noise=cell.noise,
        train_level=cell.train_level,
        seed=cell.seed,
        threads=config.threads,
        code=cell.code,
        setting_id=cell.setting_id,
    )


def failed_record(cell: Cell, config: SweepConfig, error: str) -> CellRecord:
    """The record of a cell that died without writing one (a killed worker or task)."""
    record = new_record(cell, config)
    record.status, record.error = "failed", error
    record.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return record


def run_cell(
    cell: Cell, config: SweepConfig, store: ResultStore, data: SweepData, report: Report, speed: SpeedComparison | None = None
) -> CellRecord:
    """Train (if learned) and evaluate one cell at every evaluation level; write its record and return it.

    The test images are touched once, after training. Any error inside the cell becomes a
    ``failed`` record with the reason: the sweep goes on.
    """
    device = pick_device(config.device)
    record = _started_record(cell, config, data, device)
    start = time.perf_counter()
    try:
        # on CUDA: identical records, stated precision; everywhere: the cell's own threads, dtype, grad mode and seeds
        with (
            deterministic_kernels(config.deterministic),
            tf32_kernels(config.tf32),
            cell_state(config.threads, cell.seed or 0),
            PeakMemory(device) as memory,
        ):
            if cell.learned:
                scoring = _train(cell, config, store, data, device, record, report, speed)
            else:
                report(CellEvent(cell.cell_id, cell.label(), None))
                scoring = BaselineRun(create_baseline(cell.model, **cell.params))
                scoring.baseline.function()  # raises BaselineUnavailable when an optional package is missing: skipped
                record.n_parameters = 0  # nothing learned
            evaluation_start = time.perf_counter()
            record.evaluations = evaluate_cell(config, data, scoring)
            record.eval_seconds = time.perf_counter() - evaluation_start
            timing = time_inference(scoring.denoiser, scoring.device, data_channels(config))
            record.ms_per_megapixel, record.inference_runs_ms = timing.ms_per_megapixel, [round(ms, 3) for ms in timing.runs_ms]
        record.peak_memory_mb = memory.megabytes
        reason = non_finite(record.evaluations)
        if reason is not None:
            record.status, record.error, record.evaluations = "failed", reason, []
    except BaselineUnavailable as error:
        record.status, record.error = "skipped", str(error)
    except Exception as error:  # noqa: BLE001 - a failing cell is recorded, not fatal to the sweep
        message = str(error).splitlines()[0] if str(error) else ""
        record.status, record.error, record.evaluations = "failed", f"{type(error).__name__}: {message}", []
        logger.debug("cell %s failed", cell.cell_id, exc_info=True)
    record.seconds = time.perf_counter() - start
    record.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write(store, record)
    return record


def _started_record(cell: Cell, config: SweepConfig, data: SweepData, device: torch.device) -> CellRecord:
    """A cell's record before it runs: its identity, the data's sizes, the device and its kernel settings."""
    record = new_record(cell, config)
    if cell.noise is not None and cell.train_level is not None:  # learned
        # as its evaluations will say it, so that "evaluated at its training level" holds in colour too
        record.train_protocol = protocol_for(config.make_noise(cell.noise, cell.train_level), data_channels(config))
    record.device, record.n_train, record.n_test = str(device), len(data.train), len(data.test)
    record.n_validation = len(data.validation)
    record.deterministic = config.deterministic
    record.tf32 = config.tf32 if device.type == "cuda" else None  # the CPU has no TF32
    record.precision = config.precision if cell.learned else None
    record.inference_precision = INFERENCE_PRECISION
    return record


def _write(store: ResultStore, record: CellRecord) -> None:
    """Store the record. A full disk fails the cell, in a shorter record; if that cannot be written either,
    the sweep stops."""
    try:
        store.write_record(record)
    except OSError as error:
        if record.status == "failed":
            raise
        record.status, record.error, record.evaluations = "failed", f"its record could not be written: {error.strerror}", []
        store.write_record(record)


def _train(
    cell: Cell,
    config: SweepConfig,
    store: ResultStore,
    data: SweepData,
    device: torch.device,
    record: CellRecord,
    report: Report,
    speed: SpeedComparison | None,
) -> Scoring:
    """Train the cell's model, fill the record's training fields, save the checkpoint; returns the trained
    denoiser as it is scored, with how it runs on whole images when its input size is fixed (the DAE: tiled).

    The epoch is chosen on the validation split, or, with ``train.select_on: test`` (the founding
    design's protocol), on the test split itself; the record says which (``selected_on``)."""
    assert cell.noise is not None and cell.train_level is not None and cell.seed is not None  # a learned cell has them
    selection = data.test if config.train.select_on == "test" else data.validation
    record.selected_on = config.train.select_on
    torch.manual_seed(cell.seed)  # weight initialisation
    model = create_model(cell.model, **cell.params)
    record.n_parameters = count_parameters(model)
    label = cell.label()
    report(CellEvent(cell.cell_id, label, config.train.epochs))
    # The trainer's settings, built here only: the config's train block less select_on (the split chosen above),
    # and the sweep's precision.
    trained = {item.name: getattr(config.train, item.name) for item in fields(TrainSettings) if item.name != "precision"}
    settings = TrainSettings(**trained, precision=config.precision)
    settings, validation = fit_to_input_size(model, settings, data.train.images, selection.images)
    record.patch_size = settings.patch_size or None
    noise = config.make_noise(cell.noise, cell.train_level)
    on_epoch = lambda epoch: report(CellEvent(cell.cell_id, label, config.train.epochs, epoch))  # noqa: E731
    result = train(model, data.train.images, validation, noise, settings, seed=cell.seed, device=device, on_epoch=on_epoch)
    record.epochs, record.best_epoch, record.stopped_early = result.epochs, result.best_epoch, result.stopped_early
    record.train_losses, record.validation_losses = result.train_losses, result.validation_losses
    record.converged = result.converged
    record.train_seconds, record.train_images_per_s = result.wall_seconds, result.images_per_second
    if speed is not None:  # measured once per worker, for the regression gate
        record.reference_images_per_s = speed.design_images_per_s
        record.reference_trainer_images_per_s = speed.trainer_images_per_s
        record.speed_ratio = speed.ratio
    # the module that registered the model: a plugin's is named in the file (bench denoise, report)
    save_checkpoint(store.checkpoint_path(cell.cell_id), cell.model, cell.params, model, MODELS.get(cell.model).module)
    denoiser = LearnedDenoiser(model, device, config.evaluation.tile_stride)
    return Scoring(denoiser, device, denoiser.tiling)
