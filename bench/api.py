"""The Python API, for notebooks: run a sweep and get its rows as a DataFrame (the results frame of its
records, :mod:`bench.results`; results.csv is an export of it and is never read back).

import bench
table = bench.run("configs/ci.yaml", out="results/ci", **{"train.epochs": 3})
table = bench.load_results("results/ci")
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml


def run(
    config: str | Path | dict[str, Any],
    *,
    out: str | Path | None = None,
    workers: int = 0,
    fresh: bool = False,
    force: bool = False,
    plugins: Sequence[str] = (),
    quiet: bool = True,
    **overrides: Any,
) -> pd.DataFrame:
    """Run a sweep (resuming, as the command line does) and return its rows: one per cell and evaluation, the
    frame of its records, as :func:`load_results` reads them (``results.csv`` holds the same rows, less the per-image lists).

    ``config`` is a config file or a mapping of the same keys. ``overrides`` set keys by their dotted
    path, as ``--set`` does, with Python values: ``run("configs/ci.yaml", **{"train.epochs": 3})``, or
    with ``__`` for the dots: ``run(config, train__epochs=3)``. ``out`` defaults to ``results/<name>``.
    Bad input raises a :class:`denoiser.DenoiserError` with the same one-line message as the command line.
    """
    from rich.console import Console

    from bench.config import config_from_tree, read_yaml
    from bench.sweep import default_output, run_sweep
    from denoiser.plugins import load_plugins

    load_plugins(plugins)
    tree = copy.deepcopy(config) if isinstance(config, dict) else read_yaml(Path(config))
    texts = [
        f"{key.replace('__', '.')}={yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()}"
        for key, value in overrides.items()
    ]
    sweep = config_from_tree(tree, texts, plugins=plugins)
    root = Path(out) if out is not None else default_output(sweep)
    console = Console(file=io.StringIO()) if quiet else Console(stderr=True)
    outcome = run_sweep(sweep, root, workers=workers, fresh=fresh, force=force, console=console, live=not quiet)
    return outcome.results.frame


def load_results(folder: str | Path) -> pd.DataFrame:
    """The rows of a sweep (one per cell and evaluation, every status), as a DataFrame: the frame of the records
    of the sweep as last run, also when it was interrupted (:func:`bench.results.read_folder`, the rule of
    ``bench report``, ``leaderboard`` and ``check``); its ``results.csv`` is an export and is not read."""
    from bench.results import read_folder

    return read_folder(Path(folder)).frame
