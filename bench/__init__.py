"""bench: the denoise-bench application (command line, config, sweep, results store, reports, regression gate).

For notebooks: ``bench.run(config, **overrides) -> pandas.DataFrame`` and ``bench.load_results(folder)``
(see bench/api.py). For plugins: ``@bench.register_plot(...)`` adds a figure to every report (see
bench/figures.py). They load on first use, so the command line starts without pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"load_results": "bench.api", "run": "bench.api", "register_plot": "bench.figures"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
