"""Sweeps that grow: the summary names its evaluation sets, figures stay bounded in size whatever the grid, a
resume with nothing pending redraws nothing, and a sweep of hundreds of evaluations keeps its report small."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from bench import ranking
from bench.figures import MAX_PIXELS
from bench.plots import spread
from bench.report import write_report
from bench.results import read_folder
from bench.summary import matched_rows, summary_table
from tests.conftest import ci_sweep_here

FAMILIES = ("gaussian", "speckle", "poisson-gaussian", "correlated-gaussian", "salt-pepper")
SECOND_SET = "evaluation.datasets={photos: {dataset: skimage-natural, params: {limit: 1}}}"


def _levels(count: int) -> str:
    return "[" + ", ".join(f"{0.01 + 0.2 * index / (count - 1):.5f}" for index in range(count)) + "]"


def _summary_text(outcome) -> str:  # noqa: ANN001 - a SweepOutcome
    console = Console(file=io.StringIO(), width=200)
    console.print(summary_table(matched_rows(outcome.records), "summary"))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_spread_keeps_the_ends_and_at_most_the_count() -> None:
    assert spread(list(range(200)), 6) == [0, 40, 80, 119, 159, 199]
    assert spread([1, 2, 3], 6) == [1, 2, 3]
    assert spread(list(range(10)), 1) == [0]


def test_the_summary_of_two_evaluation_sets_names_each_rows_set_in_config_order(tmp_path: Path) -> None:
    outcome = ci_sweep_here(tmp_path / "two", "models={noisy: {}, tv: {}}", "noise={gaussian: [0.1, 0.2]}", SECOND_SET)
    text = _summary_text(outcome)
    lines = [line for line in text.splitlines() if "gaussian" in line]
    assert "data set" in text and len(lines) == 2 * 2 * 2  # two sets × two levels × two methods
    sets = [("photos" if "photos" in line else "skimage") for line in lines]
    assert sets == ["skimage"] * 4 + ["photos"] * 4  # the test split first, then the config's sets, grouped
    one = ci_sweep_here(tmp_path / "one", "models={noisy: {}}", "noise={gaussian: [0.1]}")
    assert "data set" not in _summary_text(one)  # one set: as before


def test_a_resume_with_nothing_pending_redraws_no_figure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ci_sweep_here(out, "models={noisy: {}, tv: {}}", "noise={gaussian: [0.1, 0.2], speckle: [0.2]}")
    write_report(out)
    figures = sorted((out / "plots").glob("*.png"))
    assert figures
    drawn = {figure.name: figure.stat().st_mtime_ns for figure in figures}
    (out / "plots" / figures[0].name).unlink()  # a missing figure is drawn again, the others are kept
    write_report(out)
    assert {figure.name: figure.stat().st_mtime_ns for figure in (out / "plots").glob("*.png") if figure != figures[0]} == {
        name: time for name, time in drawn.items() if name != figures[0].name
    }
    assert (out / "plots" / figures[0].name).is_file()
    manifest = json.loads((out / "plots" / ".drawn.json").read_text())
    assert all(len(entry["digest"]) == 64 for entry in manifest.values())


def test_a_manifest_naming_files_outside_the_plots_is_data_and_ignored(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ci_sweep_here(out, "models={noisy: {}}", "noise={gaussian: [0.1, 0.2]}")
    write_report(out)
    manifest_path = out / "plots" / ".drawn.json"
    manifest = json.loads(manifest_path.read_text())
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not a plot of this sweep")
    for entry in manifest.values():
        entry["files"] = [f"../../{secret.name}"] if entry["files"] else []
    manifest_path.write_text(json.dumps(manifest))
    written = write_report(out)
    assert all(path.parent == out / "plots" for path in written if path.suffix == ".png")
    assert base64.b64encode(secret.read_bytes()).decode() not in (out / "report.html").read_text()


@pytest.mark.heavy
def test_a_sweep_of_hundreds_of_evaluations_keeps_figures_and_report_bounded(tmp_path: Path) -> None:
    levels = _levels(100)
    noise = "noise={" + ", ".join(f"{family}: {levels}" for family in FAMILIES) + "}"
    out = tmp_path / "scale"
    outcome = ci_sweep_here(out, "models={noisy: {}}", noise, SECOND_SET)
    write_report(out)
    for figure in (out / "plots").glob("*.png"):
        width, height = Image.open(figure).size
        assert height <= MAX_PIXELS and width <= MAX_PIXELS, (figure.name, width, height)
    assert (out / "report.html").stat().st_size <= 5 * 2**20
    # every evaluation, once per evaluation set: in the summary, the leaderboard and the report
    assert len(matched_rows(outcome.records)) == 2 * 5 * 100
    ranked = ranking.rank(read_folder(out).frame)
    assert len(ranked) == 2 * 5 * 100 and not ranked.duplicated(["dataset", "eval_noise", "eval_level", "entry"]).any()
    page = (out / "report.html").read_text()
    assert len(re.findall(r"<h3>[^<]*(gaussian|speckle|salt-pepper)[^<]*</h3>", page)) >= 2 * 5 * 100
