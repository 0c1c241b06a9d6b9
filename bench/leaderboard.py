"""The leaderboard as Markdown (leaderboard.md, ``--format md``): one view of the :class:`bench.tables.Board`.

Every name in a table comes from a config, a plugin or a data folder, so the Markdown escapes it. The rows,
marks and notes are :mod:`bench.tables`'s, as the report's HTML and the terminal's tables are.
"""

from __future__ import annotations

from bench.notes import NOTHING_TO_RANK
from bench.tables import Board, Section

NOTHING_RANKED = f"# Leaderboard\n\n{NOTHING_TO_RANK}\n"  # leaderboard.md when no cell has finished

# Markdown that a name could carry (names come from configs, plugins and data folders): raw HTML and
# entities, code spans, emphasis, links and images, and the cell separator of a table.
_MARKDOWN_ESCAPES = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "~": "\\~",
    "[": "\\[",
    "]": "\\]",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}


def markdown_text(text: object) -> str:
    """``text`` as literal Markdown on one line: no HTML, link, code or table cell boundary comes from it."""
    line = " ".join(str(text).splitlines())  # every line break Python knows, not only \n
    return "".join(_MARKDOWN_ESCAPES.get(character, character) for character in line)


def _markdown_section(section: Section) -> list[str]:
    """``## title``, its notes, then its table."""
    lines = [f"## {markdown_text(section.title)}", ""]
    for note in section.notes:
        lines += [markdown_text(note), ""]
    lines += ["| " + " | ".join(section.header) + " |", "|" + "---|" * len(section.header)]
    return lines + ["| " + " | ".join(markdown_text(cell) for cell in cells) + " |" for cells in section.rows] + [""]


def to_markdown(board: Board) -> str:
    """leaderboard.md: the board's notes, one table per ranked group, then the robustness tables; every name escaped."""
    lines = [f"# Leaderboard ({markdown_text(board.subtitle)})", ""]
    for note in board.notes:  # our own words, never a name: kept as written
        lines += [note, ""]
    for section in board.ranked + board.robustness:
        lines += _markdown_section(section)
    return "\n".join(lines)
