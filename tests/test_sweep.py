"""End to end on configs/ci.yaml: the shared sweep of the session, resumes and changes run by the runner in-process."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.config import DataConfig, load_config
from bench.grid import build_cells
from bench.store import ResultStore
from denoiser import create_model, create_noise
from denoiser.evaluation import add_noise, evaluation_seed, score
from denoiser.inference import denoise
from tests.conftest import CI_CONFIG, REPOSITORY, bench_here, ci_sweep_here, run_bench

SPEC_COLUMNS = (
    "sweep cell_id model dataset split noise train_level eval_level latent_dim seed mse psnr ssim psnr_noisy "
    "ssim_noisy delta_psnr n_images epochs stopped_early train_seconds train_images_per_s status error"
).split()


def modification_times(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in sorted(folder.glob("*"))}


def test_the_result_folder_is_complete(ci_sweep: Path) -> None:
    for name in ("config.yaml", "env.json", "results.csv", "leaderboard.md", "report.html"):
        assert (ci_sweep / name).is_file(), name
    assert len(list((ci_sweep / "runs").glob("*.json"))) == 3  # dae at σ 0.1 and 0.2, and the noisy input
    assert len(list((ci_sweep / "checkpoints").glob("*.pt"))) == 2
    environment = json.loads((ci_sweep / "env.json").read_text())
    assert environment["packages"]["torch"] and environment["workers"] == 2 and environment["threads_per_worker"] == 1
    records = [json.loads(path.read_text()) for path in (ci_sweep / "runs").glob("*.json")]
    assert {record["threads"] for record in records} == {1}


def test_the_summary_table_is_printed(ci_copy: Path, capsys: pytest.CaptureFixture) -> None:
    code, stdout, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(ci_copy), "--set", "speed_reference=false")
    assert code == 0, stderr
    assert "ΔPSNR" in stdout and "latent_dim=16" in stdout


def test_results_csv_has_a_row_per_cell_and_evaluation_level(ci_sweep: Path) -> None:
    table = pd.read_csv(ci_sweep / "results.csv")
    assert set(SPEC_COLUMNS) <= set(table.columns)
    assert len(table) == 3 * 2
    assert set(table["eval_level"]) == {0.1, 0.2}
    assert (table["status"] == "ok").all()
    noisy = table[table["model"] == "noisy"]
    assert noisy["train_level"].isna().all() and (noisy["delta_psnr"] == 0).all()
    learned = table[table["model"] == "dae"]
    assert (learned["latent_dim"] == 16).all() and (learned["param_latent_dim"] == 16).all() and (learned["epochs"] == 3).all()
    assert (table["threads"] == 1).all()
    # each learned cell is matched (evaluated at its training level) exactly once; baselines never
    assert learned.groupby("cell_id")["matched"].sum().tolist() == [1, 1] and not noisy["matched"].any()
    assert (learned[learned["matched"]]["train_level"] == learned[learned["matched"]]["eval_level"]).all()
    # ΔPSNR is measured on the same noisy images for every model
    for level, rows in table.groupby("eval_level"):
        assert rows["psnr_noisy"].nunique() == 1


def test_the_epoch_is_chosen_on_validation_and_the_record_says_so(ci_sweep: Path) -> None:
    from bench.sweep_data import prepare_data

    record = json.loads(next((ci_sweep / "runs").glob("dae-*.json")).read_text())
    assert record["selected_on"] == "validation" and len(record["validation_losses"]) == record["epochs"]
    data = prepare_data(load_config(Path(CI_CONFIG)))
    assert (record["n_train"], record["n_validation"], record["n_test"]) == (len(data.train), len(data.validation), len(data.test))
    assert len(data.validation) >= 1 and not set(data.validation.sources.tolist()) & set(data.test.sources.tolist())
    seed = load_config(REPOSITORY / "configs" / "seed.yaml", ["data.params.path=."])
    assert seed.train.select_on == "test" and seed.data.validation_fraction == 0  # the design's choice, kept and marked


def test_a_checkpoint_reproduces_its_record(ci_sweep: Path) -> None:
    from bench.sweep_data import prepare_data

    record = next(json.loads(path.read_text()) for path in (ci_sweep / "runs").glob("dae-*.json"))
    checkpoint = torch.load(ci_sweep / "checkpoints" / f"{record['cell_id']}.pt", weights_only=True)
    model = create_model(checkpoint["model"], **checkpoint["params"])
    model.load_state_dict(checkpoint["state_dict"])
    test_set = prepare_data(load_config(Path(CI_CONFIG))).test
    noise = create_noise("gaussian", record["train_level"])
    noisy = add_noise(test_set.images, noise, evaluation_seed(1000, noise))
    scores = score(test_set.images, noisy, denoise(model, noisy), noise)
    stored_record = ResultStore(ci_sweep).read_record(record["cell_id"])
    assert stored_record is not None
    stored = next(item for item in stored_record.evaluations if item.level == record["train_level"])
    assert scores.psnr == pytest.approx(stored.psnr, abs=1e-6)
    # per image, in image order, to the 1e-4 dB a record keeps: what the leaderboard's paired comparisons read
    assert stored.metrics["psnr"].per_image == pytest.approx(scores.metrics["psnr"].per_image, abs=1e-4)
    assert len(stored.metrics["ssim"].per_image) == stored.n_images == len(test_set.images)


def test_a_second_run_trains_nothing(ci_copy: Path) -> None:
    before = modification_times(ci_copy / "runs")
    outcome = ci_sweep_here(ci_copy)
    assert outcome.skipped == 3 and len(outcome.records) == 3
    assert modification_times(ci_copy / "runs") == before


def test_a_changed_setting_recomputes_only_the_affected_cells(ci_copy: Path) -> None:
    before = modification_times(ci_copy / "runs")
    outcome = ci_sweep_here(ci_copy, "models.dae.latent_dim=[16, 8]")
    assert outcome.skipped == 3 and len(outcome.records) == 5 and not outcome.failed
    after = modification_times(ci_copy / "runs")
    assert {name: after[name] for name in before} == before
    assert len(after) == 5
    table = pd.read_csv(ci_copy / "results.csv")
    assert sorted(table["latent_dim"].dropna().unique()) == [8, 16]
    assert "- 8" in (ci_copy / "config.yaml").read_text()  # the resolved config follows the override


def test_fresh_moves_the_old_results_aside(tmp_path: Path) -> None:
    out = tmp_path / "run"
    baselines_only = ("models={noisy: {}}",)
    assert not ci_sweep_here(out, *baselines_only).failed
    outcome = ci_sweep_here(out, *baselines_only, fresh=True)
    assert outcome.skipped == 0 and len(outcome.records) == 1
    aside = list(out.glob("previous-*"))
    assert len(aside) == 1 and len(list((aside[0] / "runs").glob("*.json"))) == 1
    assert len(list((out / "runs").glob("*.json"))) == 1
    ci_sweep_here(out, *baselines_only, fresh=True)  # again, within the same second or not: no collision
    assert len(list(out.glob("previous-*"))) == 2


def test_a_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    # A new process: the exit code and stderr as a shell sees them (every other case runs in-process in test_reliability).
    out = tmp_path / "never"
    result = run_bench("sweep", CI_CONFIG, "--out", str(out), "--set", "data={dataset: folder, params: {path: /no/such/place}}")
    assert result.returncode == 2
    assert "data.params.path: /no/such/place does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists()


def test_a_robustness_sweep_fills_the_train_by_eval_matrix(tmp_path: Path) -> None:
    from bench.report import write_report

    out = tmp_path / "robust"
    outcome = ci_sweep_here(
        out,
        "noise={gaussian: [0.1], salt-pepper: [0.05]}",
        "evaluation.noise={gaussian: [0.05, 0.1], salt-pepper: [0.02, 0.05]}",
        "models={dae: {latent_dim: [16]}, dncnn: {depth: 3, width: [4, 8]}, tv: {}}",
        "train.epochs=2",
    )
    assert not outcome.failed
    write_report(out)
    table = pd.read_csv(out / "results.csv")
    learned = table[table["train_level"].notna()]
    matrix = learned.groupby(["model", "params", "noise", "train_level"]).apply(
        lambda rows: sorted(zip(rows["eval_noise"], rows["eval_level"])), include_groups=False)
    assert len(matrix) == 6  # (dae, dncnn width 4, dncnn width 8) × (gaussian 0.1, salt-pepper 0.05)
    expected = [("gaussian", 0.05), ("gaussian", 0.1), ("salt-pepper", 0.02), ("salt-pepper", 0.05)]
    assert all(pairs == expected for pairs in matrix)
    assert set(table["model"]) == {"dae", "dncnn", "tv", "noisy"}
    # a model with other parameters gets its own columns, and its axis in the heatmap
    dncnn = table[table["model"] == "dncnn"]
    assert set(dncnn["param_width"]) == {4, 8} and (dncnn["param_depth"] == 3).all() and dncnn["latent_dim"].isna().all()
    assert (out / "plots" / "parameter_heatmap_gaussian.png").is_file()
    # the robustness summary: mean over all evaluations, the worst one, and the drop from the matched level
    row = learned[(learned["model"] == "dae") & (learned["noise"] == "gaussian") & (learned["eval_level"] == 0.1)
                  & (learned["eval_noise"] == "gaussian")].iloc[0]
    assert row["psnr_drop_from_matched"] == 0 and row["matched"]
    same_cell = table[table["cell_id"] == row["cell_id"]]
    assert row["mean_psnr_all_levels"] == pytest.approx(same_cell["psnr"].mean())
    assert row["worst_psnr"] == pytest.approx(same_cell["psnr"].min())
    record = json.loads((out / "runs" / f"{row['cell_id']}.json").read_text())
    assert record["robustness"]["drops"]["salt-pepper 0.05"] == pytest.approx(
        record["robustness"]["matched_psnr"] - same_cell[(same_cell["eval_noise"] == "salt-pepper") & (same_cell["eval_level"] == 0.05)]["psnr"].iloc[0])
    tv = json.loads(next((out / "runs").glob("tv-*.json")).read_text())
    assert tv["evaluations"][0]["settings"] == {"sigma_mode": "oracle", "weight": pytest.approx(0.05)}
    assert (out / "plots" / "robustness_matrix_families.png").is_file()
    assert "## Robustness · skimage-natural" in (out / "leaderboard.md").read_text()


def test_a_folder_data_set_is_labelled_by_its_name(tmp_path: Path) -> None:
    assert DataConfig(dataset="folder", params={"path": "/data/Set12"}).label == "Set12"
    assert DataConfig(dataset="folder", params={"path": "/data/Set12/"}).label == "Set12"
    assert DataConfig(dataset="folder", name="twelve", params={"path": "/data/Set12"}).label == "twelve"
    assert DataConfig().label == "skimage-natural"
    from PIL import Image

    folder = tmp_path / "my-photos"
    folder.mkdir()
    for index in range(4):
        Image.effect_noise((64, 64), 40 + 10 * index).save(folder / f"{index}.png")
    out = tmp_path / "out"
    outcome = ci_sweep_here(out, f"data={{dataset: folder, params: {{path: {folder}}}, test_fraction: 0.5}}",
                            "models={noisy: {}}")
    assert not outcome.failed
    assert set(pd.read_csv(out / "results.csv")["dataset"]) == {"my-photos"}


def test_device_auto_is_resolved_before_it_is_hashed() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    automatic = build_cells(load_config(Path(CI_CONFIG), ["device=auto"]))
    named = build_cells(load_config(Path(CI_CONFIG), [f"device={device}"]))
    assert [cell.cell_id for cell in automatic] == [cell.cell_id for cell in named]


def test_whole_images_of_an_evaluation_data_set_are_scored_at_their_own_sizes(tmp_path: Path) -> None:
    from PIL import Image

    from bench import ranking
    from bench.report import write_report

    folder = tmp_path / "whole"
    folder.mkdir()
    for index, size in enumerate([(80, 70), (100, 130), (64, 64)]):
        Image.effect_noise(size, 30 + 10 * index).save(folder / f"{index}.png")
    out = tmp_path / "out"
    outcome = ci_sweep_here(
        out, "models={dae: {latent_dim: [8]}, tv: {}}", "train.epochs=1", "noise={gaussian: [25]}",
        "noise_options={gaussian: {clip: false, scale: 255}}",
        f"evaluation.datasets={{mine: {{dataset: folder, params: {{path: {folder}}}}}}}",
    )
    assert not outcome.failed
    write_report(out)
    table = pd.read_csv(out / "results.csv")
    assert set(table["dataset"]) == {"skimage-natural", "mine"}
    whole = table[table["dataset"] == "mine"]
    assert (whole["n_images"] == 3).all() and len(whole) == 3  # noisy, tv, dae
    assert whole[whole["model"] == "dae"]["tiled"].str.contains("64×64 windows, stride 32").all()
    assert whole[whole["model"] != "dae"]["tiled"].isna().all()
    assert (table["noise_protocol"] == "y = x + N(0, σ²), not clipped, σ = 25/255").all()
    # the noisy input's PSNR is the literature's: unclipped noise of σ = 25/255 gives about 20.2 dB
    assert whole[whole["model"] == "noisy"]["psnr"].iloc[0] == pytest.approx(20.17, abs=0.3)
    record = json.loads(next((out / "runs").glob("dae-*.json")).read_text())
    assert {item["dataset"] for item in record["evaluations"]} == {"skimage-natural", "mine"}
    assert "ran on overlapping windows" in (out / "leaderboard.md").read_text()
    assert (out / "plots" / "quality_vs_noise_gaussian_mine.png").is_file()
    ranked = ranking.rank(ranking.read_results([out / "results.csv"]))
    assert set(ranked["dataset"]) == {"skimage-natural", "mine"}


def test_published_figures_apply_to_set12_under_the_literatures_noise_only() -> None:
    from bench.published import literature_key, published_for

    figures = published_for("Set12", "gaussian", literature_key(25).text)
    assert {(figure.method, figure.psnr) for figure in figures} == {("BM3D", 29.97), ("DnCNN-S", 30.44), ("DnCNN-B", 30.36)}
    assert published_for("set12", "gaussian", "y = clamp(x + N(0, σ²), 0, 1), σ = 25/255") == []  # clipped: not comparable
    bsd68 = published_for("BSD68", "gaussian", literature_key(25).text)  # any case
    assert {(figure.method, figure.psnr) for figure in bsd68} == {("BM3D", 28.57), ("DnCNN-S", 29.23), ("DnCNN-B", 29.16)}
    mcmaster = published_for("mcmaster (colour)", "gaussian", literature_key(25, colour=True).text)
    assert {figure.method for figure in mcmaster} == {"CBM3D", "CDnCNN-B", "FFDNet", "DRUNet"}
    assert published_for("mcmaster (colour)", "gaussian", literature_key(25).text) == []  # grayscale noise wording


def test_the_plan_says_which_cells_run_where_and_why(ci_sweep: Path) -> None:
    from bench.sweep_data import prepare_data
    from bench.sweep import plan_sweep

    config = load_config(Path(CI_CONFIG), ["speed_reference=false", "models.dae.latent_dim=[16, 8]"])
    cells = build_cells(config)
    plan = plan_sweep(config, ResultStore(ci_sweep), prepare_data(config), cells, requested=1)
    assert len(plan.finished) == 3 and [cell.params for cell in plan.pending] == [{"latent_dim": 8}] * 2
    assert plan.reruns == {} and plan.workers.count == 1 and plan.workers.reason.startswith("1 requested")
    submitit = load_config(Path(CI_CONFIG), ["executor=submitit", "submitit.array_parallelism=7"])
    plan = plan_sweep(submitit, ResultStore(ci_sweep), prepare_data(config), build_cells(submitit), requested=1)
    assert (plan.workers.count, plan.workers.reason) == (7, "submitit: the job array's array_parallelism")


@pytest.mark.parametrize("settings, workers, expected", [
    ([], 1, "InProcessExecutor"),
    (["cell_timeout=30"], 1, "PoolExecutor"),  # a timeout needs a process it can stop
    ([], 2, "PoolExecutor"),
    (["executor=submitit"], 1, "SubmititExecutor"),
])
def test_the_executor_follows_the_config_and_the_worker_count(tmp_path: Path, settings: list[str], workers: int,
                                                              expected: str) -> None:
    from bench.executors import choose_executor

    config = load_config(Path(CI_CONFIG), settings)
    data = object()  # held for the cells, not read when the executor is chosen
    assert type(choose_executor(config, ResultStore(tmp_path), data, workers)).__name__ == expected
