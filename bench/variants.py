"""The plan of a sweep's methods: every model and baseline of ``models:`` expanded into its parameter
variants once (:func:`variants`), each with what the checks, the grid and the sweep ask of it: whether it
is learned, its shape on torch's meta device (built once, without memory), its fixed input size. This is
the one place where a name is looked up as a learned model or a classical baseline (:func:`method_entry`).

A model's parameters as a sweep gives them: a list is an axis, expanded into combinations
(:func:`expand_parameters`); each value of the type of its factory's default (:func:`check_parameter_types`);
in colour, the data's channel count added (:func:`with_channels`).
"""

from __future__ import annotations

import inspect
import itertools
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.schema import MAX_COMBINATIONS, MAX_PARAMETERS, ConfigError, SweepConfig, _show, _type_name
from denoiser.errors import DenoiserError

if TYPE_CHECKING:
    from torch import nn

    from denoiser.baselines import Baseline
    from denoiser.noise import NoiseModel
    from denoiser.registry import Entry


@dataclass(frozen=True, eq=False)
class Variant:
    """One parameter combination of one model or baseline, as its cells run it."""

    model: str
    params: dict[str, Any]  # as the cells get them: a learned model's with the data's channels, in colour
    learned: bool
    shape: nn.Module | None = None  # a learned model built on the meta device: its size, its layers, no memory
    baseline: Baseline | None = None  # a classical method itself

    @property
    def image_size(self) -> int | None:
        """The fixed input size of a model that has one (the DAE), else None."""
        return getattr(self.shape, "image_size", None)

    def skip(self, noise: NoiseModel) -> str | None:
        """Why it cannot score ``noise`` (a baseline told the σ of a family without one), or None: the method's
        own word (:meth:`denoiser.interface.Denoiser.skip`; a plugin's model may define ``skip`` too)."""
        from denoiser.interface import skip_reason

        return skip_reason(self.baseline if self.baseline is not None else self.shape, noise)


_PLANS: dict[int, list[Variant]] = {}  # id(config) → its plan, dropped with the config (a config is immutable)


def variants(config: SweepConfig) -> list[Variant]:
    """Every variant of the sweep, in the order of ``models:`` after the noisy input, each learned one built
    on the meta device once per config however often the plan is asked for. Raises :class:`ConfigError`,
    naming the key, for an unknown name or parameter, too many combinations, a value of the wrong type, or
    a model that cannot be built or has no (or too many) trainable parameters."""
    plan = _PLANS.get(id(config))
    if plan is None:
        plan = _plan(config)
        _PLANS[id(config)] = plan
        weakref.finalize(config, _PLANS.pop, id(config), None)
    return plan


def _plan(config: SweepConfig) -> list[Variant]:
    if not config.models:
        raise ConfigError(f"models: name at least one model; valid: {', '.join(_valid_names())}")
    plan = []
    models: dict[str, dict[str, Any]] = {"noisy": {}} | config.models  # the noisy input always, first
    for name, params in models.items():
        entry, learned = method_entry(name)
        combinations = _combinations(name, params, entry)
        if learned:
            plan += [_learned(name, with_channels(name, combination, data_channels(config))) for combination in combinations]
        else:
            plan += [Variant(name, combination, False, baseline=_baseline(name, combination)) for combination in combinations]
    return plan


def _valid_names() -> list[str]:
    from denoiser.baselines import BASELINES
    from denoiser.models import MODELS

    return MODELS.names() + BASELINES.names()


def method_entry(name: str) -> tuple[Entry[Any], bool]:
    """The registered factory of ``name`` and whether it is learned (a model) or not (a classical baseline);
    an unknown name refused with the valid ones."""
    from denoiser.baselines import BASELINES
    from denoiser.models import MODELS

    if name in MODELS:
        return MODELS.get(name), True
    if name in BASELINES:
        return BASELINES.get(name), False
    raise ConfigError(f"models: unknown model {_show(name)}; valid: {', '.join(_valid_names())}")


