"""One board, four views: Markdown, HTML, the terminal and JSON show the same ranks, marks and notes."""

import io
import re

import numpy as np
import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from bench import leaderboard, ranking, report, summary
from bench.notes import LEAKY, LEAKY_NOTE, NOT_CONVERGED, NOT_CONVERGED_NOTE
from bench.record import CellRecord
from bench.results import results_frame
from bench.tables import Board, build_board
from tests.test_leaderboard import Rendered, record, scored


class Page(Rendered):
    """The text of each table cell (table by table, row by row), and of everything outside the tables."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.feed(markup)

    def handle_endtag(self, tag: str) -> None:
        super().handle_endtag(tag)
        if tag in ("p", "h1", "h2", "h3"):
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        (self.cell if self.cell is not None else self.text).append(data)


def terminal_tables(text: str) -> list[list[list[str]]]:
    """The cells of each rich table printed (one line a row: the console is wide enough)."""
    tables: list[list[list[str]]] = []
    for line in text.splitlines():
        if line.startswith("┏"):
            tables.append([])
        elif line.startswith(("┃", "│")):
            tables[-1].append([cell.strip() for cell in re.split("[┃│]", line)[1:-1]])
    return tables


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def board() -> Board:
    """Two levels; a leaky entry, one not converged, two tied (close per-image values), a baseline."""
    images = np.random.default_rng(3).normal(25.0, 3.0, 40)
    close = np.random.default_rng(4).normal(0.0, 0.5, 40)
    made = [
        scored("tied-a", "dae", images + 0.02 + close, latent=16) | {"converged": False},
        scored("tied-b", "dae", images, latent=32),
        scored("leaky", "dae", images + 4.0, latent=64) | {"split": "augmented-copies"},
        scored("noisy", "noisy", images - 5.0, train_level=None),
        record("other", "dae", {0.2: 21.0}, latent=8),
        record("noisy-0.2", "noisy", {0.2: 14.0}, train_level=None),
    ]
    rows = ranking.rankable(results_frame([CellRecord.from_dict(item) for item in made]))
    return build_board(ranking.rank(rows), "psnr", ranking.robustness(rows))


def views(board: Board) -> dict[str, tuple[list[list[list[str]]], str]]:
    """Markdown (as a reader sees it rendered), HTML and the terminal: (their tables' cells, their text)."""
    markdown = Page(MarkdownIt("commonmark").enable(["table"]).render(leaderboard.to_markdown(board)))
    page = Page(report.board_html(board))
    console = Console(file=io.StringIO(), width=400)
    summary.print_board(board, console)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    return {
        "markdown": (markdown.tables, "".join(markdown.text)),
        "html": (page.tables, "".join(page.text)),
        "terminal": (terminal_tables(printed), printed),
    }


def test_the_board_has_every_case_it_is_meant_to_show(board: Board) -> None:
    names = [cells[1] for section in board.ranked for cells in section.rows]
    assert any(LEAKY in name for name in names) and any(NOT_CONVERGED in name for name in names)
    assert any(cells[0].endswith("=") for section in board.ranked for cells in section.rows)  # a tie
    assert LEAKY_NOTE in board.notes and NOT_CONVERGED_NOTE in board.notes


@pytest.mark.parametrize("view", ["markdown", "html", "terminal"])
def test_every_view_shows_the_boards_ranks_names_and_marks(board: Board, view: str) -> None:
    tables, _ = views(board)[view]
    sections = board.ranked + board.robustness
    assert len(tables) == len(sections)
    for table, section in zip(tables, sections):
        assert table[0] == section.header, section.title
        assert [cells[:2] for cells in table[1:]] == [cells[:2] for cells in section.rows], section.title


@pytest.mark.parametrize("view", ["markdown", "html", "terminal"])
def test_every_view_shows_every_note_in_the_same_words(board: Board, view: str) -> None:
    _, text = views(board)[view]
    notes = board.notes + [note for section in board.ranked + board.robustness for note in section.notes]
    assert notes and all(one_line(note) in one_line(text) for note in notes), text


def test_the_json_view_holds_the_same_ranks_names_and_marks(board: Board) -> None:
    shown = [cells[:2] for section in board.ranked for cells in section.rows]
    assert [[str(entry["tied_rank"]), entry["entry"]] for entry in board.entries] == [
        [rank.rstrip("="), name] for rank, name in shown
    ]
    for entry in board.entries:
        assert entry["leaky"] == (LEAKY in entry["entry"]), entry["entry"]
        assert (entry["converged"] is False) == (NOT_CONVERGED in entry["entry"]), entry["entry"]


def test_a_mark_no_entry_carries_has_no_note() -> None:
    rows = ranking.rankable(results_frame([CellRecord.from_dict(record("dae", "dae", {0.1: 24.0}, latent=8))]))
    board = build_board(ranking.rank(rows), "psnr")
    assert LEAKY_NOTE not in board.notes and NOT_CONVERGED_NOTE not in board.notes
