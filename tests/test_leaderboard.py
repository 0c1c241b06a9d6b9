"""Leaderboard ranking and de-duplication, on hand-made records."""

import itertools
import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from scipy import stats as reference

from bench import leaderboard, ranking, tables
from bench.record import CellRecord
from bench.results import Results, find_results, results_frame
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
    return Results(root, typed).write_csv()


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
    ranked = ranking.rank(ranking.read_results(find_results(two_sweeps)))
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
    rows = ranking.read_results(find_results(two_sweeps))
    assert (rows["cell_id"] == "dae-shared").sum() == 2  # once per evaluation level
    ranked = ranking.rank(rows)
    shared = ranked[(ranked["entry"] == "dae latent_dim=32 (trained gaussian 0.1)") & (ranked["eval_level"] == 0.1)]
    assert shared["seeds"].tolist() == [1]


def test_mse_ranks_lowest_first(two_sweeps: Path) -> None:
    ranked = ranking.rank(ranking.read_results(find_results(two_sweeps)), "mse")
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
    rows = ranking.read_results(find_results(two_sweeps))
    assert "old" not in set(rows["cell_id"])
    # named directly, a folder called previous-… is ranked (only folders below the root are set aside)
    named = two_sweeps / "a" / "previous-20260101-000000"
    assert "old" in set(ranking.read_results(find_results(named))["cell_id"])


def test_failed_rows_are_not_ranked(tmp_path: Path) -> None:
    failed = record("dae-nan", "dae", {}, latent=8) | {"status": "failed", "error": "TrainingDiverged: loss became nan"}
    path = write_sweep(tmp_path / "s", [failed, record("noisy", "noisy", {0.1: 20.0}, train_level=None)])
    assert pd.read_csv(path)["status"].tolist() == ["failed", "ok"]
    assert ranking.rank(ranking.read_results([path]))["entry"].tolist() == ["noisy"]


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
    return ranking.rank(ranking.read_results([write_sweep(root, records)]))


def test_two_models_closer_than_their_noise_are_tied(tmp_path: Path, images: np.ndarray) -> None:
    ranked = ranked_sweep(tmp_path, [
        scored("small", "dae", images + 0.02 + disagreement(1), latent=16),
        scored("big", "dae", images + disagreement(2), latent=32),
        scored("noisy", "noisy", images - 5.0, train_level=None),
    ])
    assert ranked["model"].tolist() == ["dae", "dae", "noisy"]
    assert ranked["distinct_from_next"].tolist() == [False, True, False]  # the last has no next: false
    assert ranked["tied_rank"].tolist() == [1, 1, 3] and ranked["rank"].tolist() == [1, 2, 3]
    assert [cells[0] for cells in tables.display_rows(ranked)] == ["1=", "1=", "3"]
    assert "| 1= | dae latent_dim=16" in leaderboard.to_markdown(tables.build_board(ranked, "psnr"))


def test_two_clearly_different_models_are_not_tied(tmp_path: Path, images: np.ndarray) -> None:
    ranked = ranked_sweep(tmp_path, [
        scored("small", "dae", images - 1.5 + disagreement(1), latent=16),
        scored("big", "dae", images + disagreement(2), latent=32),
    ])
    assert ranked["params"].tolist() == ['{"latent_dim": 32}', '{"latent_dim": 16}']
    assert ranked["distinct_from_next"].tolist() == [True, False]
    assert [cells[0] for cells in tables.display_rows(ranked)] == ["1", "2"]


def test_a_tie_under_a_stricter_alpha_is_a_difference_under_a_looser_one(tmp_path: Path, images: np.ndarray) -> None:
    records = [scored("small", "dae", images + 0.25 + disagreement(1), latent=16),
               scored("big", "dae", images + disagreement(2), latent=32)]
    rows = ranking.read_results([write_sweep(tmp_path, records)])
    verdicts = [ranking.rank(rows, alpha=alpha)["distinct_from_next"].iloc[0] for alpha in (0.001, 0.5)]
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
    assert stored["evaluations"][0]["metrics"]["psnr"]["per_image"] == pytest.approx(list(images))


