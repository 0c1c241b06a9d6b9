"""The report's figures: a registry by name, with which each figure function says what it is drawn from
(:func:`register_plot`), and the drawing of every registered figure through a cache of its inputs
(:func:`draw_figures`, :class:`FigureCache`).

The built-in figures are :mod:`bench.plots`'; a plugin module (a config's ``plugins:``, ``--plugin``) registers
its own with the same decorator, ``bench.register_plot``, and its figure appears in report.html with no other
edit. This module imports neither matplotlib nor pandas, so that a plugin importing it in every worker pays
for neither; :func:`save` and :func:`slug` are there for a figure's file.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.store import write_atomically, write_text
from denoiser.errors import ConfigurationError
from denoiser.registry import Entry, Registry

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from bench.record import CellRecord

logger = logging.getLogger(__name__)

PLOTS: Registry[Path | None] = Registry("plot")
EACH = ("family", "sweep")  # drawn once per data set and noise family scored, or once
DATA = ("rows", "ranked", "records")  # what a figure is drawn from
_REGISTERED = itertools.count()  # the report shows figures in the order they were registered: the built-ins first


@dataclass(frozen=True)
class ReportInputs:
    """What the report draws from: the rankable rows (:func:`bench.ranking.rankable`), their ranking
    (None when nothing is ranked) and the records of those rows' cells."""

    rows: pd.DataFrame
    ranked: pd.DataFrame | None
    records: list[CellRecord]


Parts = Callable[[ReportInputs], Iterable[tuple[str, list[Any], tuple[Any, ...]]]]


def register_plot(
    name: str | None = None, *, each: str = "family", data: str = "rows", parts: Parts | None = None
) -> Callable[[Callable[..., Path | None]], Callable[..., Path | None]]:
    """Decorator: a figure of the report, called ``name`` (default: the function's name), drawn from ``data``:

    - ``each="family"``: once per evaluation data set and noise family scored, as ``draw(table, family, out, tag)``;
      ``table`` is that data set's rows evaluated or trained on ``family`` (``data="rows"``) or its ranked entries
      evaluated on it (``data="ranked"``, none drawn when nothing is ranked), and ``tag`` goes into the file name:
      ``""`` for the first data set (the training data's test split), ``_<slug of the data set>`` for the others;
    - ``each="sweep"``: once, as ``draw(table, out)``: every row, the ranked table or the records (``data="records"``);
    - ``parts``: a function of the :class:`ReportInputs` yielding ``(key, inputs, arguments)`` for each figure to
      draw as ``draw(*arguments, out)`` (:func:`bench.plots.estimated_sigma`: one per family of estimated σ).

    ``draw`` writes one PNG into the folder ``out`` (:func:`save`; name it after the figure, with :func:`slug`
    of any name in it) and returns its path, or None when it has nothing to draw. A figure is drawn again only
    when its inputs change (:class:`FigureCache`)."""
    if each not in EACH or data not in DATA or (each == "family" and data == "records"):
        raise ConfigurationError(f"register_plot: each must be one of {', '.join(EACH)} and data one of rows, ranked "
                                 f"(and records, once per sweep), got each={each!r}, data={data!r}")  # fmt: skip

    def decorate(draw: Callable[..., Path | None]) -> Callable[..., Path | None]:
        return PLOTS.register(name or draw.__name__, each=each, data=data, parts=parts, order=next(_REGISTERED))(draw)

    return decorate


def draw_figures(inputs: ReportInputs, cache: FigureCache) -> list[Path]:
    """Every registered figure, each drawn through ``cache``: first, for each data set scored (the training
    data's test split first) and each noise family, the per-family figures; then the others; each in the order
    the figures were registered."""
    drawn = []
    plots = sorted(PLOTS, key=lambda plot: plot.metadata["order"])
    per_family = [plot for plot in plots if plot.metadata["each"] == "family" and plot.metadata["parts"] is None]
    datasets = list(dict.fromkeys(inputs.rows["dataset"]))
    for index, dataset in enumerate(datasets):
        subset, tag = inputs.rows[inputs.rows["dataset"] == dataset], "" if index == 0 else "_" + slug(dataset)
        for family in sorted(subset["eval_noise"].dropna().unique()):
            for plot in per_family:
                if plot.metadata["data"] == "rows":
                    table = subset[(subset["eval_noise"] == family) | (subset["noise"] == family)]
                elif inputs.ranked is not None:
                    table = inputs.ranked[(inputs.ranked["dataset"] == dataset) & (inputs.ranked["eval_noise"] == family)]
                else:
                    continue
                drawn.append(_draw(cache, plot, f"{plot.name}:{family}{tag}", [table], (table, family, cache.folder, tag)))
    for plot in plots:
        if plot not in per_family:
            for key, digested, arguments in _parts(plot, inputs):
                drawn.append(_draw(cache, plot, key, digested, (*arguments, cache.folder)))
    return [path for path in drawn if path is not None]


