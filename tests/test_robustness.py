"""Noise robustness end to end: classical baselines told the σ or estimating it, blind models trained over a
range of levels, and what every cell cost (parameters, inference time, training time, peak memory, whether
training had converged): one small sweep in this process, read through records, results.csv, the
leaderboard, the summary and the report."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from bench import leaderboard, ranking, tables
from bench.config import ConfigError, load_config
from bench.record import CellRecord
from bench.report import write_report
from bench.summary import print_summary
from bench.sweep import SweepOutcome, run_sweep
from denoiser.levels import LevelRange
from denoiser.models import count_parameters, create_model

ROBUST = [
    "name=robust",
    "data.params={tiles: 2}",
    "data.augment_copies=0",
    "models={dncnn: {depth: 3, width: 4}, tv: {sigma: [oracle, estimated]}}",
    "noise={gaussian: [0.1, {min: 0, max: 0.2}]}",
    "evaluation.noise={gaussian: [0.05, 0.1, 0.2], jpeg: [30]}",
    "train={epochs: 4, patience: 0, batch_size: 16}",
]


@pytest.fixture(scope="module")
def robust_sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepOutcome:
    """A fixed-σ and a blind dncnn, TV told the σ and estimating it, scored on Gaussian noise and JPEG."""
    out = tmp_path_factory.mktemp("robust") / "robust"
    outcome = run_sweep(load_config(None, ROBUST), out, workers=1, console=Console(file=io.StringIO()))
    assert not outcome.failed, [record.error for record in outcome.failed]
    return outcome


def _record(outcome: SweepOutcome, model: str, **match: object) -> CellRecord:
    found = [
        record
        for record in outcome.records
        if record.model == model
        and all(record.params.get(key) == value for key, value in match.items() if key != "blind")
        and ("blind" not in match or record.blind == match["blind"])
    ]
    assert len(found) == 1, [record.label() for record in found]
    return found[0]


# ----------------------------------------------------------------------------- σ told or estimated


def test_oracle_and_estimated_baselines_are_separate_labelled_rows(robust_sweep: SweepOutcome) -> None:
    oracle, estimated = _record(robust_sweep, "tv", sigma="oracle"), _record(robust_sweep, "tv", sigma="estimated")
    assert oracle.label() == "tv sigma=oracle" and estimated.label() == "tv sigma=estimated"
    assert {item.name for item in oracle.evaluations} == {
        "gaussian 0.05",
        "gaussian 0.1",
        "gaussian 0.2",
    }  # no σ to tell for jpeg
    assert {item.name for item in estimated.evaluations} == {"gaussian 0.05", "gaussian 0.1", "gaussian 0.2", "jpeg 30"}


def test_records_say_the_mode_and_each_estimated_sigma(robust_sweep: SweepOutcome) -> None:
    oracle, estimated = _record(robust_sweep, "tv", sigma="oracle"), _record(robust_sweep, "tv", sigma="estimated")
    told = next(item for item in oracle.evaluations if item.name == "gaussian 0.1")
    assert told.settings == {"sigma_mode": "oracle", "weight": pytest.approx(0.1)}
    for item in estimated.evaluations:
        settings = item.settings or {}
        assert settings["sigma_mode"] == "estimated" and "estimate_sigma" in settings["sigma_estimator"]
        assert len(settings["sigma_per_image"]) == item.n_images
        assert settings["sigma_true"] == (None if item.noise == "jpeg" else pytest.approx(item.level))
    at_01 = next(item for item in estimated.evaluations if item.name == "gaussian 0.1").settings or {}
    error = sum(abs(sigma - 0.1) for sigma in at_01["sigma_per_image"]) / len(at_01["sigma_per_image"])
    assert error < 0.03  # estimate_sigma on 64×64 tiles of photographs: a few thousandths to a couple of hundredths


def test_estimated_sigma_changes_the_numbers_not_the_noisy_images(robust_sweep: SweepOutcome) -> None:
    oracle, estimated = _record(robust_sweep, "tv", sigma="oracle"), _record(robust_sweep, "tv", sigma="estimated")
    for told, guessed in zip(oracle.evaluations, estimated.evaluations):
        assert told.name == guessed.name
        assert told.metrics["psnr"].noisy == guessed.metrics["psnr"].noisy  # the same noisy images
        assert told.psnr != guessed.psnr


def test_an_oracle_only_baseline_with_jpeg_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [*ROBUST, "models={tv: {}}"])
    assert str(caught.value) == (
        "models.tv.sigma: oracle cannot tell tv the σ of jpeg noise, which has none; "
        "give sigma: estimated, or [oracle, estimated] for both (the oracle rows then leave jpeg out)"
    )
    with pytest.raises(ConfigError, match="models.tv: sigma must be one of oracle, estimated, got 'guess'"):
        load_config(None, [*ROBUST, "models={tv: {sigma: guess}}"])
    load_config(None, [*ROBUST, "models={tv: {sigma: estimated}, noisy: {}}"])  # estimated alone, and noisy (no σ): fine


def test_a_baseline_told_no_sigma_refuses_and_one_estimating_works() -> None:
    import torch

    from denoiser.baselines import NoSigmaToTell, create_baseline
    from denoiser.noise import create_noise, make_generator

    clean = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    noise = create_noise("jpeg", 30)
    noisy = noise(clean, make_generator(0))
    with pytest.raises(NoSigmaToTell, match="tv: sigma: oracle cannot tell tv the σ of jpeg noise, which has none"):
        create_baseline("tv")(noisy, noise)
    assert create_baseline("tv", sigma="estimated")(noisy, noise).shape == noisy.shape


# ----------------------------------------------------------------------------- blind training over a range


def test_a_blind_model_is_labelled_by_its_range_and_matched_nowhere(robust_sweep: SweepOutcome) -> None:
    blind = _record(robust_sweep, "dncnn", blind=True)
    assert blind.train_level == LevelRange(0.0, 0.2)
    assert blind.label() == "dncnn depth=3 width=4 (trained gaussian 0–0.2)"
    assert "drawn per image uniformly in [0, 0.2]" in (blind.train_protocol or "")
    assert not any(blind.is_matched(item) for item in blind.evaluations)
    assert blind.robustness()["blind"] == "trained over gaussian 0–0.2" and "drops" not in blind.robustness()
    stored = json.loads((robust_sweep.root / "runs" / f"{blind.cell_id}.json").read_text())
    assert stored["train_level"] == {"min": 0.0, "max": 0.2}
    assert CellRecord.from_dict(stored).train_level == LevelRange(0.0, 0.2)


def test_blind_rows_in_the_table_the_leaderboard_and_the_summary(robust_sweep: SweepOutcome) -> None:
    table = pd.read_csv(robust_sweep.root / "results.csv")
    blind = table[table["train_range"].notna()]
    assert set(blind["train_range"]) == {"0–0.2"} and blind["train_level"].isna().all()
    assert set(blind["trained"]) == {"gaussian 0–0.2"}
    assert set(table[table["model"] == "dncnn"]["trained"]) == {"gaussian 0.1", "gaussian 0–0.2"}
    robust = ranking.robustness(ranking.read_results([robust_sweep.root]))
    drops = dict(zip(robust["entry"].str.split(" \\[").str[0], robust["drop"]))
    assert drops["dncnn depth=3 width=4 (trained gaussian 0–0.2)"] == "blind"
    assert drops["tv sigma=estimated"] == "-"
    assert float(drops["dncnn depth=3 width=4 (trained gaussian 0.1)"]) >= 0
    console = Console(file=io.StringIO(), width=200)
    print_summary(robust_sweep, console)
    assert "0–0.2 (blind)" in console.file.getvalue()  # type: ignore[attr-defined]


def test_a_level_range_is_checked_at_load() -> None:
    cases = {
        "noise={gaussian: [{min: 0.2, max: 0.1}]}": "noise.gaussian[0]: a level range needs min < max, got min 0.2, max 0.1",
        "noise={gaussian: [{min: -1, max: 0.1}]}": "noise.gaussian: gaussian sigma must be ≥ 0, got -1.0",
        "noise={gaussian: [{min: 0, top: 1}]}": "unknown key 'noise.gaussian[0].top'; valid: min, max",
        "noise={gaussian: [low]}": "noise.gaussian[0]: expected a number or a mapping, got 'low'",
        "evaluation.noise={gaussian: [{min: 0, max: 0.1}]}": "evaluation.noise.gaussian[0]: expected a number, got",
        "noise={jpeg: [{min: 10, max: 80}]}": "noise.jpeg: a range draws any level between its ends, and jpeg quality must "
        "be a whole number from 1 to 100, got 43.719",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError) as caught:
            load_config(None, [override])
        assert str(caught.value).startswith(message), (override, str(caught.value))
    with pytest.raises(ConfigError, match="evaluation.noise: the training levels are all ranges"):
        load_config(None, ["noise={gaussian: [{min: 0, max: 0.2}]}"])


def test_blind_noise_draws_each_images_level_from_the_range() -> None:
    import torch

    from denoiser.noise import create_noise, make_generator

    noise = create_noise("gaussian", LevelRange(0.02, 0.3), clip=False)
    clean = torch.full((400, 1, 32, 32), 0.5)
    residual = noise(clean, make_generator(3)) - clean
    sigmas = residual.flatten(1).std(dim=1)
    assert sigmas.min() > 0.015 and sigmas.max() < 0.32
    assert sigmas.mean().item() == pytest.approx((0.02 + 0.3) / 2, abs=0.01)  # uniform: the middle on average
    assert torch.equal(noise(clean, make_generator(3)), noise(clean, make_generator(3)))
    assert noise.equivalent_sigma is None


def test_dncnn_b_figures_apply_to_a_blind_20_layer_entry_only() -> None:
    from bench.published import literature_key, published_for

    figures = {(figure.method, figure.sigma): figure for figure in published_for("set12", "gaussian", literature_key(25).text)}
    assert figures[("DnCNN-B", 25)].psnr == 30.36 and figures[("DnCNN-S", 25)].psnr == 30.44
    blind = pd.Series(
        {"dataset": "set12", "eval_noise": "gaussian", "noise_protocol": literature_key(25).text, "model": "dncnn",
         "params": json.dumps({"depth": 20, "width": 64}), "noise": "gaussian", "train_level": None, "train_range": "0–55"},
        dtype=object,
    )  # fmt: skip
    assert ranking._published_psnr(blind) == 30.36
    assert ranking._published_psnr(pd.concat([blind.drop("train_range"), pd.Series({"train_range": "0–10"})])) is None
    assert ranking._published_psnr(pd.concat([blind.drop("noise"), pd.Series({"noise": "correlated-gaussian"})])) is None
    fixed = blind.copy()
    fixed["train_range"], fixed["train_level"] = None, 25.0
    assert ranking._published_psnr(fixed) is None  # a fixed-σ model of 20 layers: no figure
    fixed["params"] = json.dumps({"depth": 17, "width": 64})
    assert ranking._published_psnr(fixed) == 30.44  # DnCNN-S: 17 layers, trained at the σ scored
    fixed["train_level"] = 15.0
    assert ranking._published_psnr(fixed) is None  # trained at another σ


# ----------------------------------------------------------------------------- cost and convergence


def test_every_cell_says_what_it_cost(robust_sweep: SweepOutcome) -> None:
    for record in robust_sweep.records:
        assert record.ms_per_megapixel is not None and record.ms_per_megapixel > 0, record.label()
        assert len(record.inference_runs_ms) == 5
        assert record.peak_memory_mb is not None and record.peak_memory_mb >= 0
        if record.learned:
            assert record.n_parameters == count_parameters(create_model("dncnn", depth=3, width=4))
            assert record.train_seconds is not None and record.train_seconds > 0
            assert isinstance(record.converged, bool)
        else:
            assert record.n_parameters == 0 and record.converged is None and record.train_seconds is None


def test_cost_columns_reach_the_table_and_the_leaderboard(robust_sweep: SweepOutcome) -> None:
    table = pd.read_csv(robust_sweep.root / "results.csv")
    for column in ("converged", "n_parameters", "ms_per_megapixel", "train_seconds", "peak_memory_mb"):
        assert column in table.columns
    ranked = ranking.rank(ranking.read_results([robust_sweep.root]))
    records = tables.to_records(ranked)
    assert {"converged", "n_parameters", "ms_per_megapixel", "train_seconds", "peak_memory_mb"} <= records[0].keys()
    json.dumps(records, allow_nan=False)
    markdown = leaderboard.to_markdown(tables.build_board(ranked, "psnr"))
    assert "| parameters | ms/MP | train s | peak MB |" in markdown and "ms/MP, inference time per megapixel" in markdown


def test_unconverged_entries_are_marked_and_the_summary_says_what_to_change(robust_sweep: SweepOutcome) -> None:
    unfinished = [record for record in robust_sweep.records if record.converged is False]
    assert unfinished  # 4 epochs of a tiny network: the loss is still falling
    ranked = ranking.rank(ranking.read_results([robust_sweep.root]))
    marked = {entry.removesuffix(" [not converged]") for entry in ranked["entry"] if entry.endswith(" [not converged]")}
    assert marked == {record.label() for record in unfinished}
    console = Console(file=io.StringIO(), width=300)
    print_summary(robust_sweep, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "[not converged]" in text and "--set train.epochs=8" in text


def test_seeds_that_differ_on_convergence_stay_one_entry_marked(robust_sweep: SweepOutcome, tmp_path: Path) -> None:
    """One seed converged, another not: still one entry (in the ranking and the robustness table), marked."""
    import shutil

    copy = tmp_path / "robust"
    shutil.copytree(robust_sweep.root, copy)
    fixed = _record(robust_sweep, "dncnn", blind=False)
    stored = json.loads((copy / "runs" / f"{fixed.cell_id}.json").read_text())
    twin = stored | {"cell_id": fixed.cell_id + "-twin", "seed": 1, "converged": True}
    (copy / "runs" / f"{twin['cell_id']}.json").write_text(json.dumps(twin))
    manifest = json.loads((copy / "cells.json").read_text())
    (copy / "cells.json").write_text(json.dumps({"cells": manifest["cells"] + [twin["cell_id"]]}))
    rows = ranking.read_results([copy])
    assert twin["cell_id"] in set(rows["cell_id"])
    label = fixed.label()
    robust = ranking.robustness(rows)
    assert (robust["entry"] == label + " [not converged]").sum() == 1 and not (robust["entry"] == label).any()
    ranked = ranking.rank(rows)
    entries = ranked[ranked["eval_noise"] == "gaussian"]["entry"]
    assert (entries == label + " [not converged]").sum() == 3  # one per level, both seeds in it


def test_unconverged_means_still_improving_not_stopped_by_patience() -> None:
    from denoiser.training import TrainResult

    stopped = TrainResult(validation_losses=[1.0, 0.8, 0.81], stopped_early=True)  # patience 1 ended it
    assert stopped.converged
    assert not TrainResult(validation_losses=[1.0, 0.8, 0.6, 0.5, 0.4]).converged


def test_an_entry_scored_on_fewer_evaluations_is_listed_unranked(robust_sweep: SweepOutcome) -> None:
    robust = ranking.robustness(ranking.read_results([robust_sweep.root]))
    oracle = robust[robust["entry"] == "tv sigma=oracle"].iloc[0]
    assert pd.isna(oracle["rank"]) and (oracle["evaluations"], oracle["of"]) == (3, 4)  # no jpeg
    assert oracle.name == robust.index[-1]  # after every ranked entry
    ranked = robust[robust["rank"].notna()]
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1)) and (ranked["evaluations"] == 4).all()
    cells = tables.robustness_rows(robust)
    assert cells[-1][0] == "–" and cells[-1][-1] == "3 of 4"


def test_a_range_without_max_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^noise.gaussian\[0\]: missing key 'max'; give min, max$"):
        load_config(None, ["noise={gaussian: [{min: 0}]}"])
    with pytest.raises(ConfigError, match=r"a level is listed twice \(\[\{min: 0, max: 0.1\}, \{min: 0, max: 0.1\}\]\)"):
        load_config(None, ["noise={gaussian: [{min: 0, max: 0.1}, {min: 0, max: 0.1}]}", "evaluation.noise={gaussian: [0.1]}"])


def test_blind_gaussian_noise_is_drawn_in_one_batch_as_the_per_image_models_would() -> None:
    import torch

    from denoiser.noise import create_noise, make_generator

    blind = create_noise("gaussian", LevelRange(0, 55), clip=False, scale=255.0)
    clean = torch.full((64, 1, 24, 24), 0.5)
    residual = (blind(clean, make_generator(5)) - clean).flatten(1)  # (64, 576)
    draws = torch.rand(64, generator=make_generator(5)) * 55 / 255  # the same generator: first the levels
    assert torch.allclose(residual.std(dim=1), draws, rtol=0.15, atol=0.01)
    poisson = create_noise("poisson-gaussian", LevelRange(0.01, 0.2))  # any other family: one model per image
    assert poisson(clean, make_generator(5)).shape == clean.shape
    assert "at the top: y = clamp(x + sqrt(a·x + b)·N(0, 1), 0, 1), a = 0.064, b = 0.008" in poisson.protocol


def test_the_report_draws_the_quality_cost_plot_with_its_front(robust_sweep: SweepOutcome) -> None:
    written = write_report(robust_sweep.root)
    assert robust_sweep.root / "plots" / "quality_cost_gaussian.png" in written
    assert robust_sweep.root / "plots" / "quality_cost_jpeg.png" in written
    assert 'alt="quality_cost_gaussian"' in (robust_sweep.root / "report.html").read_text()


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        ([1.0, 0.8, 0.6, 0.5, 0.4], False),  # still falling fast
        ([1.0, 0.5, 0.4, 0.399, 0.3995, 0.3992], True),  # < 1 % gain over the last 3 epochs
        ([1.0, 0.5, 0.49, 0.6, 0.7, 0.8], True),  # worse since: stopped improving
        ([1.0, 0.9, 0.8], False),  # too few epochs to tell
        ([1.0, 0.5, 0.4, 0.39, 0.3899, 0.3898, 0.3897], True),
    ],
)
def test_convergence_rule(losses: list[float], expected: bool) -> None:
    from denoiser.training import converged

    assert converged(losses) is expected


def test_the_pareto_front_keeps_the_entries_nothing_beats() -> None:
    from bench.plots import pareto_front

    points = pd.DataFrame(
        {"entry": list("abcde"), "ms_per_megapixel": [1.0, 2.0, 3.0, 10.0, 0.5], "psnr_mean": [20.0, 25.0, 24.0, 30.0, 18.0]}
    )
    assert pareto_front(points)["entry"].tolist() == ["e", "a", "b", "d"]


def test_inference_timing_is_warmed_and_the_median_of_its_runs() -> None:
    import torch

    from denoiser.cost import time_inference

    calls: list[tuple[int, ...]] = []

    def denoiser(noisy: torch.Tensor, noise: object) -> torch.Tensor:
        calls.append(tuple(noisy.shape))
        return noisy

    timing = time_inference(denoiser, torch.device("cpu"))
    assert calls == [(1, 1, 256, 256)] * 7  # 2 warm-ups, 5 timed
    assert len(timing.runs_ms) == 5 and timing.megapixels == pytest.approx(0.065536)
    assert timing.ms_per_megapixel == pytest.approx(sorted(timing.runs_ms)[2] / timing.megapixels)
    calls.clear()

    def slow(noisy: torch.Tensor, noise: object) -> torch.Tensor:
        calls.append(tuple(noisy.shape))
        time.sleep(0.6 if len(calls) == 1 else 0.0)  # only the first warm-up is slow: 1 warm-up, 3 runs
        return noisy

    assert len(time_inference(slow, torch.device("cpu"), channels=3).runs_ms) == 3 and calls == [(1, 3, 256, 256)] * 4


def test_peak_memory_is_the_rise_of_resident_memory_or_a_new_high(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from denoiser import cost

    megabyte = 2**20
    readings = iter([100 * megabyte] + [150 * megabyte] * 3 + [110 * megabyte] * 1000)
    monkeypatch.setattr(cost, "_resident_bytes", lambda: next(readings))
    monkeypatch.setattr(cost, "_peak_resident_bytes", lambda: 400 * megabyte)  # no new high during the block
    with cost.PeakMemory(torch.device("cpu")) as memory:
        time.sleep(0.2)  # several readings, every 20 ms
    assert memory.megabytes == pytest.approx(50)
    highs = iter([400 * megabyte, 700 * megabyte])  # a new high between two readings: ru_maxrss says so
    monkeypatch.setattr(cost, "_peak_resident_bytes", lambda: next(highs))
    monkeypatch.setattr(cost, "_resident_bytes", lambda: 100 * megabyte)
    with cost.PeakMemory(torch.device("cpu")) as memory:
        pass
    assert memory.megabytes == pytest.approx(600)


def test_on_cuda_peak_memory_is_torchs_max_allocated_and_timing_synchronises(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA branches, on a machine without a GPU: torch.cuda's calls recorded instead of made."""
    import torch

    from denoiser import cost

    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("synchronize"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**20)
    with cost.PeakMemory(torch.device("cuda")) as memory:
        calls.append("work")
    assert calls == ["synchronize", "reset", "work", "synchronize"] and memory.megabytes == 3
    calls.clear()
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *args, **kwargs: self)  # the timing image stays on the CPU
    cost.time_inference(lambda noisy, noise: calls.append("denoise"), torch.device("cuda"), warmup=1, runs=2)
    # each warm-up and each timed run is closed by a synchronisation before the clock is read
    assert calls == ["denoise", "synchronize", "synchronize", "denoise", "synchronize", "synchronize", "denoise", "synchronize"]
