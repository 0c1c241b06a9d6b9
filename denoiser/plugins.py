"""Plugins: modules that register models, baselines, data sets or noise models from outside the package.

They are named by a config's ``plugins:`` list, by ``--plugin MODULE`` on the command line, or by
an installed distribution's entry point in the group ``denoise_bench.plugins`` (``pip install
my-denoisers`` is enough). Every process that builds models imports them: the command line, each
pool worker and each submitit task.

Files are data: code is imported only from what the user names on this run. A checkpoint names the
module of its model and a results folder's config.yaml its plugins, but ``bench denoise`` and
``bench report`` never import them; they say which ``--plugin`` to pass instead.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from denoiser.errors import DenoiserError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "denoise_bench.plugins"

_loaded: set[str] = set()
_entry_points_loaded: list[bool] = []  # empty until the installed entry points have been imported


class PluginError(DenoiserError):
    """A plugin module that cannot be imported: names it and its error."""


def load_plugins(modules: Iterable[str] = ()) -> None:
    """Import the installed entry points' modules (found once per process), then ``modules``; each once."""
    if not _entry_points_loaded:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            _import(point.value.split(":")[0], f"entry point {point.name!r}")
        _entry_points_loaded.append(True)
    for module in modules:
        _import(module, "plugin")


def imported(module: str) -> bool:
    """Whether ``module`` has been imported as a plugin (or is already imported) in this process."""
    import sys

    return module in _loaded or module in sys.modules


def _import(module: str, what: str) -> None:
    if module in _loaded:
        return
    if not isinstance(module, str) or not module.strip():
        raise PluginError(f"{what} {str(module)[:60]!r}: a plugin is a module name, e.g. my_denoisers")
    try:
        importlib.import_module(module)
    except DenoiserError as error:  # e.g. a name registered twice
        raise PluginError(f"{what} {module}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any failure of a user's module is one line
        message = str(error).splitlines()[0] if str(error) else ""
        raise PluginError(f"{what} {module} failed to import: {type(error).__name__}: {message}"[:300]) from None
    _loaded.add(module)
    logger.debug("plugin %s imported", module)
