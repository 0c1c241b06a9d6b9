"""The regression gate on hand-made records: it fails on a quality or speed drop, passes on its own run."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench import check
from tests.conftest import REPOSITORY, bench_here
from tests.test_leaderboard import record, write_sweep


def learned(cell_id: str, psnr: float, speed_ratio: float) -> dict:
    item = record(cell_id, "dae", {0.1: psnr, 0.2: psnr - 2}, latent=16)
    return item | {"train_images_per_s": 100 * speed_ratio, "reference_images_per_s": 100.0, "speed_ratio": speed_ratio}


def make_run(root: Path, psnr: float = 24.0, speeds: tuple[float, ...] = (1.5, 1.6)) -> Path:
    records = [learned(f"dae-{index}", psnr + index, speed) for index, speed in enumerate(speeds)]
    write_sweep(root, records + [record("noisy", "noisy", {0.1: 20.0, 0.2: 14.0}, train_level=None)])
    return root


@pytest.fixture
def gate(capsys: pytest.CaptureFixture):
    """``python -m bench check ARGUMENTS…`` in this process: returncode, stdout and stderr."""
    def run(*arguments: str) -> SimpleNamespace:
        code, stdout, stderr = bench_here(capsys, "check", *arguments)
        return SimpleNamespace(returncode=code, stdout=stdout, stderr=stderr)

    return run


def test_a_regression_exits_1_from_a_new_process(tmp_path: Path) -> None:
    """The exit code as CI's shell sees it; the other cases run in-process."""
    path = tmp_path / "baseline.json"
    arguments = [sys.executable, "-m", "bench", "check"]
    update = subprocess.run(arguments + [str(make_run(tmp_path / "base")), "--baseline", str(path), "--update"],
                            cwd=REPOSITORY, capture_output=True, text=True)
    assert update.returncode == 0, update.stderr
    worse = subprocess.run(arguments + [str(make_run(tmp_path / "worse", psnr=23.0)), "--baseline", str(path)],
                           cwd=REPOSITORY, capture_output=True, text=True)
    assert worse.returncode == 1 and "regression:" in worse.stdout


@pytest.fixture
def baseline(tmp_path: Path, gate) -> Path:
    path = tmp_path / "baselines" / "ci.json"
    result = gate(str(make_run(tmp_path / "base")), "--baseline", str(path), "--update")
    assert result.returncode == 0, result.stderr
    return path


def test_the_baselines_own_run_passes(baseline: Path, tmp_path: Path, gate) -> None:
    document = json.loads(baseline.read_text())
    assert document["speed_ratio"] == pytest.approx(1.55) and len(document["cells"]) == 3
    result = gate(str(tmp_path / "base"), "--baseline", str(baseline))
    assert result.returncode == 0, result.stdout
    assert "0 regressions" in result.stdout


def test_a_psnr_drop_beyond_tolerance_fails_and_names_the_cell(baseline: Path, tmp_path: Path, gate) -> None:
    run = make_run(tmp_path / "worse", psnr=24.0 - 0.2)
    result = gate(str(run), "--baseline", str(baseline))
    assert result.returncode == 1
    assert "regression: dae latent_dim=16 (trained gaussian 0.1): PSNR at gaussian 0.1" in result.stdout
    within = make_run(tmp_path / "within", psnr=24.0 - 0.01)
    assert gate(str(within), "--baseline", str(baseline)).returncode == 0


def test_a_speed_drop_beyond_tolerance_fails(baseline: Path, tmp_path: Path, gate) -> None:
    slower = make_run(tmp_path / "slower", speeds=(1.0, 1.1))  # median 1.05 < 1.55 × 0.75
    result = gate(str(slower), "--baseline", str(baseline))
    assert result.returncode == 1
    assert "regression: all learned cells: speed vs the design loop" in result.stdout
    noisy_machine = make_run(tmp_path / "noisy-machine", speeds=(1.3, 1.4))  # within 25 %
    assert gate(str(noisy_machine), "--baseline", str(baseline)).returncode == 0


def test_a_missing_cell_fails(baseline: Path, tmp_path: Path, gate) -> None:
    run = make_run(tmp_path / "fewer", speeds=(1.5,))
    result = gate(str(run), "--baseline", str(baseline))
    assert result.returncode == 1 and "missing" in result.stdout


