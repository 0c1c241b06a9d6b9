"""Reliability (SPEC §10): interrupted sweeps, failing cells, bad input, security, determinism, parallel writers."""

import json
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.store import ResultStore
from tests.conftest import (CI_CONFIG, CI_SETTINGS, CIFAR_SAMPLE, METRIC_COLUMNS, REPOSITORY, SET12, bench_command as command,
                            bench_here, ci_sweep_here, metrics_table, requires_shared_data)
from tests.writers import write_many


def metrics_of(folder: Path) -> pd.DataFrame:
    return metrics_table(folder, METRIC_COLUMNS)


def leftovers(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(".tmp")]


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll until ``condition()`` holds or ``process`` has ended; whether the condition held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.heavy
def test_sigkill_at_several_points_then_resume_loses_and_duplicates_nothing(ci_sweep: Path, tmp_path: Path) -> None:
    """SIGKILL (the whole process group: the workers die too) of a sweep in two workers when its first
    record appears (a learned cell is training), then of a one-worker sweep (cells in the main process)
    when the second record appears, then resume to the end. The kill points are states of the folder,
    not delays, so the test proves the same on a fast or a slow machine; each run has another layout."""
    out = tmp_path / "killed"
    records = lambda: len(list((out / "runs").glob("*.json")))  # noqa: E731
    runs = [("2", lambda: records() >= 1), ("1", lambda: records() >= 2), ("2", None)]
    for workers, reached in runs:
        process = subprocess.Popen(command("sweep", CI_CONFIG, "--out", str(out), "--workers", workers, *CI_SETTINGS),
                                   cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if reached is not None and wait_for(reached, process) and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == 0
    assert sorted(path.name for path in (out / "runs").glob("*.json")) == sorted(
        path.name for path in (ci_sweep / "runs").glob("*.json"))
    pd.testing.assert_frame_equal(metrics_of(out), metrics_of(ci_sweep))
    assert leftovers(out) == []


def test_a_half_written_or_corrupt_record_is_recomputed(ci_sweep: Path, ci_copy: Path) -> None:
    """Also the layout check: the shared sweep's cells ran in two spawned workers, these run again in
    this process with one worker, and every number is the same."""
    record = next((ci_copy / "runs").glob("dae-*.json"))
    record.write_text(record.read_text()[:200])  # as if the disk had lost the end of it
    other = next(path for path in (ci_copy / "runs").glob("dae-*.json") if path != record)
    other.write_text("[]")  # valid JSON, but not a record
    (ci_copy / "runs" / f".{record.name}.999999.tmp").write_text("{\"cell_id\": ")  # a write killed halfway
    outcome = ci_sweep_here(ci_copy)
    assert outcome.skipped == 1 and not outcome.failed
    pd.testing.assert_frame_equal(metrics_of(ci_copy), metrics_of(ci_sweep))
    assert leftovers(ci_copy) == []


@pytest.mark.heavy
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path, workers: str) -> None:
    out = tmp_path / "interrupted"
    process = subprocess.Popen(command("sweep", CI_CONFIG, "--out", str(out), "--workers", workers, *CI_SETTINGS,
                                       "--set", "train.epochs=200"),
                               cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: bool(list((out / "runs").glob("noisy-*.json"))), process)
    time.sleep(1.0)  # now inside a training cell (200 epochs: it cannot have finished)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "again to resume" in stderr and "Traceback" not in stderr
    assert leftovers(out) == []
    records = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    assert records and all(record["status"] == "ok" for record in records)


def test_a_diverging_cell_fails_alone_and_the_exit_code_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "nan"
    code, stdout, _ = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--workers", "1", "--quiet", *CI_SETTINGS,
                                 "--set", "train.learning_rate=1e6")
    assert code == 1
    table = pd.read_csv(out / "results.csv")
    failed = table[table["status"] == "failed"]
    assert len(failed) == 2 and failed["error"].str.contains("TrainingDiverged: loss became nan").all()
    assert (table[table["model"] == "noisy"]["status"] == "ok").all()  # the sweep went on
    assert stdout.count("failed dae-") == 2  # the summary lists each failure