def test_records_without_per_image_values_get_intervals_but_no_verdict(two_sweeps: Path) -> None:
    ranked = ranking.rank(ranking.read_results(find_results(two_sweeps)))
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


# ---------------------------------------------------------------- what older, damaged or hand-made files hold

def strict_json(text: str) -> object:
    """``text`` parsed as strict JSON: NaN and Infinity, which JSON has no word for, raise."""
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in the output: not JSON")

    return json.loads(text, parse_constant=refuse)


FORMATS = ["json", "csv", "md", "table"]
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
SPOILABLE = ["psnr", "ssim", "mse", "delta_psnr", "eval_level", "psnr_std", "ssim_std", "psnr_noisy"]
RANKED = {"psnr", "ssim", "mse", "delta_psnr", "eval_level"}  # a non-finite one fails its cell; a spread only loses its interval
HYPOTHESIS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def spoil(table: pd.DataFrame, data: st.DataObject) -> tuple[pd.DataFrame, set[str]]:
    """``table`` with NaN or ±inf in random metric cells of its ok rows, and the cells that must count as failed."""
    spoiled = data.draw(st.lists(st.tuples(st.sampled_from(list(table.index[table["status"] == "ok"])),
                                           st.sampled_from(SPOILABLE), NON_FINITE), min_size=1, max_size=6))
    table = table.copy()
    for row, column, value in spoiled:
        table.loc[row, column] = value
    return table, {table.loc[row, "cell_id"] for row, column, _ in spoiled if column in RANKED}


@HYPOTHESIS
@given(data=st.data())
def test_non_finite_metrics_are_failed_cells_in_every_format(ci_sweep: Path, tmp_path_factory: pytest.TempPathFactory,
                                                             capsys: pytest.CaptureFixture, data: st.DataObject) -> None:
    """Records of older versions could hold NaN or ±inf as ok: such a cell is read as failed, never ranked."""
    ci_copy = tmp_path_factory.mktemp("spoiled") / "ci"
    shutil.copytree(ci_sweep, ci_copy)
    paths = sorted((ci_copy / "runs").glob("*.json"))
    spoiled = data.draw(st.sets(st.sampled_from(paths), min_size=1))
    for path in spoiled:
        stored = json.loads(path.read_text())
        item = data.draw(st.sampled_from(stored["evaluations"]))
        metric = data.draw(st.sampled_from(sorted(item["metrics"])))
        item["metrics"][metric][data.draw(st.sampled_from(["mean", "noisy"]))] = data.draw(NON_FINITE)
        path.write_text(json.dumps(stored, allow_nan=True))
    form, metric = data.draw(st.sampled_from(FORMATS)), data.draw(st.sampled_from(["psnr", "ssim", "mse", "delta_psnr"]))
    code, stdout, stderr = bench_here(capsys, "leaderboard", str(ci_copy), "--format", form, "--metric", metric)
    left = len(paths) - len(spoiled)
    if not left:
        assert code == 2 and stderr.strip().splitlines()[-1].startswith("error: no results match"), stderr
        return
    assert code == 0, stderr
    if form == "json":
        entries = strict_json(stdout)
        assert len(entries) == 2 * left  # each cell is one entry at each of the two evaluation levels
        assert all(math.isfinite(entry["psnr_mean"]) for entry in entries)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rows_with_non_finite_metrics_given_directly_are_left_out(ci_sweep: Path, data: st.DataObject) -> None:
    """rank, robustness, to_markdown and to_records on rows built without read_results (an API user's frame)."""
    rows, failed = spoil(results_frame(ResultStore(ci_sweep).current_records()), data)
    metric = data.draw(st.sampled_from(ranking.metrics(rows)))
    finite = rows[~rows[list(RANKED)].isin([math.inf, -math.inf]).any(axis=1) & rows[list(RANKED)].notna().all(axis=1)]
    if finite.empty:
        with pytest.raises(ranking.LeaderboardError, match="no results match"):
            ranking.rank(rows, metric)
        return
    ranked = ranking.rank(rows, metric)
    assert len(ranked) == len(finite)
    strict_json(json.dumps(tables.to_records(ranked), allow_nan=False))
    assert "| 1 |" in leaderboard.to_markdown(tables.build_board(ranked, metric, ranking.robustness(rows)))