def test_missing_or_malformed_baseline_is_one_line(tmp_path: Path, gate) -> None:
    run = make_run(tmp_path / "run")
    absent = gate(str(run), "--baseline", str(tmp_path / "none.json"))
    assert absent.returncode == 2 and "no such baseline file" in absent.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = gate(str(run), "--baseline", str(broken))
    assert result.returncode == 2 and "not a baseline (invalid JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"cells": {}}))
    assert "not a baseline (expected keys" in gate(str(run), "--baseline", str(wrong)).stderr


def test_the_committed_baseline_is_well_formed() -> None:
    document = check.read_baseline(REPOSITORY / "results" / "baselines" / "ci.json")
    assert document["speed_ratio"] and document["cells"]


CELLS = {"dae-0": learned("dae-0", 24.0, 1.5), "dae-1": learned("dae-1", 25.0, 1.6),
         "noisy": record("noisy", "noisy", {0.1: 20.0, 0.2: 14.0}, train_level=None)}
WITH_GATE = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@WITH_GATE
@given(data=st.data())
def test_a_run_is_compared_only_with_a_baseline_of_its_own_sweep(gate, data: st.DataObject) -> None:
    """Every overlap of the run's cells with the baseline's: all (pass), some (the missing ones fail), none: the
    run is another sweep (or none), one line; "None" is never printed as a figure."""
    expected = data.draw(st.sets(st.sampled_from(sorted(CELLS)), min_size=1))
    kept = data.draw(st.sets(st.sampled_from(sorted(expected))))
    others = data.draw(st.integers(0, 2))  # cells of another config
    with tempfile.TemporaryDirectory() as folder:
        base, run, path = Path(folder) / "base", Path(folder) / "run", Path(folder) / "baseline.json"
        write_sweep(base, [CELLS[cell_id] for cell_id in sorted(expected)])
        update = gate(str(base), "--baseline", str(path), "--update")
        assert update.returncode == 0 and "None" not in update.stdout, update.stderr
        other_sweep = [learned(f"other-{index}", 30.0, 1.5) for index in range(others)]
        write_sweep(run, [CELLS[cell_id] for cell_id in sorted(kept)] + other_sweep)
        result = gate(str(run), "--baseline", str(path))
    assert "None" not in result.stdout + result.stderr
    if kept == expected:
        assert result.returncode == 0, result.stdout
    elif kept:
        assert result.returncode == 1 and "is missing (allowed" in result.stdout
    else:
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and not result.stdout
        if others:
            message = f"holds none of the baseline's {len(expected)} cells (it holds {others} others): it is another sweep"
            assert message in result.stderr
        else:
            assert "holds no cell records" in result.stderr


@WITH_GATE
@given(token=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "null", "true", '"24.0"', "[]", "{}"]),
       where=st.sampled_from(["psnr", "ssim", "tolerance", "speed_ratio"]))
def test_a_baseline_figure_that_is_not_a_finite_number_is_one_line(baseline: Path, tmp_path: Path, gate, token: str,
                                                                   where: str) -> None:
    assume(not (where == "speed_ratio" and token == "null"))  # a baseline without a speed comparison
    document = json.loads(baseline.read_text())
    marker = "__figure__"
    if where == "tolerance":
        document["tolerances"]["psnr_db"] = marker
    elif where == "speed_ratio":
        document["speed_ratio"] = marker
    else:
        figures = document["cells"]["dae-1"][where]
        figures[next(iter(figures))] = marker
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(document).replace(f'"{marker}"', token))
    result = gate(str(tmp_path / "base"), "--baseline", str(damaged))
    assert result.returncode == 2 and "not a baseline" in result.stderr and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("stopped", [0, 1], ids=["every-record", "one-record-missing"])
def test_the_gate_reads_a_run_without_results_csv_from_its_records(ci_sweep: Path, ci_copy: Path, tmp_path: Path, gate,
                                                                  stopped: int) -> None:
    path = tmp_path / "ci.json"
    update = gate(str(ci_sweep), "--baseline", str(path), "--update")
    assert update.returncode == 0 and "3 cells, no speed ratio" in update.stdout, update.stdout
    (ci_copy / "results.csv").unlink()  # interrupted before it was written
    for record_path in sorted((ci_copy / "runs").glob("dae-*.json"))[:stopped]:
        record_path.unlink()
    result = gate(str(ci_copy), "--baseline", str(path))
    assert result.returncode == stopped, result.stdout + result.stderr
    assert ("is missing (allowed" in result.stdout) == bool(stopped)