def _combinations(name: str, params: dict[str, Any], entry: Entry[Any]) -> list[dict[str, Any]]:
    """``params`` checked against the factory and expanded into its combinations, each type-checked."""
    accepted = entry.parameters
    for parameter in params:
        if parameter not in accepted:
            choices = ", ".join(sorted(accepted)) or "none"
            raise ConfigError(f"models.{name}.{parameter}: {name} has no such parameter; valid: {choices}")
    count = math.prod(len(value) if _is_axis(accepted, parameter, value) else 1 for parameter, value in params.items())
    if count > MAX_COMBINATIONS:
        raise ConfigError(f"models.{name}: {count:,} combinations of its parameters; at most {MAX_COMBINATIONS} per model")
    for parameter, value in params.items():
        if value == [] and _is_axis(accepted, parameter, value):
            raise ConfigError(f"models.{name}.{parameter}: an empty list leaves {name} no variant to run; give a value")
    combinations = _expand(accepted, params)
    if "estimator" in params and not any(combination.get("sigma") == "estimated" for combination in combinations):
        raise ConfigError(f"models.{name}.estimator: only sigma: estimated uses an estimator; give sigma: estimated")
    for combination in combinations:
        check_parameter_types(f"models.{name}", combination, accepted)
    return combinations


def _baseline(name: str, combination: dict[str, Any]) -> Baseline:
    from denoiser.baselines import create_baseline

    try:
        return create_baseline(name, **combination)
    except DenoiserError as error:
        raise ConfigError(f"models.{name}: {error}") from None


def _learned(name: str, combination: dict[str, Any]) -> Variant:
    """The variant of a learned model, built once on the meta device: catches impossible values (latent 0, …)
    and sizes no machine could train, before any work."""
    from denoiser.models import create_model_shape

    try:
        shape = create_model_shape(name, **combination)
    except DenoiserError as error:
        raise ConfigError(f"models.{name}: {error}") from None
    except (TypeError, ValueError, RuntimeError, OverflowError, MemoryError) as error:
        raise ConfigError(f"models.{name}: cannot build with {_show(combination)} ({str(error)[:120]})") from None
    parameters = sum(parameter.numel() for parameter in shape.parameters() if parameter.requires_grad)
    if parameters == 0:
        raise ConfigError(
            f"models.{name}: {_show(combination)} has no trainable parameters; "
            "register a denoiser without weights as a baseline (register_baseline)"
        )
    if parameters > MAX_PARAMETERS:
        raise ConfigError(f"models.{name}: {_show(combination)} has {parameters:,} parameters; at most {MAX_PARAMETERS:,}")
    return Variant(name, combination, True, shape=shape)


# ----------------------------------------------------------------------------- parameters


def _is_axis(accepted: Mapping[str, Any], parameter: str, value: Any) -> bool:
    """A list is an axis, except for a tuple-valued parameter (``channels``), where a list of lists is."""
    if not isinstance(value, list):
        return False
    if isinstance(accepted.get(parameter), tuple):
        return all(isinstance(item, list) for item in value)
    return True


def expand_parameters(model: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the axis parameters, e.g. {latent_dim: [32, 128]} → [{latent_dim: 32}, {latent_dim: 128}].
    A baseline's ``estimator`` is part only of its ``sigma: estimated`` variants: one told the σ estimates nothing,
    so ``{sigma: [oracle, estimated], estimator: [wavelet, weak-texture]}`` is three variants, not four."""
    return _expand(method_entry(model)[0].parameters, params)


def _expand(accepted: Mapping[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    names = sorted(params)
    choices = [params[name] if _is_axis(accepted, name, params[name]) else [params[name]] for name in names]
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
    accepted = method_entry(name)[0].parameters
    key = "image_channels" if "image_channels" in accepted else "channels" if "channels" in accepted else None
    if key is None:
        raise ConfigError(
            f"models.{name}: cannot take colour images (its factory has no image_channels or channels "
            "parameter); use grayscale data, or give the factory a channels parameter"
        )
    if combination.get(key, channels) != channels:
        raise ConfigError(f"models.{name}.{key}: {_show(combination[key])}, but the data's images have {channels} channels")
    return combination | {key: channels}
