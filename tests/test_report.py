"""Reports: built from stored records only, and rendered by a real browser."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import bench_here

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def sweep(ci_sweep: Path) -> Path:
    return ci_sweep


EXPECTED_PLOTS = {
    "quality_vs_noise_gaussian.png", "parameter_heatmap_gaussian.png", "robustness_matrix_gaussian.png",
    "loss_curves.png", "examples_gaussian.png",
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
    assert "no results.csv here" in stderr and len(stderr.strip().splitlines()) == 1


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
