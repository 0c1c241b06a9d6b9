"""The config schema declares each field's choices (``Literal``) and range (``Bounds``) once; these tests are
parametrized over those declarations, so a field declared tomorrow is tested the day it is added."""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pytest

from bench.cli import build_parser
from bench.config import EXECUTORS, Bounds, ConfigError, Split, SweepConfig, check_option, load_config
from denoiser.data import SPLITS, check_params, load_native
from denoiser.errors import ConfigurationError


def declared(kind: Any = SweepConfig, prefix: str = "") -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """(key, plain type, declarations) of every leaf field of the schema."""
    for item in dataclasses.fields(kind):
        hint = typing.get_type_hints(kind, include_extras=True)[item.name]
        base, *extras = typing.get_args(hint) if typing.get_origin(hint) is Annotated else (hint,)
        if dataclasses.is_dataclass(base):
            yield from declared(base, f"{prefix}{item.name}.")
        else:
            yield f"{prefix}{item.name}", base, tuple(extras)


def outside(bounds: Bounds, kind: Any) -> list[float]:
    """Values just beyond each declared end of the range, and NaN for a number that may be a float."""
    values: list[float] = []
    if bounds.at_least is not None:
        values.append(bounds.at_least - 1)
    if bounds.above is not None:
        values.append(bounds.above)
    if bounds.at_most is not None:
        values.append(bounds.at_most + 1)
    if bounds.below is not None:
        values.append(bounds.below)
    return values + ([math.nan] if kind is float else [])


BOUNDED = [(key, kind, value) for key, kind, extras in declared() for bounds in extras if isinstance(bounds, Bounds)
           for value in outside(bounds, kind)]
CHOICES = [(key, typing.get_args(kind)) for key, kind, _ in declared() if typing.get_origin(kind) is Literal]


def test_the_schema_declares_bounds_and_choices() -> None:
    assert {"train.epochs", "workers", "data.test_fraction", "seeds", "cell_timeout"} <= {key for key, _, _ in BOUNDED}
    assert {key for key, _ in CHOICES} == {"data.split", "train.select_on", "executor", "submitit.cluster", "precision"}


def as_yaml(value: float, kind: Any) -> str:
    if typing.get_origin(kind) is list:  # a range on a list bounds each item
        return f"[{int(value)}]"
    return ".nan" if math.isnan(value) else str(int(value)) if kind is int else repr(float(value))


@pytest.mark.parametrize("key, kind, value", BOUNDED, ids=[f"{key}={value}" for key, _, value in BOUNDED])
def test_a_value_outside_its_declared_range_is_refused_naming_the_key(key: str, kind: Any, value: float) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [f"{key}={as_yaml(value, kind)}"])
    assert str(caught.value).startswith(f"{key}: must be "), str(caught.value)


@pytest.mark.parametrize("key, choices", CHOICES, ids=[key for key, _ in CHOICES])
def test_a_value_outside_its_declared_choices_is_refused_with_them(key: str, choices: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [f"{key}=nonsense"])
    message = str(caught.value)
    assert message.startswith(f"{key}: unknown ") and message.endswith(f"'nonsense'; valid: {', '.join(choices)}"), message


def test_the_split_choices_are_the_librarys() -> None:
    assert typing.get_args(Split) == SPLITS


def test_the_precision_choices_are_the_librarys() -> None:
    from bench.schema import Precision
    from denoiser.precision import PRECISIONS

    assert typing.get_args(Precision) == PRECISIONS


def test_the_executor_option_offers_the_schemas_choices() -> None:
    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    executor = next(action for action in commands.choices["sweep"]._actions if action.dest == "executor")
    assert tuple(executor.choices or ()) == EXECUTORS


def test_an_option_standing_for_a_key_is_held_to_its_bounds_and_named() -> None:
    check_option("--workers", "workers", 0)
    with pytest.raises(ConfigError, match=r"^--workers must be ≥ 0 \(0 chooses from the CPU count\), got -1$"):
        check_option("--workers", "workers", -1)


@pytest.mark.parametrize(
    "name, params, whole, message",
    [
        ("folder", {}, False, "path: the folder data set needs a path to a folder of images"),
        ("folder", {"path": "/no/where"}, False, "path: /no/where does not exist"),
        ("folder", {"path": 3}, False, "path: expected a string, got 3"),
        ("skimage-natural", {"colour": 1}, False, "colour: skimage-natural has no such parameter; valid: color, limit, tiles"),
        ("skimage-natural", {"limit": 0}, False, "limit: must be a positive integer, got 0"),
        ("skimage-natural", {"limit": True}, False, "limit: must be a positive integer, got True"),
        ("pairs", {}, True, "path: the pairs data set needs a path to a folder of images"),
        ("folder", {"path": "/no/where"}, True, "path: /no/where is not a folder"),
        ("skimage-natural", {"tiles": 2}, True, "tiles: no such parameter; valid: limit, color"),
    ],
)
def test_the_library_checks_a_data_sets_parameters_naming_the_parameter(name: str, params: dict[str, Any], whole: bool,
                                                                          message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_params(name, params, whole=whole)
    assert str(caught.value) == message


def test_parameters_the_library_accepts_pass() -> None:
    check_params("cifar10", {"path": "/no/where", "download": True, "limit": 5})  # a download creates the path
    check_params("skimage-natural", {"limit": 3}, whole=True)


def test_the_loaders_hold_limit_to_the_same_rule() -> None:
    with pytest.raises(ConfigurationError, match="limit: must be a positive integer, got 0"):
        load_native("skimage-natural", limit=0)
