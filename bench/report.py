"""(Re)write a sweep's leaderboard, plots and HTML report from its records: leaderboard.md (the Markdown view of
the board, :mod:`bench.leaderboard`), every registered figure (:mod:`bench.figures`) and report.html, whose
tables are the HTML view of the same board (:func:`board_html`)."""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from bench import plots, ranking
from bench.figures import FigureCache, ReportInputs, digest, draw_figures
from bench.leaderboard import NOTHING_RANKED, to_markdown
from bench.notes import LEAKY_NOTE, NOTHING_TO_RANK
from bench.results import Results, read_folder
from bench.store import ResultStore, write_text
from bench.tables import Board, Section, build_board
from denoiser.errors import DenoiserError

if TYPE_CHECKING:
    from bench.config import SweepConfig
    from bench.sweep_data import SweepData

logger = logging.getLogger(__name__)


class ReportError(DenoiserError):
    """A folder that holds no sweep results."""


def write_report(
    root: Path, results: Results | None = None, *, config: SweepConfig | None = None, data: SweepData | None = None
) -> list[Path]:
    """leaderboard.md, plots/*.png and report.html for the sweep in ``root``; returns the files written.

    A sweep hands over what it holds: its ``results`` (records and frame), its ``config`` and its ``data`` (the
    example images are drawn on ``data.test``). Called alone (``bench report``), it reads each of them itself:
    the folder with :func:`bench.results.read_folder` (an interrupted run's from its records), and config.yaml
    and the data set only where the example images need them. A figure whose rows and records have not changed
    since it was drawn is kept, not drawn again (:class:`bench.figures.FigureCache`).

    Everything in the folder is data: no code it names (a config's plugins, a checkpoint's module) is imported."""
    if not root.is_dir():
        raise ReportError(f"{root}: no such folder")
    results = results if results is not None else read_folder(root)
    rows = ranking.rankable(results.frame)
    kept = set(rows["cell_id"])
    inputs = ReportInputs(
        rows, ranking.rank(rows) if not rows.empty else None, [record for record in results.records if record.cell_id in kept]
    )
    board = build_board(inputs.ranked, "psnr", ranking.robustness(rows)) if inputs.ranked is not None else None
    written = [root / "leaderboard.md"]  # replaced even when nothing is ranked: an older one would mislead
    write_text(written[0], to_markdown(board) if board is not None else NOTHING_RANKED)
    config_text = _config_text(root, config)
    plot_folder = root / "plots"
    plot_folder.mkdir(exist_ok=True)
    cache = FigureCache(plot_folder)
    drawn = draw_figures(inputs, cache) + _example_figures(root, rows, cache, config, config_text, data)
    cache.save()
    written += drawn
    written.append(root / "report.html")
    write_text(written[-1], render_html(root, board, drawn, config_text))
    return written


def _config_text(root: Path, config: SweepConfig | None) -> str:
    """The sweep's config as YAML: the one given (as the sweep wrote it to config.yaml), else the folder's file."""
    if config is not None:
        from bench.config import dump_config

        return dump_config(config)
    return (root / "config.yaml").read_text(errors="replace") if (root / "config.yaml").is_file() else ""


def _example_figures(
    root: Path, rows: pd.DataFrame, cache: FigureCache, config: SweepConfig | None, config_text: str, data: SweepData | None
) -> list[Path]:
    """The example images (original, noisy, denoised) of each family: drawn again only when what they show has changed."""
    shown = [column for column in ("cell_id", "eval_noise", "eval_level", "psnr") if column in rows.columns]
    learned = rows[rows["noise"].notna()][shown]  # what the example images show: the best cell at each level
    shown_digest = digest([learned, config_text])
    examples = cache.cached("examples", shown_digest)
    if examples is None:  # checkpoints and images: loaded only when what they show has changed
        made = [plots.example_grid(grid, family, cache.folder) for family, grid in _examples(root, rows, config, data).items()]
        examples = [path for path in made if path is not None]
        if examples:  # none drawn (no checkpoint, a plugin's model not imported): tried again next time
            cache.store("examples", shown_digest, examples)
    return list(examples)


def _examples(
    root: Path, rows: pd.DataFrame, config: SweepConfig | None, data: SweepData | None
) -> dict[str, list[dict[str, Any]]]:
    """Per noise family and level: one test image, its noisy version and the best learned model's estimate.

    Needs the checkpoints, the config and the data set (read from the folder where not given); returns nothing
    (and says why) when they are gone.
    """
    from bench.checkpoints import load_checkpoint
    from bench.config import load_config
    from bench.sweep_data import prepare_data

    learned = rows[rows["noise"].notna()]
    if learned.empty:
        return {}
    store = ResultStore(root)
    examples: dict[str, list[dict[str, Any]]] = {}
    try:
        # the folder's config is data: its plugins are not imported (a name only they register fails in one line)
        config = config if config is not None else load_config(root / "config.yaml", import_plugins=False)
        clean = (data if data is not None else prepare_data(config)).test.images
        shown = {family: plots.spread(sorted(levels), plots.MAX_LEVEL_PANELS) for family, levels in config.eval_noise.items()}
        for (family, level), group in learned.groupby(["eval_noise", "eval_level"]):
            if family not in shown or level not in shown[family]:  # real pairs: nothing to draw; levels beyond the spread
                continue
            best = group.sort_values("psnr", ascending=False).iloc[0]
            path = store.checkpoint_path(best["cell_id"])
            if not path.is_file():
                raise DenoiserError(f"no checkpoint {path}")
            noise = config.make_noise(str(family), float(level))  # type: ignore[arg-type]  # a groupby key: a number
            example = _example(load_checkpoint(path), clean, noise, config)
            examples.setdefault(str(family), []).append(example | {"name": str(best["entry"]).split(" (")[0]})
    except DenoiserError as error:
        logger.info("example images skipped: %s", error)
        return {}
    return examples


