"""`--executor submitit`, run for real with submitit's local cluster (no Slurm needed)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import bench_command as command, metrics_table, run_bench as bench, REPOSITORY

pytest.importorskip("submitit", reason="submitit not installed (pip install 'denoise-bench[slurm]')")

CI_CONFIG = str(REPOSITORY / "configs" / "ci.yaml")
SETTINGS = ["--set", "speed_reference=false", "--set", "submitit.cluster=local", "--set", "submitit.cpus_per_task=1"]
METRICS = ["cell_id", "eval_noise", "eval_level", "mse", "psnr", "ssim", "delta_psnr", "epochs"]


def metrics_of(folder: Path) -> pd.DataFrame:
    return metrics_table(folder, METRICS)


def test_submitit_local_matches_the_local_executor(tmp_path: Path) -> None:
    cluster, local = tmp_path / "cluster", tmp_path / "local"
    result = bench("sweep", CI_CONFIG, "--out", str(cluster), "--executor", "submitit", *SETTINGS)
    assert result.returncode == 0, result.stderr
    assert "submitted 3 tasks as job array" in result.stderr
    assert "job array:" in result.stderr  # the display follows the array's states
    assert list((cluster / "submitit").iterdir())  # the tasks' logs
    assert bench("sweep", CI_CONFIG, "--out", str(local), "--workers", "1", *SETTINGS).returncode == 0
    pd.testing.assert_frame_equal(metrics_of(cluster), metrics_of(local))
    again = bench("sweep", CI_CONFIG, "--out", str(cluster), "--executor", "submitit", *SETTINGS)
    assert "3 of 3 cells already finished" in again.stderr and "submitted" not in again.stderr


def test_a_failing_task_is_a_failed_cell(tmp_path: Path) -> None:
    out = tmp_path / "failing"
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--executor", "submitit", *SETTINGS,
                   "--set", "train.learning_rate=1e6")
    assert result.returncode == 1
    table = pd.read_csv(out / "results.csv")
    assert (table[table["model"] == "dae"]["status"] == "failed").all()
    assert "failed dae-" in result.stdout


def test_a_task_that_dies_is_recorded_with_its_log(tmp_path: Path) -> None:
    from bench.cluster import failed_task_record
    from bench.config import load_config
    from bench.grid import build_cells

    class DeadJob:
        job_id = "42_0"

        class paths:
            stderr = Path("/logs/42_0_0_log.err")

    config = load_config(Path(CI_CONFIG))
    cell = build_cells(config)[-1]
    record = failed_task_record(config, cell, DeadJob(), RuntimeError("Job (task=0) failed\nkilled by signal 9"))
    assert record["status"] == "failed"
    assert record["error"] == "task 42_0 failed: killed by signal 9 (log: /logs/42_0_0_log.err)"


def test_a_killed_submission_resumes_with_the_local_executor(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = subprocess.Popen(command("sweep", CI_CONFIG, "--out", str(out), "--executor", "submitit", *SETTINGS,
                                       "--set", "train.epochs=8"),
                               cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((out / "runs").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(2)  # local tasks run in their own sessions: let them go on or end; records decide
    done_before = len(list((out / "runs").glob("*.json")))
    assert done_before >= 1
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--executor", "local", "--workers", "1", *SETTINGS,
                   "--set", "train.epochs=8")
    assert result.returncode == 0, result.stderr
    assert "cells already finished: skipped" in result.stderr
    records = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    assert len(records) == 3 and all(record["status"] == "ok" for record in records)


def test_without_submitit_the_error_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "submitit.py").write_text("raise ImportError('blocked for this test')\n")
    environment = dict(os.environ, PYTHONPATH=str(blocker))
    result = subprocess.run(command("sweep", CI_CONFIG, "--out", str(tmp_path / "out"), "--executor", "submitit"),
                            cwd=REPOSITORY, capture_output=True, text=True, env=environment)
    assert result.returncode == 2
    assert "pip install 'denoise-bench[slurm]'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
