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

from tests.conftest import CI_CONFIG, REPOSITORY, bench_command as command, bench_here, ci_sweep_here, metrics_table

pytest.importorskip("submitit", reason="submitit not installed (pip install 'denoise-bench[slurm]')")

SUBMITIT = ["submitit.cluster=local", "submitit.cpus_per_task=1"]
SETTINGS = ["--set", "speed_reference=false"] + [argument for setting in SUBMITIT for argument in ("--set", setting)]
METRICS = ["cell_id", "eval_noise", "eval_level", "mse", "psnr", "ssim", "delta_psnr", "epochs"]


def metrics_of(folder: Path) -> pd.DataFrame:
    return metrics_table(folder, METRICS)


@pytest.mark.heavy
def test_submitit_local_matches_the_local_executor_and_resumes_across_executors(ci_sweep: Path, tmp_path: Path) -> None:
    """A job array killed once its first record is in, finished by the local executor, then submitted
    again: every number equals the local executor's (the shared sweep), and nothing is submitted twice."""
    out = tmp_path / "cluster"
    log = tmp_path / "first.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(command("sweep", CI_CONFIG, "--out", str(out), "--executor", "submitit", *SETTINGS),
                                   cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + 120
        while not list((out / "runs").glob("*.json")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    first = log.read_text()
    assert "submitted 3 tasks as job array" in first and "job array:" in first  # the display follows the array
    assert list((out / "submitit").iterdir())  # the tasks' logs
    assert list((out / "runs").glob("*.json"))
    assert not ci_sweep_here(out, "executor=local", *SUBMITIT).failed  # the runner, in this process
    # local tasks run in their own sessions and may still be finishing their cells: records decide
    records = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    assert len(records) == 3 and all(record["status"] == "ok" for record in records)
    pd.testing.assert_frame_equal(metrics_of(out), metrics_of(ci_sweep))
    logs = sorted((out / "submitit").iterdir())
    again = ci_sweep_here(out, "executor=submitit", *SUBMITIT)
    assert again.skipped == 3 and sorted((out / "submitit").iterdir()) == logs  # nothing submitted


@pytest.mark.heavy
def test_a_failing_task_is_a_failed_cell(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "failing"
    code, stdout, _ = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--executor", "submitit", "--quiet", *SETTINGS,
                                 "--set", "train.learning_rate=1e6", "--set", "noise.gaussian=[0.1]")  # two tasks: noisy, dae
    assert code == 1
    table = pd.read_csv(out / "results.csv")
    assert (table[table["model"] == "dae"]["status"] == "failed").all() and (table[table["model"] == "noisy"]["status"] == "ok").all()
    assert "failed dae-" in stdout


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
    assert record.status == "failed" and record.threads == config.threads
    assert record.error == "task 42_0 failed: killed by signal 9 (log: /logs/42_0_0_log.err)"


def test_without_submitit_the_error_says_what_to_install(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` now raises ImportError
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(tmp_path / "out"), "--executor", "submitit")
    assert code == 2
    assert "pip install 'denoise-bench[slurm]'" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
