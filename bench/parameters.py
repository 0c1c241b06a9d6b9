"""A model's parameters as a sweep gives them: a list is an axis, expanded into combinations
(:func:`expand_parameters`); each value of the type of its factory's default
(:func:`check_parameter_types`); in colour, the data's channel count added (:func:`with_channels`).
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Mapping
from typing import Any

from bench.schema import ConfigError, SweepConfig, _show, _type_name


def _is_axis(model: str, parameter: str, value: Any) -> bool:
    """A list is an axis, except for a tuple-valued parameter (``channels``), where a list of lists is."""
    if not isinstance(value, list):
        return False
    from denoiser.baselines import BASELINES
    from denoiser.models import MODELS

    registry = MODELS if model in MODELS else BASELINES
    default = registry.get(model).parameters.get(parameter)
    if isinstance(default, tuple):
        return all(isinstance(item, list) for item in value)
    return True


def expand_parameters(model: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the axis parameters, e.g. {latent_dim: [32, 128]} → [{latent_dim: 32}, {latent_dim: 128}].
    A baseline's ``estimator`` is part only of its ``sigma: estimated`` variants: one told the σ estimates nothing,
    so ``{sigma: [oracle, estimated], estimator: [wavelet, weak-texture]}`` is three variants, not four."""
    names = sorted(params)
    choices = [params[name] if _is_axis(model, name, params[name]) else [params[name]] for name in names]
    combinations = []
    for combination in (dict(zip(names, values)) for values in itertools.product(*choices)):
        if "estimator" in combination and combination.get("sigma", "oracle") != "estimated":
            del combination["estimator"]
        if combination not in combinations:
            combinations.append(combination)
    return combinations


def check_parameter_types(where: str, params: Mapping[str, Any], accepted: Mapping[str, Any]) -> None:
    """Each parameter of the type of its factory's default: ``tiles`` an integer, ``weight_per_sigma``
    a finite number, … (a parameter whose default is None or required is the factory's to check)."""
    for name, value in params.items():
        default = accepted.get(name, inspect.Parameter.empty)
        kind = type(default)
        if default is None or default is inspect.Parameter.empty or kind not in (int, float, str, bool):
            continue
        if kind is float:
            fits = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            fits = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not fits:
            finite = " (finite)" if kind is float else ""
            raise ConfigError(f"{where}.{name}: expected {_type_name(kind)}{finite}, got {_show(value)}")


def data_channels(config: SweepConfig) -> int:
    """The channels of the sweep's images: 3 for a colour data set (``data.params.color: true``), else 1."""
    return 3 if config.data.params.get("color") is True else 1


def with_channels(name: str, combination: dict[str, Any], channels: int) -> dict[str, Any]:
    """A learned model's parameters with the data's channel count, in colour only (grayscale parameters,
    and so cell ids, stay as they were): ``image_channels`` for a factory that takes it (dae, dncnn), else
    ``channels`` (a plugin's). A factory that takes neither cannot take colour: one line, before any work."""
    if channels == 1:
        return combination
    from denoiser.models import MODELS

    accepted = MODELS.get(name).parameters
    key = "image_channels" if "image_channels" in accepted else "channels" if "channels" in accepted else None
    if key is None:
        raise ConfigError(
            f"models.{name}: cannot take colour images (its factory has no image_channels or channels "
            "parameter); use grayscale data, or give the factory a channels parameter"
        )
    if combination.get(key, channels) != channels:
        raise ConfigError(f"models.{name}.{key}: {_show(combination[key])}, but the data's images have {channels} channels")
    return combination | {key: channels}
