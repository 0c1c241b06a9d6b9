"""A plot registers itself: a plugin's figure appears in report.html with no other edit."""

import uuid
from pathlib import Path

import pytest

from bench.figures import PLOTS, register_plot
from denoiser.errors import ConfigurationError
from tests.conftest import bench_here
from tests.test_leaderboard import record, write_sweep

PLUGIN = '''
import matplotlib.pyplot as plt

import bench
from bench.figures import save, slug


@bench.register_plot("row_count", each="sweep")
def row_count(rows, out):
    """How many rows the report holds: one figure per sweep."""
    figure, axis = plt.subplots()
    axis.bar(["rows"], [len(rows)])
    return save(figure, out / "row_count.png")


@bench.register_plot()
def psnr_spread(rows, family, out, tag):
    """PSNR of every row scored on ``family``: one figure per data set and family."""
    figure, axis = plt.subplots()
    axis.hist(rows["psnr"])
    return save(figure, out / f"psnr_spread_{slug(family)}{tag}.png")


@bench.register_plot("broken", each="sweep", data="records")
def broken(records, out):
    raise RuntimeError("this figure cannot be drawn")
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"my_plots_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    write_sweep(
        folder,
        [
            record("dae", "dae", {0.1: 25.0, 0.2: 22.0}, latent=8),
            record("noisy", "noisy", {0.1: 20.0, 0.2: 14.0}, train_level=None),
        ],
    )
    return folder


def test_a_plugins_plot_appears_in_the_report(run: Path, plugin: str, capsys: pytest.CaptureFixture) -> None:
    code, _, stderr = bench_here(capsys, "report", str(run), "--plugin", plugin)
    assert code == 0, stderr
    assert (run / "plots" / "row_count.png").is_file() and (run / "plots" / "psnr_spread_gaussian.png").is_file()
    page = (run / "report.html").read_text()
    assert 'alt="row_count"' in page and 'alt="psnr_spread_gaussian"' in page
    assert 'alt="quality_vs_noise_gaussian"' in page  # beside the built-in figures
    # a figure of the plugin that fails is left out, named, and the report goes on
    assert "figure broken" in stderr and "this figure cannot be drawn" in stderr


def test_without_the_plugin_the_report_has_only_its_own_figures(run: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, stderr = bench_here(capsys, "report", str(run))
    assert code == 0, stderr
    assert "row_count" not in (run / "report.html").read_text()


def test_a_plot_says_what_it_is_drawn_from_or_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="register_plot: each must be one of family, sweep"):
        register_plot(each="level")
    with pytest.raises(ConfigurationError, match="data one of rows, ranked"):
        register_plot(data="records")  # records are drawn once per sweep, not per family


def test_two_plots_of_one_name_from_two_places_are_refused() -> None:
    def quality_vs_noise(rows, family, out, tag):  # noqa: ANN001, ANN202 - a stand-in
        return None

    with pytest.raises(ConfigurationError, match="plot 'quality_vs_noise' is registered twice"):
        register_plot()(quality_vs_noise)
