"""Leaderboard ranking and de-duplication, on hand-made records."""

import json
from pathlib import Path

import pandas as pd
import pytest

from bench import leaderboard
from bench.record import CellRecord
from bench.store import ResultStore
from tests.conftest import bench_here


def record(cell_id: str, model: str, psnr_by_level: dict[float, float], *, sweep: str = "a", latent: int | None = None,
           seed: int | None = 0, split: str = "by-source", train_level: float | None = 0.1) -> dict:
    learned = train_level is not None
    return {
        "cell_id": cell_id, "sweep": sweep, "model": model, "params": {"latent_dim": latent} if latent else {},
        "learned": learned, "dataset": "toy", "split": split, "noise": "gaussian" if learned else None,
        "train_level": train_level, "seed": seed if learned else None, "status": "ok", "error": None,
        "epochs": 3 if learned else None,
        "evaluations": [
            {"noise": "gaussian", "level": level, "mse": 10 ** (-psnr / 10), "psnr": psnr, "ssim": psnr / 40,
             "psnr_std": 0.0, "ssim_std": 0.0, "psnr_noisy": 20.0, "ssim_noisy": 0.4, "delta_psnr": psnr - 20.0, "n_images": 10}
            for level, psnr in psnr_by_level.items()
        ],
    }


def write_sweep(root: Path, records: list[dict]) -> Path:
    store = ResultStore(root)
    store.create()
    typed = [CellRecord.from_dict(item) for item in records]
    for item in typed:
        store.write_record(item)
    return store.write_results_csv(typed)


@pytest.fixture
def two_sweeps(tmp_path: Path) -> Path:
    shared = record("dae-shared", "dae", {0.1: 24.0, 0.2: 21.0}, latent=32)
    write_sweep(tmp_path / "results" / "a", [
        shared,
        record("dae-big-s0", "dae", {0.1: 26.0, 0.2: 22.0}, latent=128, seed=0),
        record("dae-big-s1", "dae", {0.1: 28.0, 0.2: 22.0}, latent=128, seed=1),
        record("noisy-a", "noisy", {0.1: 20.0, 0.2: 14.0}, train_level=None),
    ])
    write_sweep(tmp_path / "results" / "b", [
        shared | {"sweep": "b"},  # the same cell found in a second sweep
        record("dae-leaky", "dae", {0.1: 30.0, 0.2: 25.0}, latent=32, sweep="b", split="augmented-copies"),
    ])
    return tmp_path / "results"


def test_ranking_groups_levels_and_averages_seeds(two_sweeps: Path) -> None:
    ranked = leaderboard.rank(leaderboard.read_results(leaderboard.find_results(two_sweeps)))
    at_01 = ranked[ranked["eval_level"] == 0.1]
    assert at_01["entry"].tolist() == [
        "dae latent_dim=32 (trained gaussian 0.1) [leaky]",
        "dae latent_dim=128 (trained gaussian 0.1)",
        "dae latent_dim=32 (trained gaussian 0.1)",
        "noisy",
    ]
    assert at_01["rank"].tolist() == [1, 2, 3, 4]
    big = at_01[at_01["entry"] == "dae latent_dim=128 (trained gaussian 0.1)"].iloc[0]
    assert (big["psnr_mean"], big["psnr_std"], big["seeds"]) == (27.0, 1.0, 2)
    assert at_01["leaky"].tolist() == [True, False, False, False]


def test_a_cell_in_two_sweeps_counts_once(two_sweeps: Path) -> None:
    rows = leaderboard.read_results(leaderboard.find_results(two_sweeps))
    assert (rows["cell_id"] == "dae-shared").sum() == 2  # once per evaluation level
    ranked = leaderboard.rank(rows)
    shared = ranked[(ranked["entry"] == "dae latent_dim=32 (trained gaussian 0.1)") & (ranked["eval_level"] == 0.1)]
    assert shared["seeds"].tolist() == [1]


def test_mse_ranks_lowest_first(two_sweeps: Path) -> None:
    ranked = leaderboard.rank(leaderboard.read_results(leaderboard.find_results(two_sweeps)), "mse")
    at_02 = ranked[ranked["eval_level"] == 0.2]
    assert at_02["mse_mean"].is_monotonic_increasing


def test_filters_and_formats_through_the_cli(two_sweeps: Path, capsys: pytest.CaptureFixture) -> None:
    def run(*arguments: str) -> tuple[int, str, str]:
        return bench_here(capsys, "leaderboard", str(two_sweeps), *arguments)

    as_json = json.loads(run("--level", "0.2", "--format", "json")[1])
    assert {item["eval_level"] for item in as_json} == {0.2} and as_json[0]["rank"] == 1
    as_csv = run("--format", "csv", "--metric", "ssim")[1]
    assert as_csv.startswith("dataset,eval_noise,eval_level,rank,entry")
    markdown = run("--format", "md", "--noise", "gaussian")[1]
    assert "## toy · gaussian 0.1" in markdown and "[leaky]" in markdown
    code, stdout, _ = run()
    assert code == 0 and "toy · gaussian 0.2" in stdout
    code, _, stderr = run("--dataset", "imagenet")
    assert code == 2 and "no results match the filters" in stderr
    code, _, stderr = bench_here(capsys, "leaderboard", str(two_sweeps / "none"))
    assert code == 2 and "no such folder" in stderr


def test_results_moved_aside_are_not_ranked(two_sweeps: Path) -> None:
    write_sweep(two_sweeps / "a" / "previous-20260101-000000", [record("old", "dae", {0.1: 99.0}, latent=8)])
    rows = leaderboard.read_results(leaderboard.find_results(two_sweeps))
    assert "old" not in set(rows["cell_id"])
    # named directly, a folder called previous-… is ranked (only folders below the root are set aside)
    named = two_sweeps / "a" / "previous-20260101-000000"
    assert "old" in set(leaderboard.read_results(leaderboard.find_results(named))["cell_id"])


def test_failed_rows_are_not_ranked(tmp_path: Path) -> None:
    failed = record("dae-nan", "dae", {}, latent=8) | {"status": "failed", "error": "TrainingDiverged: loss became nan"}
    path = write_sweep(tmp_path / "s", [failed, record("noisy", "noisy", {0.1: 20.0}, train_level=None)])
    assert pd.read_csv(path)["status"].tolist() == ["failed", "ok"]
    assert leaderboard.rank(leaderboard.read_results([path]))["entry"].tolist() == ["noisy"]
