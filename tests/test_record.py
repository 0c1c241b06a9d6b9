"""The typed cell record, its label and matching predicate, and how cells are laid out on workers and threads."""

import io
import json
from pathlib import Path

import pytest
import torch
from rich.console import Console

from bench.cell import needs_speed, run_cell
from bench.config import load_config
from bench.grid import build_cells
from bench.progress import SweepProgress
from bench.record import CellRecord, Evaluation, MetricScores, RecordError, describe, same_level
from bench.store import ResultStore
from bench.sweep import choose_workers
from denoiser.design_loop import SpeedComparison
from tests.conftest import CI_CONFIG


def evaluation(noise: str, level: float, psnr: float) -> Evaluation:
    return Evaluation(noise, level, 4, {"mse": MetricScores(10 ** (-psnr / 10)), "psnr": MetricScores(psnr, 0.0, 20.0),
                                        "ssim": MetricScores(0.5, 0.0, 0.4)})


def learned_record(**changes) -> CellRecord:
    values = dict(cell_id="dae-1", sweep="s", model="dae", params={"latent_dim": 16}, learned=True, dataset="toy",
                  split="by-source", noise="gaussian", train_level=0.1, seed=0,
                  evaluations=[evaluation("gaussian", 0.1 + 1e-12, 24.0), evaluation("gaussian", 0.2, 21.0)])
    return CellRecord(**(values | changes))


def test_the_label_is_one_function_for_cells_records_and_entries() -> None:
    assert describe("dae", {"latent_dim": 16}, "gaussian", 0.1) == "dae latent_dim=16 (trained gaussian 0.1)"
    assert describe("noisy", {}) == "noisy"
    record = learned_record()
    assert record.label() == "dae latent_dim=16 (trained gaussian 0.1)"
    assert record.label(seed=True) == "dae latent_dim=16 (trained gaussian 0.1) seed 0"
    cell = build_cells(load_config(Path(CI_CONFIG)))[-1]
    assert cell.label() == f"dae latent_dim=16 (trained gaussian {cell.train_level:g}) seed 0"


def test_matched_is_the_training_noise_and_level_within_float_noise() -> None:
    record = learned_record()
    assert same_level(0.1, 0.1 + 1e-12) and not same_level(0.1, 0.1001) and not same_level(None, 0.1)
    assert record.matched() is record.evaluations[0]
    assert [record.is_matched(item) for item in record.evaluations] == [True, False]
    assert record.robustness()["drops"] == {"gaussian 0.1": 0.0, "gaussian 0.2": 3.0}
    baseline = learned_record(model="tv", params={}, learned=False, noise=None, train_level=None, seed=None)
    assert baseline.matched() is None and "drops" not in baseline.robustness()


def test_a_record_round_trips_through_json_and_refuses_what_is_not_one() -> None:
    record = learned_record(train_losses=[0.1, 0.05], validation_losses=[0.2, 0.1], threads=1)
    again = CellRecord.from_dict(json.loads(record.to_json()))
    assert again == record and again.evaluations[1].name == "gaussian 0.2"
    for broken in ([], "text", {"cell_id": "x"}, json.loads(record.to_json()) | {"status": "maybe"},
                   json.loads(record.to_json()) | {"evaluations": [{"noise": "gaussian"}]},
                   json.loads(record.to_json()) | {"params": []}):
        with pytest.raises(RecordError):
            CellRecord.from_dict(broken)


def test_rows_have_a_column_per_model_parameter() -> None:
    rows = learned_record(model="dncnn", params={"depth": 3, "width": 8}).rows()
    assert rows[0]["param_depth"] == 3 and rows[0]["param_width"] == 8 and rows[0]["latent_dim"] is None
    assert [row["matched"] for row in rows] == [True, False]
    failed = learned_record(status="failed", error="boom", evaluations=[]).rows()
    assert len(failed) == 1 and failed[0]["status"] == "failed"


@pytest.mark.parametrize("cores, requested, pending, threads, expected", [
    (2, 0, 9, 1, 2),   # the default: one worker per core
    (2, 0, 1, 1, 1),   # one pending cell: one worker, still one thread (the numbers must not change)
    (8, 0, 9, 2, 4),   # threads: 2 → four workers of two threads
    (2, 5, 9, 1, 2),   # never more workers than cores allow
    (2, 1, 9, 1, 1),
    (1, 0, 9, 4, 1),   # more threads than cores: one worker
])
def test_workers_fill_the_cores_at_the_configured_threads(monkeypatch: pytest.MonkeyPatch, cores: int, requested: int,
                                                           pending: int, threads: int, expected: int) -> None:
    monkeypatch.setattr("bench.sweep.available_cores", lambda: cores)
    assert choose_workers(requested, pending, threads, torch.device("cpu")).count == expected


GIB = 2**30


