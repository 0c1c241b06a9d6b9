"""(Re)write a sweep's leaderboard, plots and HTML report from its stored rows and records."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench import leaderboard, plots
from bench.store import ResultStore, write_text
from denoiser.errors import DenoiserError

logger = logging.getLogger(__name__)


class ReportError(DenoiserError):
    """A folder that holds no sweep results."""


NOTHING_RANKED = "# Leaderboard\n\nNothing to rank: no cell has finished with finite metrics.\n"


def write_report(root: Path) -> list[Path]:
    """leaderboard.md, plots/*.png and report.html for the sweep in ``root`` (its rows as
    :func:`bench.leaderboard.read_folder` reads them: an interrupted run's from its records); returns the files written.
    A figure whose rows and records have not changed since it was drawn is kept, not drawn again
    (:class:`FigureCache`).

    Everything in the folder is data: no code it names (a config's plugins, a checkpoint's module) is imported."""
    if not root.is_dir():
        raise ReportError(f"{root}: no such folder")
    rows = leaderboard.read_results([root])
    records = ResultStore(root).read_records(rows["cell_id"].unique())
    ranked = leaderboard.rank(rows) if not rows.empty else None
    robust = leaderboard.robustness(rows) if ranked is not None else None
    written = [root / "leaderboard.md"]  # replaced even when nothing is ranked: an older one would mislead
    write_text(written[0], leaderboard.to_markdown(ranked, "psnr", robust) if ranked is not None else NOTHING_RANKED)
    plot_folder = root / "plots"
    plot_folder.mkdir(exist_ok=True)
    cache = FigureCache(plot_folder)
    drawn = [figure for figure in _figures(root, rows, records, ranked, cache) if figure is not None]
    cache.save()
    written += drawn
    written.append(root / "report.html")
    write_text(written[-1], render_html(root, ranked, robust, drawn))
    return written


def _figures(root: Path, rows: pd.DataFrame, records: list, ranked: pd.DataFrame | None, cache: FigureCache) -> list[Path | None]:
    """Every figure of the report, each drawn through ``cache``: one set per data set scored (the first, the
    training data's test split, untagged), then the families side by side, estimated σ, losses and examples."""
    folder, figures = cache.folder, []
    datasets = list(dict.fromkeys(rows["dataset"]))
    for index, dataset in enumerate(datasets):
        subset, tag = rows[rows["dataset"] == dataset], "" if index == 0 else "_" + plots.slug(dataset)
        for family in sorted(subset["eval_noise"].dropna().unique()):
            scored = subset[(subset["eval_noise"] == family) | (subset["noise"] == family)]
            for plot in (plots.quality_vs_noise, plots.parameter_heatmap, plots.robustness_matrix):
                figures.append(cache.draw(f"{plot.__name__}:{family}{tag}", [scored], plot, scored, family, folder, tag))
            if ranked is not None:
                front = ranked[(ranked["dataset"] == dataset) & (ranked["eval_noise"] == family)]
                figures.append(cache.draw(f"quality_cost:{family}{tag}", [front], plots.quality_cost, front, family, folder, tag))
    first = rows[rows["dataset"] == datasets[0]] if datasets else rows
    real = rows[(rows["eval_noise"] == "real") & (rows["dataset"] != (datasets[0] if datasets else None))]
    synthetic = first[first["eval_noise"] != "real"]
    figures.append(cache.draw("family_matrix", [synthetic, real], plots.family_matrix, synthetic, folder, real))
    points = plots.sigma_points(records)
    for family, shown_points in points.groupby("family", sort=True):  # each figure digests its own family's points
        key, family = f"estimated_sigma:{family!s}", str(family)
        figures.append(cache.draw(key, [shown_points], plots.estimated_sigma, shown_points, family, folder))
    figures.append(cache.draw("loss_curves", [record.to_json() for record in records], plots.loss_curves, records, folder))
    shown = [column for column in ("cell_id", "eval_noise", "eval_level", "psnr") if column in rows.columns]
    learned = rows[rows["noise"].notna()][shown]  # what the example images show: the best cell at each level
    config_text = (root / "config.yaml").read_text(errors="replace") if (root / "config.yaml").is_file() else ""
    shown_digest = _digest([learned, config_text])
    examples = cache.cached("examples", shown_digest)
    if examples is None:  # checkpoints and images: loaded only when what they show has changed
        made = [plots.example_grid(grid, family, folder) for family, grid in _examples(root, rows).items()]
        examples = [path for path in made if path is not None]
        if examples:  # none drawn (no checkpoint, a plugin's model not imported): tried again next time
            cache.store("examples", shown_digest, examples)
    return figures + list(examples)


PLOT_NAME = re.compile(r"[A-Za-z0-9_.-]+\.png")  # what plots.slug and the plot names make: no separator, no ..


class FigureCache:
    """``plots/.drawn.json``: for each figure, the digest of the rows and records it was drawn from and its file.
    A figure whose inputs have the same digest, and whose file is still there, is not drawn again: a resume
    with nothing pending redraws nothing. The digest covers the package version, so new plotting code redraws."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.path = folder, folder / ".drawn.json"
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError, RecursionError):
            entries = {}
        self.entries: dict[str, Any] = entries if isinstance(entries, dict) else {}

    def cached(self, key: str, digest: str) -> list[Path] | None:
        """The files drawn for ``key`` from inputs of this :func:`_digest`, where all are still there; else None."""
        entry = self.entries.get(key)
        if not isinstance(entry, dict) or entry.get("digest") != digest or not isinstance(entry.get("files"), list):
            return None
        names = [str(name) for name in entry["files"]]
        if not all(PLOT_NAME.fullmatch(name) for name in names):  # the manifest is data: only plots/<name>.png, no path
            return None
        files = [self.folder / name for name in names]
        return files if all(file.is_file() for file in files) else None

    def store(self, key: str, digest: str, files: list[Path]) -> list[Path]:
        self.entries[key] = {"digest": digest, "files": [file.name for file in files]}
        return files

    def draw(self, key: str, inputs: list[Any], plot: Any, *arguments: Any) -> Path | None:
        """``plot(*arguments)``, unless it was drawn from the same ``inputs`` before; its file, or None."""
        inputs_digest = _digest(inputs)
        files = self.cached(key, inputs_digest)
        if files is None:
            figure = plot(*arguments)
            files = self.store(key, inputs_digest, [figure] if figure is not None else [])
        return files[0] if files else None

    def save(self) -> None:
        write_text(self.path, json.dumps(self.entries, indent=1, sort_keys=True))


def _digest(inputs: list[Any]) -> str:
    """One digest of frames (as CSV, every column) and texts, with the package version."""
    import hashlib

    import denoiser

    digest = hashlib.sha256(denoiser.__version__.encode())
    for item in inputs:
        text = item.to_csv(index=False) if isinstance(item, pd.DataFrame) else str(item)
        digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    return digest.hexdigest()


def _examples(root: Path, rows: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per noise family and level: one test image, its noisy version and the best learned model's estimate.

    Needs the checkpoints and the data set; returns nothing (and says why) when they are gone.
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
        config = load_config(root / "config.yaml", import_plugins=False)
        clean = prepare_data(config).test.images
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


def render_html(root: Path, ranked: pd.DataFrame | None, robust: pd.DataFrame | None, figures: list[Path]) -> str:
    """One self-contained page: every plot embedded as data, no network."""
    config_text = (root / "config.yaml").read_text(errors="replace") if (root / "config.yaml").is_file() else ""
    environment = _environment(root)
    parts = [f"<h1>denoise-bench: {html.escape(root.name)}</h1>"]
    if ranked is not None and ranked["leaky"].any():
        parts.append(
            '<p class="leaky">Entries marked [leaky] trained on augmented copies of their test images, or chose '
            "their epoch on them (split: augmented-copies, train.select_on: test): their scores are inflated.</p>"
        )
    parts.append("<h2>Leaderboard</h2><p>Ranked by PSNR; click a column to sort.</p>")
    if ranked is not None:
        parts.append(f"<p>{html.escape(leaderboard.uncertainty_note(ranked))}</p>")
        parts.append(f"<p>{html.escape(leaderboard.COST_NOTE)}</p>")
    if ranked is not None:
        for title, group in leaderboard.groups(ranked):
            notes = "".join(f"<p>{html.escape(note)}</p>" for note in leaderboard.group_notes(group))
            parts.append(
                f"<h3>{html.escape(title)}</h3>" + notes + _table(leaderboard.header(ranked), leaderboard.display_rows(group))
            )
    if robust is not None:
        for dataset, group in robust.groupby("dataset"):
            parts.append(
                f"<h3>Robustness · {html.escape(str(dataset))}</h3>"
                "<p>Mean PSNR over every evaluation noise and level, the worst one, and the drop to it from the PSNR at "
                "the model's own training level (blind: trained over a range of levels, so it has none). An entry "
                "scored on fewer evaluations (a baseline told σ skips jpeg) is listed after the ranked ones, unranked.</p>"
                + _table(leaderboard.ROBUSTNESS_HEADER, leaderboard.robustness_rows(group))
            )
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
