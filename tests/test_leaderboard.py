"""Leaderboard ranking and de-duplication, on hand-made records."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as reference

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


IMAGES = 40


def scored(cell_id: str, model: str, per_image: np.ndarray, *, latent: int | None = None, seed: int | None = 0,
           train_level: float | None = 0.1) -> dict:
    """A record at gaussian 0.1 whose per-image PSNRs are ``per_image`` (and SSIMs a fortieth of them)."""
    item = record(cell_id, model, {0.1: float(per_image.mean())}, latent=latent, seed=seed, train_level=train_level)
    item["evaluations"][0] |= {
        "ssim": float(per_image.mean() / 40), "psnr_std": float(per_image.std()), "ssim_std": float(per_image.std() / 40),
        "n_images": len(per_image), "psnr_per_image": per_image.tolist(), "ssim_per_image": (per_image / 40).tolist()}
    return item


@pytest.fixture
def images() -> np.ndarray:
    """The per-image PSNR of a reference model (dB): images differ a lot in difficulty."""
    return np.random.default_rng(3).normal(25.0, 3.0, IMAGES)


def disagreement(seed: int) -> np.ndarray:
    """Per-image differences between two models of about the same quality (0.5 dB spread)."""
    return np.random.default_rng(seed).normal(0.0, 0.5, IMAGES)


def ranked_sweep(root: Path, records: list[dict]) -> pd.DataFrame:
    return leaderboard.rank(leaderboard.read_results([write_sweep(root, records)]))


def test_two_models_closer_than_their_noise_are_tied(tmp_path: Path, images: np.ndarray) -> None:
    ranked = ranked_sweep(tmp_path, [
        scored("small", "dae", images + 0.02 + disagreement(1), latent=16),
        scored("big", "dae", images + disagreement(2), latent=32),
        scored("noisy", "noisy", images - 5.0, train_level=None),
    ])
    assert ranked["model"].tolist() == ["dae", "dae", "noisy"]
    assert ranked["distinct_from_next"].tolist() == [False, True, False]  # the last has no next: false
    assert ranked["tied_rank"].tolist() == [1, 1, 3] and ranked["rank"].tolist() == [1, 2, 3]
    assert [cells[0] for cells in leaderboard.display_rows(ranked)] == ["1=", "1=", "3"]
    assert "| 1= | dae latent_dim=16" in leaderboard.to_markdown(ranked, "psnr")


def test_two_clearly_different_models_are_not_tied(tmp_path: Path, images: np.ndarray) -> None:
    ranked = ranked_sweep(tmp_path, [
        scored("small", "dae", images - 1.5 + disagreement(1), latent=16),
        scored("big", "dae", images + disagreement(2), latent=32),
    ])
    assert ranked["params"].tolist() == ['{"latent_dim": 32}', '{"latent_dim": 16}']
    assert ranked["distinct_from_next"].tolist() == [True, False]
    assert [cells[0] for cells in leaderboard.display_rows(ranked)] == ["1", "2"]


def test_a_tie_under_a_stricter_alpha_is_a_difference_under_a_looser_one(tmp_path: Path, images: np.ndarray) -> None:
    records = [scored("small", "dae", images + 0.25 + disagreement(1), latent=16),
               scored("big", "dae", images + disagreement(2), latent=32)]
    rows = leaderboard.read_results([write_sweep(tmp_path, records)])
    verdicts = [leaderboard.rank(rows, alpha=alpha)["distinct_from_next"].iloc[0] for alpha in (0.001, 0.5)]
    assert verdicts == [False, True]


def test_every_entry_has_intervals_and_a_verdict_in_json(tmp_path: Path, images: np.ndarray,
                                                         capsys: pytest.CaptureFixture) -> None:
    write_sweep(tmp_path / "results" / "s", [
        scored("small-0", "dae", images - 0.3 + disagreement(1), latent=16, seed=0),
        scored("small-1", "dae", images + 0.2 + disagreement(2), latent=16, seed=1),
        scored("big-0", "dae", images + disagreement(3), latent=32, seed=0),
        scored("big-1", "dae", images + 0.1 + disagreement(4), latent=32, seed=1),
        scored("noisy", "noisy", images - 5.0, train_level=None),
    ])
    code, stdout, _ = bench_here(capsys, "leaderboard", str(tmp_path / "results"), "--format", "json")
    entries = json.loads(stdout)
    assert code == 0 and len(entries) == 3
    for entry in entries:
        assert entry["psnr_ci_low"] <= entry["psnr_mean"] <= entry["psnr_ci_high"], entry["entry"]
        assert entry["ssim_ci_low"] <= entry["ssim_mean"] <= entry["ssim_ci_high"], entry["entry"]
        assert isinstance(entry["distinct_from_next"], bool), entry["entry"]
    big = entries[0]
    seed_means = [(images + disagreement(3)).mean(), (images + 0.1 + disagreement(4)).mean()]
    expected = reference.t.interval(0.95, 1, loc=np.mean(seed_means), scale=reference.sem(seed_means))
    assert big["seeds"] == 2 and (big["psnr_ci_low"], big["psnr_ci_high"]) == pytest.approx(expected, abs=1e-3)
    assert entries[-1]["distinct_from_next"] is False
    code, stdout, _ = bench_here(capsys, "leaderboard", str(tmp_path / "results"))
    text = " ".join(stdout.split())  # the note wraps at the terminal's width
    assert code == 0 and "PSNR interval" in text and "(α = 0.05)" in text


def test_per_image_values_stay_in_the_records_not_in_results_csv(tmp_path: Path, images: np.ndarray) -> None:
    path = write_sweep(tmp_path, [scored("big", "dae", images, latent=32)])
    assert not any("per_image" in column for column in pd.read_csv(path).columns)
    stored = json.loads((tmp_path / "runs" / "big.json").read_text())
    assert stored["evaluations"][0]["psnr_per_image"] == [round(value, 4) for value in images]


def test_records_without_per_image_values_get_intervals_but_no_verdict(two_sweeps: Path) -> None:
    ranked = leaderboard.rank(leaderboard.read_results(leaderboard.find_results(two_sweeps)))
    at_01 = ranked[ranked["eval_level"] == 0.1]
    assert at_01["distinct_from_next"].tolist() == [None, None, None, False]
    big = at_01[at_01["entry"] == "dae latent_dim=128 (trained gaussian 0.1)"].iloc[0]
    assert big["psnr_ci_low"] < 27.0 < big["psnr_ci_high"]  # Student t over its two seeds, 26 and 28
    noisy = at_01[at_01["entry"] == "noisy"].iloc[0]  # one run: over its images, whose spread is 0 here
    assert noisy["psnr_ci_low"] == noisy["psnr_mean"] == noisy["psnr_ci_high"]


@pytest.mark.parametrize("alpha", ["0", "1", "-0.1", "nan"])
def test_an_alpha_outside_zero_and_one_is_one_line(two_sweeps: Path, capsys: pytest.CaptureFixture, alpha: str) -> None:
    code, _, stderr = bench_here(capsys, "leaderboard", str(two_sweeps), f"--alpha={alpha}")
    assert code == 2 and "alpha must be between 0 and 1" in stderr and len(stderr.strip().splitlines()) == 1
