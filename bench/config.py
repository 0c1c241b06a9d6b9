"""Sweep configuration: YAML → typed, frozen, validated objects (SPEC §3).

Precedence: ``--set key.path=value`` over the file over the schema's defaults. This module reads the YAML
(safely: a key given twice, a file too large or a tree too deep is refused), applies the overrides, imports
the plugins the config names, then builds the config (:mod:`bench.schema`: the dataclasses and their
converter; :mod:`bench.variants`: the plan of a sweep's model variants) and validates it (:mod:`bench.checks`: the
checks that span fields, registries or the disk). Every problem raises :class:`ConfigError` with one line
that names the key and the valid choices, before any work starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench.checks import validate
from bench.schema import (
    EXECUTORS,
    MAX_CONFIG_BYTES,
    Bounds,
    ConfigError,
    DataConfig,
    Split,
    SweepConfig,
    _build,
    _show,
    check_option,
    check_tree,
)

# Besides what this module uses, these imports re-export the names the rest of the application (and the
# tests) import from bench.config, where they lived before the schema, the checks and the parameter axes
# became modules of their own: see __all__.
from bench.variants import data_channels, expand_parameters

__all__ = [
    # this module's own
    "config_from_tree",
    "dump_config",
    "load_config",
    "missing_plugins",
    "parse_override",
    "read_yaml",
    "safe_load",
    # re-exported from bench.schema and bench.variants
    "EXECUTORS",
    "Bounds",
    "ConfigError",
    "DataConfig",
    "Split",
    "SweepConfig",
    "check_option",
    "data_channels",
    "expand_parameters",
]


# ----------------------------------------------------------------------------- reading


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=value`` → (["a", "b"], value parsed as YAML)."""
    key, equals, raw = text.partition("=")
    if not equals or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"--set {_show(text)}: expected key.path=value, e.g. train.epochs=3")
    try:
        value = safe_load(raw) if raw.strip() else ""
    except RecursionError:
        raise ConfigError(f"--set {_show(text)}: nested too deeply to read") from None
    except yaml.YAMLError as error:
        reason = str(error).splitlines()[0]
        raise ConfigError(f"--set {_show(text)}: the value is not valid YAML ({reason[:120]})") from None
    check_tree(value, f"--set {_show(text)}")
    return key.strip().split("."), value


def _apply_override(tree: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {_show(text)}: {_show(part)} is not a mapping")
        node = child
    node[path[-1]] = value


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (YAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base loader says so
                break
            if duplicate:
                raise ConfigError(
                    f"key {_show(key)} appears twice in one mapping (line {key_node.start_mark.line + 1}); "
                    "YAML would keep only the last"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def safe_load(text: str) -> Any:
    """YAML with the safe loader, a key given twice in one mapping refused."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (safe loader); errors name the file."""
    try:
        if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; not a config")
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({error.__class__.__name__})") from None
    try:
        tree = safe_load(text)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if tree is None:
        return {}
    check_tree(tree, str(path))
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top, got {type(tree).__name__}")
    return tree


def load_config(
    path: Path | None, overrides: Sequence[str] = (), *, import_plugins: bool = True, plugins: Sequence[str] = ()
) -> SweepConfig:
    """Read, override, type-check and validate a sweep configuration; ``plugins`` (``--plugin``) join its list.

    ``import_plugins=False`` for a config that is data, not the user's word on this run (a results
    folder's config.yaml): its ``plugins:`` are not imported, and a name only they register fails
    validation in one line that names them (see :func:`missing_plugins`)."""
    tree = read_yaml(path) if path is not None else {}
    return config_from_tree(tree, overrides, import_plugins=import_plugins, plugins=plugins)


def missing_plugins(tree: dict[str, Any]) -> list[str]:
    """The modules a config's ``plugins:`` names that this process has not imported."""
    from denoiser.plugins import imported

    plugins = tree.get("plugins", [])
    names = [module for module in plugins if isinstance(module, str)] if isinstance(plugins, list) else []
    return [module for module in names if not imported(module)]


def config_from_tree(
    tree: dict[str, Any], overrides: Sequence[str] = (), *, import_plugins: bool = True, plugins: Sequence[str] = ()
) -> SweepConfig:
    """Override, type-check and validate a configuration given as a mapping (a parsed file, or the API's dict).
    ``plugins`` (``--plugin``, the API's ``plugins=``) join the config's own ``plugins:``, so that every worker and
    submitit task imports them too.

    The plugins it names (and the installed entry points) are imported first, so that the names
    they register are valid here; with ``import_plugins=False`` only those already imported count."""
    from denoiser.plugins import PluginError, load_plugins

    for text in overrides:
        keys, value = parse_override(text)
        _apply_override(tree, keys, value, text)
    named = tree.get("plugins", [])
    if plugins and isinstance(named, list):  # anything but a list: the build below refuses it
        tree["plugins"] = list(dict.fromkeys([*named, *plugins]))
    if not import_plugins:
        missing = missing_plugins(tree)
        try:
            config = _build(SweepConfig, tree)
            validate(config)
        except ConfigError as error:
            if missing:  # the hint first: the error after it may be long (a list of valid names)
                flags = " ".join(f"--plugin {module}" for module in missing)
                raise ConfigError(
                    f"this config names plugins, not imported here (pass {flags} if you trust them): {error}"
                ) from None
            raise
        return config
    plugins = tree.get("plugins", [])  # anything but a list of names: the build below says so
    try:
        load_plugins([module for module in plugins if isinstance(module, str)] if isinstance(plugins, list) else [])
    except PluginError as error:
        raise ConfigError(f"plugins: {error}") from None
    config = _build(SweepConfig, tree)
    validate(config)
    return config


def dump_config(config: SweepConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
