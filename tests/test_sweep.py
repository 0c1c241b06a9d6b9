"""End to end: the real command line on configs/ci.yaml, into a temporary folder."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from denoiser import create_model, create_noise
from denoiser.evaluation import add_noise, evaluation_seed, score
from denoiser.training import denoise
from tests.conftest import REPOSITORY

CI_CONFIG = str(REPOSITORY / "configs" / "ci.yaml")
SPEC_COLUMNS = (
    "sweep cell_id model dataset split noise train_level eval_level latent_dim seed mse psnr ssim psnr_noisy "
    "ssim_noisy delta_psnr n_images epochs stopped_early train_seconds train_images_per_s status error"
).split()


def bench(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *arguments], cwd=REPOSITORY, capture_output=True, text=True, timeout=600
    )


def modification_times(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in sorted(folder.glob("*"))}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("sweep") / "ci"
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out, result


def test_the_result_folder_is_complete(first_run) -> None:
    out, result = first_run
    for name in ("config.yaml", "env.json", "results.csv"):
        assert (out / name).is_file(), name
    assert len(list((out / "runs").glob("*.json"))) == 3  # dae at σ 0.1 and 0.2, and the noisy input
    assert len(list((out / "checkpoints").glob("*.pt"))) == 2
    environment = json.loads((out / "env.json").read_text())
    assert environment["packages"]["torch"] and environment["workers"] == 2
    assert "ΔPSNR" in result.stdout  # the summary table


def test_results_csv_has_a_row_per_cell_and_evaluation_level(first_run) -> None:
    out, _ = first_run
    table = pd.read_csv(out / "results.csv")
    assert set(SPEC_COLUMNS) <= set(table.columns)
    assert len(table) == 3 * 2
    assert set(table["eval_level"]) == {0.1, 0.2}
    assert (table["status"] == "ok").all()
    noisy = table[table["model"] == "noisy"]
    assert noisy["train_level"].isna().all() and (noisy["delta_psnr"] == 0).all()
    learned = table[table["model"] == "dae"]
    assert (learned["latent_dim"] == 16).all() and (learned["epochs"] == 3).all()
    # ΔPSNR is measured on the same noisy images for every model
    for level, rows in table.groupby("eval_level"):
        assert rows["psnr_noisy"].nunique() == 1


def test_a_checkpoint_reproduces_its_record(first_run) -> None:
    out, _ = first_run
    record = next(json.loads(path.read_text()) for path in (out / "runs").glob("dae-*.json"))
    checkpoint = torch.load(out / "checkpoints" / f"{record['cell_id']}.pt", weights_only=True)
    model = create_model(checkpoint["model"], **checkpoint["params"])
    model.load_state_dict(checkpoint["state_dict"])
    from bench.sweep import prepare_data
    from bench.config import load_config

    _, test_set = prepare_data(load_config(Path(CI_CONFIG)).data)
    noise = create_noise("gaussian", record["train_level"])
    noisy = add_noise(test_set.images, noise, evaluation_seed(1000, noise))
    scores = score(test_set.images, noisy, denoise(model, noisy))
    stored = next(item for item in record["evaluations"] if item["level"] == record["train_level"])
    assert scores.psnr == pytest.approx(stored["psnr"], abs=1e-6)


def test_a_second_run_trains_nothing(first_run) -> None:
    out, _ = first_run
    before = modification_times(out / "runs")
    result = bench("sweep", CI_CONFIG, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "3 of 3 cells already finished: skipped" in result.stderr
    assert "epoch" not in result.stderr
    assert modification_times(out / "runs") == before


def test_a_changed_setting_recomputes_only_the_affected_cells(first_run) -> None:
    out, _ = first_run
    before = modification_times(out / "runs")
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--set", "models.dae.latent_dim=[16, 8]", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "3 of 5 cells already finished: skipped" in result.stderr
    after = modification_times(out / "runs")
    assert {name: after[name] for name in before} == before
    assert len(after) == 5
    table = pd.read_csv(out / "results.csv")
    assert sorted(table["latent_dim"].dropna().unique()) == [8, 16]
    assert "- 8" in (out / "config.yaml").read_text()  # the resolved config follows the override


def test_fresh_moves_the_old_results_aside(tmp_path: Path) -> None:
    out = tmp_path / "run"
    arguments = ("sweep", CI_CONFIG, "--out", str(out), "--workers", "1", "--set", "models={}", "--set", "models.noisy={}")
    assert bench(*arguments).returncode == 0
    result = bench(*arguments, "--fresh")
    assert result.returncode == 0, result.stderr
    aside = list(out.glob("previous-*"))
    assert len(aside) == 1 and len(list((aside[0] / "runs").glob("*.json"))) == 1
    assert len(list((out / "runs").glob("*.json"))) == 1
    assert "already finished" not in result.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        ("trian.epochs=3", "unknown key 'trian'"),
        ("train.epochs=three", "train.epochs: expected an integer"),
        ("noise.gaussian=[-0.2]", "gaussian sigma must be ≥ 0"),
        ("models.dae.latent_dim=[0]", "latent_dim must be at least 1"),
        ("models.unet={}", "unknown model 'unet'"),
        ("noise.pink=[0.1]", "unknown noise model 'pink'"),
        ("data.dataset=mnist", "unknown data set 'mnist'"),
        ("data={dataset: folder, params: {path: /no/such/place}}", "data.params.path: /no/such/place does not exist"),
        ("train.epochs", "expected key.path=value"),
    ],
)
def test_a_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, override: str, message: str) -> None:
    out = tmp_path / "never"
    result = bench("sweep", CI_CONFIG, "--out", str(out), "--set", override)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists()


def test_a_robustness_sweep_fills_the_train_by_eval_matrix(tmp_path: Path) -> None:
    out = tmp_path / "robust"
    result = bench(
        "sweep", CI_CONFIG, "--out", str(out), "--workers", "1",
        "--set", "noise={gaussian: [0.1], salt-pepper: [0.05]}",
        "--set", "evaluation.noise={gaussian: [0.05, 0.1], salt-pepper: [0.02, 0.05]}",
        "--set", "models={dae: {latent_dim: [16]}, dncnn: {depth: 3, width: 8}, tv: {}}",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "results.csv")
    learned = table[table["train_level"].notna()]
    matrix = learned.groupby(["model", "noise", "train_level"]).apply(
        lambda rows: sorted(zip(rows["eval_noise"], rows["eval_level"])), include_groups=False)
    assert len(matrix) == 4  # (dae, dncnn) × (gaussian 0.1, salt-pepper 0.05)
    expected = [("gaussian", 0.05), ("gaussian", 0.1), ("salt-pepper", 0.02), ("salt-pepper", 0.05)]
    assert all(pairs == expected for pairs in matrix)
    assert set(table["model"]) == {"dae", "dncnn", "tv", "noisy"}
    # the robustness summary: mean over all evaluations, the worst one, and the drop from the matched level
    row = learned[(learned["model"] == "dae") & (learned["noise"] == "gaussian") & (learned["eval_level"] == 0.1)
                  & (learned["eval_noise"] == "gaussian")].iloc[0]
    assert row["psnr_drop_from_matched"] == 0
    same_cell = table[table["cell_id"] == row["cell_id"]]
    assert row["mean_psnr_all_levels"] == pytest.approx(same_cell["psnr"].mean())
    assert row["worst_psnr"] == pytest.approx(same_cell["psnr"].min())
    record = json.loads((out / "runs" / f"{row['cell_id']}.json").read_text())
    assert record["robustness"]["drops"]["salt-pepper 0.05"] == pytest.approx(
        record["robustness"]["matched_psnr"] - same_cell[(same_cell["eval_noise"] == "salt-pepper") & (same_cell["eval_level"] == 0.05)]["psnr"].iloc[0])
    tv = json.loads(next((out / "runs").glob("tv-*.json")).read_text())
    assert tv["evaluations"][0]["settings"] == {"weight": pytest.approx(0.05)}
    assert (out / "plots" / "robustness_matrix_families.png").is_file()
    assert "## Robustness · skimage-natural" in (out / "leaderboard.md").read_text()
