"""Reliability (SPEC §10): interrupted sweeps, failing cells, bad input, security, determinism, parallel writers."""

import json
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.store import ResultStore
from tests.conftest import bench_command as command, metrics_table, run_bench as bench, CIFAR_SAMPLE, REPOSITORY, SET12, requires_shared_data

CI_CONFIG = str(REPOSITORY / "configs" / "ci.yaml")
METRIC_COLUMNS = ["cell_id", "eval_noise", "eval_level", "mse", "psnr", "ssim", "psnr_noisy", "ssim_noisy", "delta_psnr", "epochs"]
QUICK = ["--set", "speed_reference=false", "--set", "train.epochs=6"]


def metrics_of(folder: Path) -> pd.DataFrame:
    return metrics_table(folder, METRIC_COLUMNS)


def leftovers(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "run"
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--workers", "1", *QUICK)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_at_many_points_then_resume_loses_and_duplicates_nothing(uninterrupted: Path, tmp_path: Path, workers: str) -> None:
    out = tmp_path / "killed"
    delay, kills = 3.0, 0
    while True:
        process = subprocess.Popen(command("sweep", CI_CONFIG, "--out", str(out), "--workers", workers, *QUICK),
                                   cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: the workers die too
            process.wait()
            kills += 1
            delay += 1.5  # the next kill lands later: during training, evaluation, writing
            continue
        break
    assert process.returncode == 0
    assert kills >= 2
    assert sorted(path.name for path in (out / "runs").glob("*.json")) == sorted(
        path.name for path in (uninterrupted / "runs").glob("*.json"))
    pd.testing.assert_frame_equal(metrics_of(out), metrics_of(uninterrupted))
    assert leftovers(out) == []


def test_a_half_written_or_corrupt_record_is_recomputed(uninterrupted: Path, tmp_path: Path) -> None:
    out = tmp_path / "corrupt"
    subprocess.run(["cp", "-r", str(uninterrupted), str(out)], check=True)
    record = next((out / "runs").glob("dae-*.json"))
    record.write_text(record.read_text()[:200])  # as if the disk had lost the end of it
    (out / "runs" / f".{record.name}.999999.tmp").write_text("{\"cell_id\": ")  # a write killed halfway
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--workers", "1", *QUICK)
    assert result.returncode == 0, result.stderr
    assert "2 of 3 cells already finished" in result.stderr
    pd.testing.assert_frame_equal(metrics_of(out), metrics_of(uninterrupted))
    assert leftovers(out) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path, workers: str) -> None:
    out = tmp_path / "interrupted"
    process = subprocess.Popen(command("sweep", CI_CONFIG, "--out", str(out), "--workers", workers, *QUICK[:2],
                                       "--set", "train.epochs=200"),
                               cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((out / "runs").glob("noisy-*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # now inside a training cell
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "again to resume" in stderr and "Traceback" not in stderr
    assert leftovers(out) == []
    records = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    assert records and all(record["status"] == "ok" for record in records)


def test_a_diverging_cell_fails_alone_and_the_exit_code_says_so(tmp_path: Path) -> None:
    out = tmp_path / "nan"
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--workers", "1", "--set", "speed_reference=false",
                   "--set", "train.learning_rate=1e6")
    assert result.returncode == 1
    table = pd.read_csv(out / "results.csv")
    failed = table[table["status"] == "failed"]
    assert len(failed) == 2 and failed["error"].str.contains("TrainingDiverged: loss became nan").all()
    assert (table[table["model"] == "noisy"]["status"] == "ok").all()  # the sweep went on
    assert result.stdout.count("failed dae-") == 2  # the summary lists each failure


def test_same_config_same_metrics_in_one_process_or_in_parallel_workers(uninterrupted: Path, tmp_path: Path) -> None:
    out = tmp_path / "parallel"
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--workers", "2", *QUICK)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "env.json").read_text())["workers"] == 2
    pd.testing.assert_frame_equal(metrics_of(out), metrics_of(uninterrupted))


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
    from bench.cli import main

    for arguments, message in bad_input_cases(tmp_path):
        out = tmp_path / "never"
        extra = ["--out", str(out)] if arguments[0] == "sweep" else []
        capsys.readouterr()
        try:
            code = main([*arguments, *extra])
        except SystemExit as exit:  # argparse's own errors
            code = exit.code
        stderr = capsys.readouterr().err
        assert code == 2, (arguments, stderr)
        assert message in stderr, (arguments, stderr)
        assert len(stderr.strip().splitlines()) == 1, (arguments, stderr)
        assert not out.exists(), arguments
        assert not (tmp_path / "o").exists()


def test_an_unwritable_output_folder_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = bench("sweep", CI_CONFIG, "--out", str(a_file / "results"))
    assert result.returncode == 2
    assert "cannot create the output folder" in result.stderr and len(result.stderr.strip().splitlines()) == 1


class Planted:
    """Unpickling this would create a file: the checkpoint loader must never run it."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_planted_checkpoint_cannot_run_code(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    planted = tmp_path / "evil.pt"
    torch.save({"model": "dae", "params": {}, "state_dict": Planted(target)}, planted)
    assert not target.exists()
    image = tmp_path / "image.png"
    from PIL import Image

    Image.new("L", (64, 64), 128).save(image)
    result = bench("denoise", "--checkpoint", str(planted), str(image), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "not a checkpoint" in result.stderr
    assert not target.exists()
    with open(planted, "rb") as file:  # the control: an unrestricted load would run it
        assert b"touch" in file.read()


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(f"name: !!python/object/apply:os.system ['touch {target}']\n")
    result = bench("sweep", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    assert not target.exists()


@requires_shared_data
def test_denoise_writes_only_inside_its_output_folder(uninterrupted: Path, tmp_path: Path) -> None:
    checkpoint = next((uninterrupted / "checkpoints").glob("*.pt"))
    crop = tmp_path / "crop.png"
    from PIL import Image

    Image.open(SET12 / "01.png").crop((0, 0, 64, 64)).save(crop)
    out = tmp_path / "denoised"
    result = bench("denoise", "--checkpoint", str(checkpoint), str(crop), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert [path.name for path in out.iterdir()] == ["crop_denoised.png"]


def _write_many(root: str, worker: int) -> None:
    store = ResultStore(Path(root))
    for index in range(25):
        store.write_record({"cell_id": f"cell-{worker}-{index}", "status": "ok", "payload": "x" * 5000})


def test_parallel_writers_lose_no_record(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store")
    store.create()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(str(store.root), worker)) for worker in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    records = store.read_records()
    assert len(records) == 100 and len({record["cell_id"] for record in records}) == 100
    assert leftovers(store.root) == []