LEADERBOARD_OF: dict[Path, str] = {}  # the shared sweep's leaderboard, computed once


@HYPOTHESIS
@given(data=st.data())
def test_results_csv_is_an_export_that_no_reader_trusts(ci_sweep: Path, ci_copy: Path, capsys: pytest.CaptureFixture,
                                                        data: st.DataObject) -> None:
    """Columns removed, numbers edited, the file emptied or gone: the leaderboard, the report's rows and the
    gate read the records, so their numbers do not move. (Only results.csv is damaged: one copy serves
    every example, each writing it anew.)"""
    if ci_sweep not in LEADERBOARD_OF:
        LEADERBOARD_OF[ci_sweep] = bench_here(capsys, "leaderboard", str(ci_sweep), "--format", "json")[1]
    full = LEADERBOARD_OF[ci_sweep]
    original = pd.read_csv(ci_sweep / "results.csv")
    damage = data.draw(st.sampled_from(["columns", "numbers", "empty", "gone"]))
    if damage == "columns":
        removed = data.draw(st.sets(st.sampled_from(list(original.columns)), min_size=1, max_size=len(original.columns) - 1))
        original.drop(columns=sorted(removed)).to_csv(ci_copy / "results.csv", index=False)
    elif damage == "numbers":
        original.assign(psnr=original["psnr"] + 10.0, ssim=-1.0).to_csv(ci_copy / "results.csv", index=False)
    elif damage == "empty":
        (ci_copy / "results.csv").write_text("")
    else:
        (ci_copy / "results.csv").unlink()
    code, stdout, stderr = bench_here(capsys, "leaderboard", str(ci_copy), "--format", "json")
    assert code == 0 and strict_json(stdout) == strict_json(full), stderr


@pytest.mark.parametrize("deleted", [cells for size in range(4) for cells in itertools.combinations(range(3), size)])
def test_an_interrupted_sweep_is_ranked_from_the_records_it_has(ci_sweep: Path, ci_copy: Path, capsys: pytest.CaptureFixture,
                                                                deleted: tuple[int, ...]) -> None:
    """No results.csv (the sweep was stopped before it wrote one), and only some cells' records."""
    full = strict_json(bench_here(capsys, "leaderboard", str(ci_sweep), "--format", "json")[1])
    (ci_copy / "results.csv").unlink()
    cells = json.loads((ci_copy / "cells.json").read_text())["cells"]
    for index in deleted:
        (ci_copy / "runs" / f"{cells[index]}.json").unlink()
    # found below a results root although it has no results.csv
    code, stdout, stderr = bench_here(capsys, "leaderboard", str(ci_copy.parent), "--format", "json")
    if len(deleted) == len(cells):
        assert code == 2 and stderr.startswith("error: no results match") and stderr.count("\n") == 1
        return
    assert code == 0, stderr

    def key(entry: dict) -> tuple:
        return tuple(entry[name] for name in ("eval_level", "entry", "psnr_mean", "ssim_mean", "n_images", "psnr_ci_low"))

    entries = [key(entry) for entry in strict_json(stdout)]
    assert len(entries) == 2 * (len(cells) - len(deleted)) and set(entries) <= {key(entry) for entry in full}


