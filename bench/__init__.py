"""bench: the denoise-bench application (command line, config, sweep, results store, reports, regression gate).

For notebooks: ``bench.run(config, **overrides) -> pandas.DataFrame`` and ``bench.load_results(folder)``
(see bench/api.py). They load on first use, so the command line starts without pandas.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_results", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