@pytest.mark.parametrize("cores, requested, pending, free_memory, cell_memory, expected", [
    (16, 0, 20, None, 0, 4),               # the default: the measured knee, four cells per GPU
    (16, 0, 20, 80 * GIB, 1 * GIB, 4),     # memory to spare: still four
    (16, 0, 20, 5 * GIB, 2 * GIB, 2),      # 90 % of 5 GiB holds two cells of 2 GiB
    (16, 0, 20, 1 * GIB, 2 * GIB, 1),      # not even one fits: one, and the cell reports the error
    (16, 0, 3, 80 * GIB, 1 * GIB, 3),      # never more workers than pending cells
    (2, 0, 20, 80 * GIB, 1 * GIB, 2),      # nor more than the cores allow
    (16, 8, 20, 5 * GIB, 2 * GIB, 8),      # --workers overrides the default, memory included
])
def test_several_cells_share_a_gpu_within_its_memory(monkeypatch: pytest.MonkeyPatch, cores: int, requested: int,
                                                     pending: int, free_memory: int | None, cell_memory: int,
                                                     expected: int) -> None:
    monkeypatch.setattr("bench.sweep.available_cores", lambda: cores)
    choice = choose_workers(requested, pending, 1, torch.device("cuda"), free_memory, cell_memory)
    assert choice.count == expected, choice.reason


def test_the_worker_choice_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.sweep.available_cores", lambda: 16)
    reason = choose_workers(0, 20, 1, torch.device("cuda"), 40 * GIB, 1 * GIB).reason
    assert "4 cells per GPU" in reason and "memory allows 36" in reason and reason.endswith("→ 4")
    assert choose_workers(3, 20, 1, torch.device("cpu")).reason.startswith("3 requested")


def test_a_cells_gpu_memory_is_estimated_from_its_largest_model() -> None:
    from bench.sweep_data import prepare_data
    from bench.sweep import CUDA_CONTEXT_BYTES, cell_memory

    config = load_config(Path(CI_CONFIG))
    data = prepare_data(config)
    cells = build_cells(config)
    learned = [cell for cell in cells if cell.learned]
    assert learned and cell_memory(config, data, cells) > CUDA_CONTEXT_BYTES
    assert cell_memory(config, data, [cell for cell in cells if not cell.learned]) == CUDA_CONTEXT_BYTES


def test_the_speed_comparison_is_measured_only_for_pending_learned_cells() -> None:
    config = load_config(Path(CI_CONFIG))
    cells = build_cells(config)
    assert config.speed_reference and needs_speed(config, cells)
    assert not needs_speed(config, [cell for cell in cells if not cell.learned])
    assert not needs_speed(load_config(Path(CI_CONFIG), ["speed_reference=false"]), cells)


def test_a_cell_records_its_threads_its_speed_ratio_and_its_progress(tmp_path: Path) -> None:
    config = load_config(Path(CI_CONFIG), ["train.epochs=1"])
    cell = next(cell for cell in build_cells(config) if cell.learned)
    store = ResultStore(tmp_path / "out")
    store.create()
    images = torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    from denoiser.data import ImageSet

    from bench.sweep_data import SweepData

    data = SweepData(ImageSet(images[:4], torch.arange(4), ()), ImageSet(images[4:6], torch.arange(2), ()),
                     ImageSet(images[6:], torch.arange(2), ()))
    events = []
    record = run_cell(cell, config, store, data, events.append, SpeedComparison(100.0, 150.0, 1.5))
    assert record.status == "ok" and record.threads == 1 and record.speed_ratio == 1.5 and record.selected_on == "validation"
    assert (record.n_train, record.n_validation, record.n_test) == (4, 2, 2)
    assert store.read_record(cell.cell_id) == record
    assert [event.report is None for event in events] == [True, False]  # started, then one epoch
    assert events[1].report.epoch == 1 and events[1].label == cell.label()
    progress = SweepProgress(1, 0, Console(file=io.StringIO()), live=False)
    for event in events:
        progress.event(event)
    progress.finished(record, cell.label())


def test_per_image_metrics_round_trip_rounded_and_old_records_without_them_still_load() -> None:
    from denoiser.evaluation import score
    from denoiser.noise import create_noise

    clean = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    noisy = (clean + 0.1).clamp(0, 1)
    scored = score(clean, noisy, (clean + 0.01).clamp(0, 1), create_noise("gaussian", 0.1))
    psnr, ssim = scored.metrics["psnr"].per_image, scored.metrics["ssim"].per_image
    assert psnr == [round(value, 4) for value in psnr] and ssim == [round(value, 6) for value in ssim]  # the metric's decimals
    stored = json.loads(learned_record(evaluations=[scored]).to_json())
    again = CellRecord.from_dict(stored)
    assert again.evaluations[0] == scored and CellRecord.from_dict(json.loads(again.to_json())) == again
    older = {"noise": "gaussian", "level": 0.1, "mse": 0.01, "psnr": 20.0, "ssim": 0.5, "psnr_std": 1.0, "ssim_std": 0.1,
             "psnr_noisy": 19.0, "ssim_noisy": 0.4, "n_images": 2, "delta_psnr": 1.0}  # before metrics were a registry
    stored["evaluations"] = [older]  # and before per-image metrics were kept
    loaded = CellRecord.from_dict(stored).evaluations[0]
    assert loaded.metrics["psnr"].per_image == [] and loaded.delta_psnr == 1.0 and loaded.metrics["mse"].noisy is None
    stored["evaluations"] = [older | {"psnr_per_image": [23.0, 24.0], "ssim_per_image": [0.5]}]
    with pytest.raises(RecordError, match="SSIM per image for 2 images"):
        CellRecord.from_dict(stored)
    stored["evaluations"] = [older | {"ssim_per_image": ["high", "low"]}]
    with pytest.raises(RecordError):
        CellRecord.from_dict(stored)