def bad_input_cases(tmp_path: Path) -> list[tuple[list[str], str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken_folder = tmp_path / "broken"
    broken_folder.mkdir()
    (broken_folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    cases = [
        (["sweep", CI_CONFIG, "--set", "trian=1"], "unknown key 'trian'"),
        (["sweep", CI_CONFIG, "--set", "train.epochs=many"], "train.epochs: expected an integer"),
        (["sweep", CI_CONFIG, "--set", "noise.gaussian=[-0.1]"], "gaussian sigma must be ≥ 0"),
        (["sweep", CI_CONFIG, "--set", "models.dae.latent_dim=[0]"], "latent_dim must be at least 1"),
        (["sweep", CI_CONFIG, "--set", "models.vae={}"], "unknown model 'vae'"),
        (["sweep", CI_CONFIG, "--set", "noise.pink=[0.1]"], "unknown noise model 'pink'"),
        (["sweep", CI_CONFIG, "--set", "data.dataset=mnist"], "unknown data set 'mnist'"),
        (["sweep", CI_CONFIG, "--set", "data={dataset: folder, params: {path: /no/where}}"], "/no/where does not exist"),
        (["sweep", CI_CONFIG, "--set", f"data={{dataset: folder, params: {{path: {empty}}}}}"], "no images"),
        (["sweep", CI_CONFIG, "--set", f"data={{dataset: folder, params: {{path: {broken_folder}}}}}"], "a.png: cannot read image"),
        (["sweep", CI_CONFIG, "--set", "train.epochs=[1,"], "--set 'train.epochs=[1,': the value is not valid YAML"),
        (["sweep", CI_CONFIG, "--set", "=3"], "expected key.path=value"),
        (["sweep", str(tmp_path / "absent.yaml")], "no such config file"),
        (["sweep", CI_CONFIG, "--workers", "-1"], "--workers must be ≥ 0"),
        (["sweep", CI_CONFIG, "--workers", "two"], "invalid int value: 'two'"),
        (["denoise", "--checkpoint", str(REPOSITORY / "README.md"), str(REPOSITORY / "README.md"), "--out", str(tmp_path / "o")],
         "not a checkpoint"),
        (["report", str(tmp_path / "nowhere")], "no such folder"),
    ]
    if CIFAR_SAMPLE.is_file():
        truncated = tmp_path / "test_batch"
        truncated.write_bytes(CIFAR_SAMPLE.read_bytes()[:100_000])
        cases.append((["sweep", CI_CONFIG, "--set", f"data={{dataset: cifar10, params: {{path: {truncated}, limit: 20}}}}"],
                      f"{truncated}: file is truncated"))
    return cases


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # In-process through the real entry point (bench.cli.main), to spare a Python start per case;
    # test_a_bad_config_is_one_line_exit_2_and_writes_nothing in test_sweep.py runs the same path as a subprocess.
    for arguments, message in bad_input_cases(tmp_path):
        out = tmp_path / "never"
        extra = ["--out", str(out)] if arguments[0] == "sweep" else []
        code, _, stderr = bench_here(capsys, *arguments, *extra)
        assert code == 2, (arguments, stderr)
        assert message in stderr, (arguments, stderr)
        assert len(stderr.strip().splitlines()) == 1, (arguments, stderr)
        assert not out.exists(), arguments
        assert not (tmp_path / "o").exists()


def test_an_unwritable_output_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(a_file / "results"))
    assert code == 2
    assert "cannot create the output folder" in stderr and len(stderr.strip().splitlines()) == 1


class Planted:
    """Unpickling this would create a file: the checkpoint loader must never run it."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_planted_checkpoint_cannot_run_code(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "pwned"
    planted = tmp_path / "evil.pt"
    torch.save({"model": "dae", "params": {}, "state_dict": Planted(target)}, planted)
    assert not target.exists()
    image = tmp_path / "image.png"
    from PIL import Image

    Image.new("L", (64, 64), 128).save(image)
    code, _, stderr = bench_here(capsys, "denoise", "--checkpoint", str(planted), str(image), "--out", str(tmp_path / "out"))
    assert code == 2 and "not a checkpoint" in stderr
    assert not target.exists()
    with open(planted, "rb") as file:  # the control: an unrestricted load would run it
        assert b"touch" in file.read()


def test_yaml_is_loaded_safely(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(f"name: !!python/object/apply:os.system ['touch {target}']\n")
    code, _, stderr = bench_here(capsys, "sweep", str(config), "--out", str(tmp_path / "out"))
    assert code == 2 and "not valid YAML" in stderr
    assert not target.exists()


@requires_shared_data
def test_denoise_writes_only_inside_its_output_folder(ci_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    checkpoint = next((ci_sweep / "checkpoints").glob("*.pt"))
    crop = tmp_path / "crop.png"
    from PIL import Image

    Image.open(SET12 / "01.png").crop((0, 0, 64, 64)).save(crop)
    out = tmp_path / "denoised"
    code, _, stderr = bench_here(capsys, "denoise", "--checkpoint", str(checkpoint), str(crop), "--out", str(out))
    assert code == 0, stderr
    assert [path.name for path in out.iterdir()] == ["crop_denoised.png"]


def test_parallel_writers_lose_no_record(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store")
    store.create()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=write_many, args=(str(store.root), worker)) for worker in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    records = store.read_records()
    assert len(records) == 100 and len({record.cell_id for record in records}) == 100
    assert leftovers(store.root) == []


def test_hostile_configs_are_one_short_line_exit_2_and_quick(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bomb = tmp_path / "bomb.yaml"  # 9 aliases per level, 8 levels: 43 million values once expanded
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]" for level in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\nseeds: *a8\n")
    deep = tmp_path / "deep.yaml"
    deep.write_text("seeds: " + "[" * 3000 + "]" * 3000 + "\n")
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * 1_100_000 + "\n")
    for config, message in [(bomb, "values (YAML aliases expanded); refused"), (deep, "deep"), (huge, "larger than")]:
        start = time.monotonic()
        code, _, stderr = bench_here(capsys, "sweep", str(config), "--out", str(tmp_path / "out"))
        assert code == 2 and message in stderr, stderr[:300]
        assert len(stderr.strip().splitlines()) == 1 and len(stderr) < 600
        assert time.monotonic() - start < 30  # bounded work, not a timing assertion of speed
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(tmp_path / "out"), "--set", "seeds=" + "x" * 5000)
    assert code == 2 and len(stderr) < 600  # a long wrong value is cut short in the message
    assert not (tmp_path / "out").exists()


def test_only_our_own_temporary_files_are_cleaned(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "out")
    store.create()
    mine = [store.root / ".draft.tmp", store.runs / ".notes.tmp", store.root / ".x.y.tmp"]
    ours = store.runs / ".cell.json.999999.tmp"  # a write whose process is gone
    for path in mine + [ours]:
        path.write_text("x")
    store.create()
    assert all(path.exists() for path in mine) and not ours.exists()


def test_images_that_would_hang_flood_or_mislead_are_refused_or_scaled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from PIL import Image

    from denoiser import DataError, load_dataset
    from denoiser.data import read_image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (64, 64), 100).save(folder / "a.png")
    os.mkfifo(folder / "x.png")  # a FIFO would block a read forever: skipped
    assert len(load_dataset("folder", path=str(folder))) == 1
    with pytest.raises(DataError, match="not a regular file"):
        read_image(folder / "x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # as a 15,000² image against the real limit
    with pytest.raises(DataError, match="more than 1,000 pixels; refused"):
        read_image(folder / "a.png")
    monkeypatch.undo()
    Image.fromarray(np.full((8, 8), 0.25, np.float32), mode="F").save(tmp_path / "float.tif")
    assert read_image(tmp_path / "float.tif").mean().item() == pytest.approx(0.25)  # not all zeros
    Image.fromarray(np.full((8, 8), 200, np.int32), mode="I").save(tmp_path / "int.tif")
    assert read_image(tmp_path / "int.tif").mean().item() == pytest.approx(200 / 255)  # not near black
    Image.fromarray(np.full((8, 8), 7.5, np.float32), mode="F").save(tmp_path / "wide.tif")
    with pytest.raises(DataError, match=r"float image with values in \[7.5, 7.5\], not \[0, 1\]; refused"):
        read_image(tmp_path / "wide.tif")


def test_damaged_files_and_odd_values_are_one_line_exit_2(ci_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil as files

    from tests.test_leaderboard import record, write_sweep

    table = tmp_path / "sweep" / "results.csv"
    write_sweep(table.parent, [record("noisy", "noisy", {0.1: 20.0}, train_level=None)])
    stored = table.parent / "runs" / "noisy.json"  # its only record damaged: nothing left to rank (results.csv is not read)
    stored.write_text(stored.read_text().replace("20.0", '"abc"', 1))
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"format": 1, "tolerances": 5, "speed_ratio": None, "cells": {}}))
    listed = tmp_path / "listed.pt"
    torch.save({"model": "dae", "params": [16], "state_dict": {}}, listed)
    image = tmp_path / "image.png"
    from PIL import Image

    Image.new("L", (64, 64), 128).save(image)
    cases = [
        (["leaderboard", str(table.parent)], "no results match"),
        (["check", str(ci_sweep), "--baseline", str(baseline)], "tolerances must map names to numbers"),
        (["check", str(ci_sweep), "--baseline", str(tmp_path), "--update"], "is a folder"),
        (["denoise", "--checkpoint", str(listed), str(image), "--out", str(tmp_path / "o")], "not a checkpoint"),
        (["sweep", CI_CONFIG, "--out", str(tmp_path / "never"), "--set", "device=cpu:abc"], "device: unknown device"),
        (["sweep", CI_CONFIG, "--out", str(tmp_path / "never"), "--set", "data.params.tiles=abc"],
         "data.params.tiles: expected an integer"),
    ]
    for arguments, message in cases:
        code, _, stderr = bench_here(capsys, *arguments)
        assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, (arguments, stderr)
    assert not (tmp_path / "never").exists() and not (tmp_path / "o").exists()
    truncated = tmp_path / "truncated"
    files.copytree(ci_sweep, truncated)
    checkpoint = next((truncated / "checkpoints").glob("*.pt"))
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    code, _, stderr = bench_here(capsys, "report", str(truncated))
    assert code == 0, stderr  # the example images are left out, with a log line; the rest is rebuilt


def test_denoise_is_all_or_nothing_and_tiles_the_dae(ci_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    checkpoint = next((ci_sweep / "checkpoints").glob("dae-*.pt"))
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    Image.new("L", (64, 64), 100).save(first / "small.png")
    Image.effect_noise((100, 80), 40).save(first / "wide.png")  # not 64×64: the DAE runs on windows
    Image.new("L", (64, 64), 50).save(second / "small.png")
    out = tmp_path / "out"
    code, _, stderr = bench_here(capsys, "denoise", "--checkpoint", str(checkpoint), str(first / "small.png"),
                                 str(second / "small.png"), "--out", str(out))
    assert code == 2 and "would both be written to" in stderr and not out.exists()
    code, _, stderr = bench_here(capsys, "denoise", "--checkpoint", str(checkpoint), str(first / "small.png"),
                                 str(first / "wide.png"), str(first / "missing.png"), "--out", str(out))
    assert code == 2 and "missing.png: no such file" in stderr and not out.exists()  # nothing written
    code, _, stderr = bench_here(capsys, "denoise", "--checkpoint", str(checkpoint), str(first / "small.png"),
                                 str(first / "wide.png"), "--out", str(out))
    assert code == 0, stderr
    assert sorted(path.name for path in out.iterdir()) == ["small_denoised.png", "wide_denoised.png"]
    assert Image.open(out / "wide_denoised.png").size == (100, 80)