def _parts(plot: Entry[Path | None], inputs: ReportInputs) -> Iterable[tuple[str, list[Any], tuple[Any, ...]]]:
    """(cache key, what its digest covers, the arguments before ``out``) of each figure of a plot drawn once or in parts."""
    if plot.metadata["parts"] is not None:
        for key, digested, arguments in plot.metadata["parts"](inputs):
            yield f"{plot.name}:{key}", digested, arguments
    elif plot.metadata["data"] == "records":
        yield plot.name, [record.to_json() for record in inputs.records], (inputs.records,)
    elif plot.metadata["data"] == "rows":
        yield plot.name, [inputs.rows], (inputs.rows,)
    elif inputs.ranked is not None:
        yield plot.name, [inputs.ranked], (inputs.ranked,)


def _draw(cache: FigureCache, plot: Entry[Path | None], key: str, digested: list[Any], arguments: tuple) -> Path | None:
    """One figure through the cache; a plugin's figure that fails is left out with a warning, the report goes on."""
    try:
        return cache.draw(key, digested, plot.factory, *arguments)
    except Exception as error:
        if plot.module.startswith("bench."):
            raise
        logger.warning("figure %s (%s) left out: %s: %s", key, plot.origin, type(error).__name__, error)
        return None


PLOT_NAME = re.compile(r"[A-Za-z0-9_.-]+\.png")  # what slug and the plot names make: no separator, no ..


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
        """The files drawn for ``key`` from inputs of this :func:`digest`, where all are still there; else None."""
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

    def draw(self, key: str, inputs: list[Any], plot: Callable[..., Path | None], *arguments: Any) -> Path | None:
        """``plot(*arguments)``, unless it was drawn from the same ``inputs`` before; its file, or None."""
        inputs_digest = digest(inputs)
        files = self.cached(key, inputs_digest)
        if files is None:
            figure = plot(*arguments)
            files = self.store(key, inputs_digest, [figure] if figure is not None else [])
        return files[0] if files else None

    def save(self) -> None:
        write_text(self.path, json.dumps(self.entries, indent=1, sort_keys=True))


def digest(inputs: list[Any]) -> str:
    """One digest of frames (as CSV, every column) and texts, with the package version."""
    import denoiser

    hashed = hashlib.sha256(denoiser.__version__.encode())
    for item in inputs:
        text = item.to_csv(index=False) if hasattr(item, "to_csv") else str(item)
        hashed.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    return hashed.hexdigest()


# ----------------------------------------------------------------------------- a figure's file

SLUG_LENGTH = 60  # characters of a name kept readable in a file name
DPI = 110
MAX_PIXELS = 4000  # no figure is taller or wider than this, whatever the grid: its resolution is lowered instead


def slug(name: object) -> str:
    """``name`` (a noise family, a data set) as part of a file name, one to one: a name of lower-case
    letters, digits and hyphens as it is; any other readable, followed by a dot and a short hash of the
    whole name (``a b`` → ``a-b.1c5e…``), so that no two names share a file, even where case does not count."""
    text = str(name)
    readable = "".join(
        character if (character.isascii() and character.isalnum()) or character == "-" else "-" for character in text.lower()
    )[:SLUG_LENGTH]
    if readable == text:  # never holds a dot: no hashed slug looks like it
        return text
    return f"{readable}.{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def save(figure: Figure, path: Path) -> Path:
    """Write a matplotlib figure as a PNG at ``path``, at most :data:`MAX_PIXELS` a side, and close it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    width, height = figure.get_size_inches()
    dpi = min(DPI, MAX_PIXELS / height, MAX_PIXELS / width)  # a huge grid is drawn smaller, never beyond MAX_PIXELS
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    write_atomically(path, buffer.getvalue())  # a full disk leaves no half-written plot
    return path