def test_folders_with_records_but_no_results_csv_are_found_unless_moved_aside(two_sweeps: Path) -> None:
    (two_sweeps / "a" / "results.csv").unlink()
    aside = two_sweeps / "b" / "previous-20260101-000000"
    write_sweep(aside, [record("old", "dae", {0.1: 99.0}, latent=8)])
    (aside / "results.csv").unlink()
    assert find_results(two_sweeps) == [two_sweeps / "a", two_sweeps / "b"]
    assert "dae-big-s0" in set(ranking.read_results(find_results(two_sweeps))["cell_id"])
    assert find_results(aside) == [aside]


def test_names_that_look_like_numbers_or_gaps_stay_names(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, [record("noisy", "NA", {0.1: 20.0}, train_level=None) | {"dataset": "2012"},
                                  record("dae", "None", {0.1: 24.0}, latent=8) | {"dataset": "2012"}])
    ranked = ranking.rank(ranking.read_results([path]))
    assert ranked["dataset"].tolist() == ["2012", "2012"] and ranked["model"].tolist() == ["None", "NA"]


class Rendered(HTMLParser):
    """The tags, and the text of each cell of each table, of rendered Markdown."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


# What Markdown itself makes of leaderboard.md (an underscore may still emphasise); anything else came from a name.
MARKDOWN_TAGS = {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "em", "strong"}
# Names: any characters but NUL (U+FFFD in Markdown), mixed with pieces that mean something to Markdown, HTML or rich.
MARKUP = ["[", "]", "[/]", "[bold]", "[/bold]", "<b>", "</td>", "<!--", "&amp;", "&#124;", "|", "\\", "\\|", "`", "*", "_",
          "~~", "![x](y)", "[x](y)", "#", "\n", "\r\n", "\u2028", "\x0b"]
TEXT = st.lists(st.sampled_from(MARKUP) | st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                max_size=12).map("".join)


def visible(text: str) -> str:
    """Text as a reader sees it: whitespace runs as one space, emphasis underscores gone."""
    return " ".join(text.replace("_", "").split())


@settings(max_examples=100, deadline=None)
@given(model=TEXT, value=TEXT, dataset=TEXT, sweep=TEXT)
def test_names_never_carry_html_or_break_a_markdown_table(model: str, value: str, dataset: str, sweep: str) -> None:
    records = [record("learned", model, {0.1: 25.0}, sweep=sweep) | {"params": {"p": value}, "dataset": dataset},
               record("noisy", "noisy", {0.1: 20.0}, sweep=sweep, train_level=None) | {"dataset": dataset}]
    rows = results_frame([CellRecord.from_dict(item) for item in records])
    ranked = ranking.rank(rows)
    markdown = leaderboard.to_markdown(tables.build_board(ranked, "psnr", ranking.robustness(rows)))
    page = Rendered()
    page.feed(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))
    assert page.tags <= MARKDOWN_TAGS, markdown
    assert [table[0] for table in page.tables] == [tables.header(ranked), tables.ROBUSTNESS_HEADER]
    for table in page.tables:
        assert len(table) == 3 and all(len(cells) == len(table[0]) for cells in table), markdown
        assert {visible(cells[1]) for cells in table[1:]} == {visible(name) for name in ranked["entry"]}, markdown


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=TEXT.filter(str.strip), dataset=TEXT.filter(str.strip))
def test_names_are_not_rich_markup_in_the_terminal_table(tmp_path_factory: pytest.TempPathFactory,
                                                         capsys: pytest.CaptureFixture, model: str, dataset: str) -> None:
    folder = tmp_path_factory.mktemp("names")
    write_sweep(folder, [record("learned", model, {0.1: 25.0}) | {"dataset": dataset},
                         record("noisy", "noisy", {0.1: 20.0}, train_level=None) | {"dataset": dataset}])
    (folder / "results.csv").unlink()  # the rows from the records, as the names were written
    code, stdout, stderr = bench_here(capsys, "leaderboard", str(folder))
    assert code == 0, stderr
    assert "Robustness" in stdout