def _example(model: Any, clean: torch.Tensor, noise: Any, config: Any) -> dict[str, Any]:
    """The first test image, noisy as in evaluation (the test split's draw), and the model's estimate, with their PSNRs."""
    from denoiser import metrics
    from denoiser.evaluation import add_noise, evaluation_seed
    from denoiser.inference import denoise_whole

    noisy = add_noise(clean, noise, evaluation_seed(config.evaluation.seed, noise))[:1]
    clean = clean[:1]
    denoised = denoise_whole(model, noisy, config.evaluation.tile_stride)
    return {
        "level": float(noise.level),
        "clean": _picture(clean),
        "noisy": _picture(noisy),
        "denoised": _picture(denoised),
        "psnr": metrics.psnr(clean, denoised).item(),
        "psnr_noisy": metrics.psnr(clean, noisy).item(),
    }


def _picture(batch: torch.Tensor) -> Any:
    """The first image of a (B, C, H, W) batch as a picture shows it: (H, W) grayscale or (H, W, 3) colour,
    clipped to [0, 1] (unclipped noise leaves the noisy image outside it)."""
    image = batch[0].detach().cpu().clamp(0, 1)
    return (image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)).numpy()


SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (header, index) {
  header.addEventListener('click', function () {
    var table = header.closest('table'), body = table.tBodies[0];
    var column = Array.prototype.indexOf.call(header.parentNode.children, header);
    var ascending = header.dataset.order !== 'asc';
    header.dataset.order = ascending ? 'asc' : 'desc';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].textContent, y = b.cells[column].textContent;
      var u = parseFloat(x), v = parseFloat(y);
      var order = (isNaN(u) || isNaN(v)) ? x.localeCompare(y) : u - v;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; cursor: pointer; }
td:nth-child(2) { text-align: left; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.leaky { background: #fff3cd; padding: 0.5em 1em; }
"""


def _table(headers: list[str], rows: list[list[str]], sortable: bool = True) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for title in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{"sortable" if sortable else ""}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _environment(root: Path) -> dict[str, Any]:
    """env.json as a mapping; empty (and said in the log) when it is missing or not one."""
    try:
        environment = json.loads((root / "env.json").read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as error:
        logger.info("environment left out of the report: %s: %s", root / "env.json", type(error).__name__)
        return {}
    return environment if isinstance(environment, dict) else {}


LEAKY_CLASS = ' class="leaky"'  # the [leaky] note stands out: those scores are not comparable


def board_html(board: Board | None) -> str:
    """The HTML view of the leaderboard: the board's notes, then each ranked and robustness table with its notes."""
    if board is None:
        return f"<h2>Leaderboard</h2><p>{html.escape(NOTHING_TO_RANK)}</p>"
    subtitle = board.subtitle[:1].upper() + board.subtitle[1:]
    parts = [f"<h2>Leaderboard</h2><p>{html.escape(subtitle)}; click a column to sort.</p>"]
    parts += [f"<p{LEAKY_CLASS * (note == LEAKY_NOTE)}>{html.escape(note)}</p>" for note in board.notes]
    parts += [_section_html(section) for section in board.ranked + board.robustness]
    return "\n".join(parts)


def _section_html(section: Section) -> str:
    notes = "".join(f"<p>{html.escape(note)}</p>" for note in section.notes)
    return f"<h3>{html.escape(section.title)}</h3>" + notes + _table(section.header, section.rows)


def render_html(root: Path, board: Board | None, figures: list[Path], config_text: str) -> str:
    """One self-contained page: the leaderboard, every plot embedded as data, the config and the environment; no network."""
    environment = _environment(root)
    parts = [f"<h1>denoise-bench: {html.escape(root.name)}</h1>", board_html(board)]
    parts.append("<h2>Plots</h2>")
    for figure in figures:
        encoded = base64.b64encode(figure.read_bytes()).decode()
        parts.append(
            f"<h3>{html.escape(figure.stem.replace('_', ' '))}</h3>"
            f'<img alt="{html.escape(figure.stem)}" src="data:image/png;base64,{encoded}">'
        )
    parts.append("<h2>Configuration</h2><pre>" + html.escape(config_text) + "</pre>")
    flat = {str(key): json.dumps(value) if isinstance(value, dict) else str(value) for key, value in environment.items()}
    parts.append("<h2>Environment</h2>" + _table(["key", "value"], [[key, value] for key, value in flat.items()], sortable=False))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>denoise-bench: {html.escape(root.name)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(parts)
        + f"<script>{SORT_SCRIPT}</script></body></html>"
    )
