"""Reports: built from stored records only, and rendered by a real browser."""

import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import figures
from bench.report import write_report
from tests.conftest import bench_here
from tests.test_leaderboard import record, write_sweep

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def sweep(ci_sweep: Path) -> Path:
    return ci_sweep


EXPECTED_PLOTS = {
    "quality_vs_noise_gaussian.png", "parameter_heatmap_gaussian.png", "robustness_matrix_gaussian.png",
    "loss_curves.png", "examples_gaussian.png", "quality_cost_gaussian.png",
}


def test_the_sweep_writes_leaderboard_plots_and_report(sweep: Path) -> None:
    assert {path.name for path in (sweep / "plots").glob("*.png")} == EXPECTED_PLOTS
    leaderboard = (sweep / "leaderboard.md").read_text()
    assert "## skimage-natural · gaussian 0.1" in leaderboard and "| 1 |" in leaderboard
    page = (sweep / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(EXPECTED_PLOTS)
    assert "http://" not in page and "https://" not in page  # self-contained


def test_reports_need_only_the_stored_records(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sweep, copy)
    shutil.rmtree(copy / "checkpoints")
    shutil.rmtree(copy / "plots")
    (copy / "leaderboard.md").unlink()
    (copy / "report.html").unlink()
    code, _, stderr = bench_here(capsys, "report", str(copy))
    assert code == 0, stderr
    assert "## skimage-natural · gaussian 0.2" in (copy / "leaderboard.md").read_text()
    # every plot but the example images, which need the trained models
    assert {path.name for path in (copy / "plots").glob("*.png")} == EXPECTED_PLOTS - {"examples_gaussian.png"}
    assert "<table" in (copy / "report.html").read_text()


def test_report_of_a_folder_without_results_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, stderr = bench_here(capsys, "report", str(tmp_path))
    assert code == 2
    assert "no results here (no runs/ records)" in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="headless Chromium and chromedriver not installed (Debian: apt-get install chromium chromium-driver)")
def test_report_renders_in_headless_chromium(sweep: Path, tmp_path: Path) -> None:
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get((sweep / "report.html").as_uri())
        sizes = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);")
        assert len(sizes) == len(EXPECTED_PLOTS)
        assert all(complete and width > 100 and height > 100 for complete, width, height in sizes), sizes
        tables = driver.execute_script("return Array.from(document.querySelectorAll('table.sortable tbody tr')).length;")
        assert tables == 2 * 3 + 3  # two levels × (dae trained at 0.1, at 0.2, noisy), then the robustness ranking
        # clicking a header sorts: the rank column becomes descending on the second click (tied ranks read 2=)
        header = driver.find_element("css selector", "table.sortable th")
        header.click()
        header.click()
        ranks = driver.execute_script(
            "return Array.from(document.querySelector('table.sortable tbody').rows).map(r => r.cells[0].textContent);")
        numbers = [int(rank.rstrip("=")) for rank in ranks]
        assert len(numbers) > 1 and numbers == sorted(numbers, reverse=True), ranks
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        driver.save_screenshot(str(tmp_path / "report-screenshot.png"))
    finally:
        driver.quit()


@given(first=st.text(), second=st.text())
def test_two_names_never_share_a_plot_file(first: str, second: str) -> None:
    """Data sets (and noise families) named ``a b`` and ``a/b``, or ``Set12`` and ``set12``: never one file,
    not even where case does not count; never a path outside plots/."""
    for name in (first, second):
        assert re.fullmatch(r"[a-z0-9-]{0,60}(\.[0-9a-f]{12})?", figures.slug(name)), name
    if first != second:
        assert figures.slug(first).lower() != figures.slug(second).lower()
    assert figures.slug("skimage-natural") == "skimage-natural"  # a plain name stays as it is


def test_data_sets_whose_names_differ_only_in_punctuation_get_their_own_plots(tmp_path: Path) -> None:
    names = ["toy", "a b", "a/b", "a-b"]

    def scored_everywhere(item: dict) -> dict:
        return item | {"evaluations": [evaluation | {"dataset": name} for name in names for evaluation in item["evaluations"]]}

    write_sweep(tmp_path, [scored_everywhere(record("dae", "dae", {0.1: 25.0}, latent=8)),
                           scored_everywhere(record("noisy", "noisy", {0.1: 20.0}, train_level=None))])
    written = write_report(tmp_path)
    quality = sorted(path.name for path in written if path.name.startswith("quality_vs_noise_"))
    assert len(quality) == len(names) and all(path.parent == tmp_path / "plots" for path in written if path.suffix == ".png")
    assert "quality_vs_noise_gaussian_a-b.png" in quality


@pytest.mark.parametrize("spoiled", ["one-cell", "every-cell"])
def test_a_report_of_rows_with_non_finite_metrics(ci_copy: Path, capsys: pytest.CaptureFixture, spoiled: str) -> None:
    """Records of older versions could hold NaN or ±inf as ok: those cells are failed, the others reported."""
    paths = sorted((ci_copy / "runs").glob("*.json"))
    chosen = [next(path for path in paths if path.name.startswith("dae-"))] if spoiled == "one-cell" else paths
    values = iter([math.nan, math.inf, -math.inf] * 3)
    for path in paths:
        stored = json.loads(path.read_text())
        for item in stored["evaluations"]:
            if path in chosen:
                item["metrics"]["psnr"]["mean"] = next(values)
            else:
                item["metrics"]["psnr"]["std"] = math.inf  # a spread that cannot be: no interval, no crash
        path.write_text(json.dumps(stored, allow_nan=True))
    code, _, stderr = bench_here(capsys, "report", str(ci_copy))
    assert code == 0, stderr
    board = (ci_copy / "leaderboard.md").read_text()
    if spoiled == "one-cell":  # that cell is failed: left out of every table, the others ranked
        level = json.loads(chosen[0].read_text())["train_level"]
        assert f"(trained gaussian {level:g})" not in board and "## skimage-natural · gaussian 0.1" in board
        assert board.count("(trained gaussian") == 3  # the other learned cell, at two levels and in the robustness table
    else:
        assert "Nothing to rank" in board
    tables = (ci_copy / "report.html").read_text().split("<h2>Plots</h2>")[0]
    assert not [cell for cell in re.findall(r"<td>([^<]*)</td>", tables) if re.search("nan|inf", cell, re.IGNORECASE)]


def test_a_report_of_an_interrupted_sweep_uses_the_records_it_has(ci_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (ci_copy / "results.csv").unlink()
    stopped = next((ci_copy / "runs").glob("dae-*.json"))
    label = json.loads(stopped.read_text())["train_level"]
    stopped.unlink()
    (ci_copy / "env.json").write_text("{not json")  # a damaged side file is left out, not a crash
    code, _, stderr = bench_here(capsys, "report", str(ci_copy))
    assert code == 0, stderr
    board = (ci_copy / "leaderboard.md").read_text()
    assert f"(trained gaussian {label:g})" not in board and "| noisy |" in board and "(trained gaussian" in board
    assert (ci_copy / "plots" / "quality_vs_noise_gaussian.png").is_file()
