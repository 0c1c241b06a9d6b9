"""Sweep configuration: YAML → typed, frozen, validated objects (SPEC §3).

Precedence: ``--set key.path=value`` over the file over the defaults below. The schema is declared
once, in the dataclasses: each field's type, its choices (a ``Literal``) and its range (``Bounds`` in
``Annotated``), all enforced by one converter; the checks that span fields, registries or the disk are
the named ``_check_*`` functions below, and a data set's parameters are the library's to check
(:func:`denoiser.data.check_params`). Every problem (unknown key, wrong type, impossible value,
unregistered name, missing data path) raises :class:`ConfigError` with one line that names the key and
the valid choices, before any work starts.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
import os
import re
import reprlib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from denoiser.errors import DenoiserError
from denoiser.levels import LevelRange


class ConfigError(DenoiserError):
    """An invalid configuration; the message names the key."""


# What the tool reads: a config file of at most 1 MB whose tree, aliases expanded, has at most
# MAX_NODES values and MAX_DEPTH levels (a YAML alias bomb is small on disk and huge in memory).
MAX_CONFIG_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 32
MAX_COMBINATIONS = 256  # parameter combinations of one model in one sweep
MAX_CELLS = 10_000  # cells of one sweep: each is a record, a checkpoint and (learned) a training run
MAX_PARAMETERS = 1_000_000_000  # weights of one model: far beyond what a sweep here trains
MAX_NAME = 100  # characters of a name that becomes part of a file name (the sweep, a data set, a model)
MAX_SEED = 2**32 - 1  # seeds are offset (seed + 3, + the evaluation level's hash, + the image index) and fed to
# torch and NumPy generators, which take 64 and 32 bits: every seed stays a plain 32-bit one
MAX_LEARNING_RATE = 1e6  # far beyond any step Adam trains with; 1e300 is not even a float32
MAX_THREADS = 1024  # torch threads of one cell where the cores are not known here (a submitit task)
MAX_CELL_TIMEOUT = 7 * 24 * 3600.0  # seconds: a week
MAX_AUGMENT_COPIES = 100
MAX_TRAINING_IMAGES_BYTES = 4 << 30  # the training images in memory (float32, augmented copies included), per process
MAX_EVALUATION_IMAGES_BYTES = 2 << 30  # the evaluation sets' whole images in memory (float32), per process

_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 60, 60, 6, 6, 3


def _show(value: Any) -> str:
    """A user's value in an error message, cut short: never the whole of a huge or deep value."""
    return _SHORT.repr(value)


def check_tree(tree: Any, where: str) -> None:
    """Refuse a tree deeper than MAX_DEPTH or with more than MAX_NODES values once aliases are
    expanded; stops counting at the limit, so it is quick on any input."""
    stack, nodes = [(tree, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigError(f"{where}: more than {MAX_NODES:,} values (YAML aliases expanded); refused")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep; refused")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)


# ----------------------------------------------------------------------------- the schema's declarations


@dataclass(frozen=True)
class Bounds:
    """A number's range, declared on its field (``epochs: Annotated[int, Bounds(at_least=1)]``) and checked
    at load; on a list of numbers, each one's. NaN is outside every range."""

    at_least: float | None = None
    at_most: float | None = None
    above: float | None = None  # an exclusive lower bound
    below: float | None = None  # an exclusive upper bound
    note: str = ""  # said after the range: what 0 means, the unit

    def problem(self, value: float) -> str | None:
        """Why ``value`` is outside, in one phrase (``must be at least 1, got 0``); None when it is inside."""
        inside = (
            (self.at_least is None or value >= self.at_least)
            and (self.above is None or value > self.above)
            and (self.at_most is None or value <= self.at_most)
            and (self.below is None or value < self.below)
        )
        if inside:
            return None
        return f"must be {self._range()}{f' ({self.note})' if self.note else ''}, got {_show(value)}"

    def _range(self) -> str:
        low = self.at_least if self.above is None else self.above
        high = self.at_most if self.below is None else self.below
        if high is None:
            return f"greater than {_number(low)}" if self.above is not None else "≥ 0" if low == 0 else f"at least {_number(low)}"
        if low is None:
            return f"at most {_number(high)}"
        if self.above == 0 and self.below is None:
            return f"a positive number, at most {_number(high)}"
        return f"between {_number(low)} and {_number(high)}"


def _number(value: float | None) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class Noun:
    """What a ``Literal`` field's values are called in its error (``unknown split 'x'; valid: …``); default: choice."""

    word: str


Positive = Annotated[int, Bounds(at_least=1)]
NonNegative = Annotated[int, Bounds(at_least=0)]
SEED = Bounds(at_least=0, at_most=MAX_SEED)
Split = Literal["by-source", "augmented-copies"]  # denoiser.data.SPLITS (tests/test_schema.py holds them equal)
Selection = Literal["validation", "test"]
Executor = Literal["local", "submitit"]
Cluster = Literal["auto", "slurm", "local", "debug"]
SELECTIONS: tuple[str, ...] = typing.get_args(Selection)
EXECUTORS: tuple[str, ...] = typing.get_args(Executor)
CLUSTERS: tuple[str, ...] = typing.get_args(Cluster)


# ----------------------------------------------------------------------------- the schema


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "skimage-natural"  # a registered data set: skimage-natural, cifar10, folder
    name: str = ""  # the label in results and leaderboards; empty: the folder's name (folder), else the data set's
    params: dict[str, Any] = field(default_factory=dict)  # the data set's own parameters (path, limit, tiles, …)
    augment_copies: Annotated[int, Bounds(at_least=0, at_most=MAX_AUGMENT_COPIES)] = 0  # added per image (the design: 10)
    split: Annotated[Split, Noun("split")] = "by-source"  # augmented-copies: the design's leaky split
    # share of source images (or images, for augmented-copies) held out for testing
    test_fraction: Annotated[float, Bounds(above=0, below=1)] = 0.2
    validation_fraction: float = 0.1  # share held out (the same way) to choose the epoch on, below 1 − test_fraction;
    # 0 only with train.select_on: test
    seed: Annotated[int, SEED] = 0  # seeds the augmentation and the split

    @property
    def label(self) -> str:
        """How results and leaderboards name this data: ``name``, else a folder's own name, else the data set."""
        colour = " (colour)" if self.params.get("color") is True else ""  # every table says which
        if self.name:
            return self.name + colour
        path = self.params.get("path")
        if self.dataset == "folder" and isinstance(path, str) and Path(path).name:
            return Path(path).name + colour
        return self.dataset + colour


@dataclass(frozen=True)
class TrainConfig:
    epochs: Positive = 200  # the maximum number of epochs
    patience: NonNegative = 10  # epochs without a better validation loss before stopping; 0 never stops early
    batch_size: Positive = 64  # images per step
    learning_rate: Annotated[float, Bounds(above=0, at_most=MAX_LEARNING_RATE)] = 1e-3  # Adam's learning rate
    patch_size: NonNegative = 0  # > 0: train fully convolutional models on fresh random crops of this size each epoch
    patches_per_epoch: NonNegative = 0  # crops per epoch; 0: one per training image
    decay_epoch: NonNegative = 0  # > 0: the learning rate falls tenfold from this epoch on
    select_on: Selection = "validation"  # what early stopping and the best epoch are chosen on; test is
    # the founding design's choice, which scores a model on the images its epoch was chosen on


@dataclass(frozen=True)
class WholeImagesConfig:
    """An evaluation data set scored on whole images at their own sizes (the literature's protocol)."""

    dataset: str = "folder"  # folder or pairs (params: path, limit) or skimage-natural (params: limit)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationConfig:
    noise: dict[str, list[float]] = field(default_factory=dict)  # family → levels; empty: the training noise
    seed: Annotated[int, SEED] = 1000  # fixes the evaluation noise, so every model sees the same noisy images
    test_split: bool = True  # score the training data's test split (64×64 images); false: the datasets only
    # name → a data set scored on whole images, e.g. set12: {dataset: folder, params: {path: …/Set12}}
    datasets: dict[str, WholeImagesConfig] = field(default_factory=dict)
    tile_stride: Positive = 32  # a model with a fixed 64×64 input (the DAE) runs on windows this far apart, blended


@dataclass(frozen=True)
class SubmititConfig:
    """Where and how `--executor submitit` submits the cells (one Slurm job array)."""

    cluster: Annotated[Cluster, Noun("cluster")] = "auto"  # auto: Slurm when present, else local processes
    partition: str = ""  # Slurm partition; empty: the cluster's default
    timeout_min: Positive = 60  # time limit per task, minutes
    cpus_per_task: Positive = 2  # cores Slurm gives each task (its torch threads are `threads`, as for a local worker)
    gpus_per_node: NonNegative = 0  # GPUs per task
    mem_gb: Positive = 8  # memory per task, GB
    array_parallelism: Positive = 64  # tasks of the array running at once


@dataclass(frozen=True)
class SweepConfig:
    name: str = "sweep"  # names the results folder, results/<name>
    data: DataConfig = field(default_factory=DataConfig)
    # model name → parameters; a parameter given as a list is a sweep axis (for a tuple-valued
    # parameter such as `channels`, a list of lists is the axis)
    models: dict[str, dict[str, Any]] = field(default_factory=lambda: {"dae": {"latent_dim": [128]}})
    # family → training levels; a level may be a range, {min: 0, max: 55}: each training image draws its own
    # level from it, uniformly (blind training, as DnCNN-B)
    noise: dict[str, list[float | LevelRange]] = field(default_factory=lambda: {"gaussian": [0.1]})
    # family → its options, for training and evaluation alike, e.g. the literature's Gaussian noise:
    # gaussian: {clip: false, scale: 255} (levels on the 0–255 scale, N(0, σ²) not clipped)
    noise_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: Annotated[list[int], SEED] = field(default_factory=lambda: [0])  # one trained model per seed
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1, …, mps
    # parallel cells; 0: as many as the cores allow at `threads` each (`--workers` is held to the same bounds)
    workers: Annotated[int, Bounds(at_least=0, note="0 chooses from the CPU count")] = 0
    # torch threads of every cell; fixed, so a cell's numbers never depend on the worker layout (locally: at most the cores)
    threads: Annotated[int, Bounds(at_least=1, at_most=MAX_THREADS, note="locally: at most the cores here")] = 1
    plugins: list[str] = field(default_factory=list)  # modules imported first: they register outside models, baselines, …
    deterministic: bool = True  # CUDA: deterministic cuDNN and cuBLAS kernels (the CPU's are already); false for speed
    tf32: bool = False  # CUDA: TF32 matrix products and convolutions (faster, ~10 mantissa bits); false: full float32
    # seconds one cell may run before it is failed ("timed out after N s"); 0: no limit
    cell_timeout: Annotated[float, Bounds(at_least=0, at_most=MAX_CELL_TIMEOUT, note="seconds; 0: no limit")] = 0.0
    speed_reference: bool = False  # each worker also times the trainer against the founding design's loop, for `bench check`
    executor: Annotated[Executor, Noun("executor")] = "local"  # local (a process pool) or submitit (a Slurm job array)
    submitit: SubmititConfig = field(default_factory=SubmititConfig)

    def make_noise(self, family: str, level: float | LevelRange) -> Any:
        """The noise model of ``family`` at ``level`` (or drawn per image from a range) with the family's
        options from ``noise_options``."""
        from denoiser.noise import create_noise

        return create_noise(family, level, **self.noise_options.get(family, {}))

    @property
    def eval_noise(self) -> dict[str, list[float]]:
        """Evaluation families and levels: as configured, else every training family at its fixed training
        levels (a range is no level to score at: with one, the config names ``evaluation.noise``)."""
        if self.evaluation.noise:
            return self.evaluation.noise
        fixed = {
            family: [level for level in levels if not isinstance(level, LevelRange)] for family, levels in self.noise.items()
        }
        return {family: levels for family, levels in fixed.items() if levels}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- the converter: types, choices, bounds


def _type_name(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(argument) for argument in typing.get_args(kind))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(kind)[0])}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(kind):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", Any: "any value"}.get(kind, str(kind))


_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _convert(value: Any, kind: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``kind``, its declared choices (``Literal``) and bounds
    (``Annotated[…, Bounds(…)]``) included; returns it converted (e.g. int → float)."""
    declared: tuple[Any, ...] = ()
    if typing.get_origin(kind) is Annotated:
        kind, *extras = typing.get_args(kind)
        declared = tuple(extras)
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if isinstance(value, str) and value in choices:
            return value
        noun = next((item.word for item in declared if isinstance(item, Noun)), "choice")
        raise ConfigError(f"{key}: unknown {noun} {_show(value)}; valid: {', '.join(choices)}")
    converted = _convert_type(value, kind, key)
    for bounds in (item for item in declared if isinstance(item, Bounds)):
        for number in converted if isinstance(converted, list) else [converted]:
            problem = bounds.problem(number)
            if problem:
                raise ConfigError(f"{key}: {problem}")
    return converted


def _convert_type(value: Any, kind: Any, key: str) -> Any:
    """``value`` as the plain type ``kind``: a dataclass from a mapping, a list, a dict, a scalar."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _convert_union(value, typing.get_args(kind), key)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {_show(value)}")
        return _build(typing.cast(type, kind), value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected {_type_name(kind)}, got {_show(value)}")
        (item_kind,) = typing.get_args(kind)
        return [_convert(item, item_kind, f"{key}[{index}]") for index, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {_show(value)}")
        _, value_kind = typing.get_args(kind)
        return {str(name): _convert(item, value_kind, f"{key}.{name}") for name, item in value.items()}
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads 1e6 (no dot) as text
    if kind in (int, str, bool) and isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected {_type_name(kind)}, got {_show(value)}")


def _convert_union(value: Any, alternatives: tuple[Any, ...], key: str) -> Any:
    """``value`` as the first alternative it fits: a mapping builds the dataclass among them (a level
    range), anything else the first plain type that takes it."""
    for alternative in alternatives:
        if dataclasses.is_dataclass(alternative):
            if isinstance(value, Mapping):
                try:
                    return _build(typing.cast(type, alternative), value, key)
                except ConfigError:
                    raise
                except DenoiserError as error:
                    raise ConfigError(f"{key}: {error}") from None
            continue
        try:
            return _convert(value, alternative, key)
        except ConfigError:
            continue
    names = " or ".join("a mapping" if dataclasses.is_dataclass(item) else _type_name(item) for item in alternatives)
    raise ConfigError(f"{key}: expected {names}, got {_show(value)}")


def _build(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [item.name for item in dataclasses.fields(cls)]
    unknown = [name for name in values if name not in names]
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(f"unknown key {_show(where)}; valid: {', '.join(names)}")
    required = [
        item.name
        for item in dataclasses.fields(cls)
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING and item.name not in values
    ]
    if required:  # a level range without its max, …
        raise ConfigError(f"{prefix or 'config'}: missing key {_show(required[0])}; give {', '.join(names)}")
    converted = {name: _convert(value, hints[name], f"{prefix}.{name}" if prefix else name) for name, value in values.items()}
    return cls(**converted)


def check_option(option: str, key: str, value: float) -> None:
    """A command-line option that stands for the top-level key ``key`` (``--workers`` for ``workers``),
    held to the bounds the schema declares for it; the one-line error names the option."""
    kind = typing.get_type_hints(SweepConfig, include_extras=True)[key]
    for bounds in typing.get_args(kind)[1:] if typing.get_origin(kind) is Annotated else ():
        problem = bounds.problem(value) if isinstance(bounds, Bounds) else None
        if problem:
            raise ConfigError(f"{option} {problem}")


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


def load_config(path: Path | None, overrides: Sequence[str] = (), *, import_plugins: bool = True) -> SweepConfig:
    """Read, override, type-check and validate a sweep configuration.

    ``import_plugins=False`` for a config that is data, not the user's word on this run (a results
    folder's config.yaml): its ``plugins:`` are not imported, and a name only they register fails
    validation in one line that names them (see :func:`missing_plugins`)."""
    return config_from_tree(read_yaml(path) if path is not None else {}, overrides, import_plugins=import_plugins)


def missing_plugins(tree: dict[str, Any]) -> list[str]:
    """The modules a config's ``plugins:`` names that this process has not imported."""
    from denoiser.plugins import imported

    plugins = tree.get("plugins", [])
    names = [module for module in plugins if isinstance(module, str)] if isinstance(plugins, list) else []
    return [module for module in names if not imported(module)]


def config_from_tree(tree: dict[str, Any], overrides: Sequence[str] = (), *, import_plugins: bool = True) -> SweepConfig:
    """Override, type-check and validate a configuration given as a mapping (a parsed file, or the API's dict).

    The plugins it names (and the installed entry points) are imported first, so that the names
    they register are valid here; with ``import_plugins=False`` only those already imported count."""
    from denoiser.plugins import PluginError, load_plugins

    for text in overrides:
        keys, value = parse_override(text)
        _apply_override(tree, keys, value, text)
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


# ----------------------------------------------------------------------------- parameter axes


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


# ----------------------------------------------------------------------------- checks across fields, registries and the disk


def validate(config: SweepConfig) -> None:
    """Every check that needs no training and that no single field declares; raises ConfigError naming the
    first bad key. (A field's type, choices and bounds were checked as it was read.)"""
    for check in (
        _check_names,
        _check_seeds,
        _check_data,
        _check_validation_share,
        _check_models,
        _check_tiling,
        _check_threads,
        _check_noise,
        _check_sigma_modes,
        _check_evaluation,
        _check_patches,
        _check_device,
        _check_metrics,
        _check_cell_count,
    ):
        check(config)


def _check_cell_count(config: SweepConfig) -> None:
    """The grid's size, counted before it is built: parameter combinations × training levels × seeds per
    learned model, combinations per baseline (a list of a thousand seeds is short on disk, long to run)."""
    from denoiser.models import MODELS

    levels = sum(len(values) for values in config.noise.values())
    count = 1  # the noisy input
    for name, params in config.models.items():
        combinations = math.prod(len(value) if _is_axis(name, parameter, value) else 1 for parameter, value in params.items())
        count += combinations * (levels * len(config.seeds) if name in MODELS else 1)
    if count > MAX_CELLS:
        raise ConfigError(f"models × noise × seeds: {count:,} cells; at most {MAX_CELLS:,} in one sweep: split it into several")


def _check_metrics(config: SweepConfig) -> None:
    """Every registered metric (a plugin's too) scores two small batches as a metric must: one finite
    value per image. Refused here, not after every cell has trained."""
    import torch

    from denoiser.metrics import registered

    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 1, 16, 16, generator=generator)
    estimate = (clean + 0.1 * torch.rand(clean.shape, generator=generator)).clamp(0, 1)
    for metric in registered():
        try:
            values = metric(clean, estimate)
        except Exception as error:  # noqa: BLE001 - a plugin's metric failing is one line
            raise ConfigError(
                f"metric {metric.name!r} fails on two 16×16 images: {type(error).__name__}: {str(error)[:120]}"
            ) from None
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != (2,) or not torch.isfinite(values).all():
            shown = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise ConfigError(
                f"metric {metric.name!r} must return one finite value per image, a (2,) tensor for two "
                f"images; it returned {shown}"
            )


def check_name(key: str, name: str, *, empty: bool = False) -> None:
    """A name that labels results and becomes part of file names: one line of printable characters,
    not blank, at most MAX_NAME characters (``empty``: may be empty, meaning a default)."""
    if empty and name == "":
        return
    if not name.strip() or not name.isprintable():
        raise ConfigError(f"{key}: {_show(name)} must be one line of printable characters, not blank")
    if len(name.encode()) > MAX_NAME:  # it becomes part of file names
        raise ConfigError(f"{key}: {len(name.encode())} bytes (UTF-8); at most {MAX_NAME}, as it names files")


def _check_names(config: SweepConfig) -> None:
    if not config.name or any(character in config.name for character in "/\\") or config.name in (".", ".."):
        raise ConfigError(f"name: {_show(config.name)} must be a plain folder name (no slashes)")
    check_name("name", config.name)
    check_name("data.name", config.data.name, empty=True)


def _check_seeds(config: SweepConfig) -> None:
    """Each seed's range is declared on the field; here, that there is one, and none twice."""
    if not config.seeds:
        raise ConfigError("seeds: give at least one seed")
    if len(set(config.seeds)) != len(config.seeds):
        raise ConfigError(f"seeds: a seed is listed twice ({_show(config.seeds)})")


def _check_data(config: SweepConfig) -> None:
    from denoiser.data import DATASETS, check_params

    data = config.data
    if data.dataset not in DATASETS:
        raise ConfigError(f"data.dataset: unknown data set {_show(data.dataset)}; valid: {', '.join(DATASETS.names())}")
    try:
        check_params(data.dataset, data.params)
    except DenoiserError as error:  # its message starts with the parameter's name
        raise ConfigError(f"data.params.{error}") from None
    check_parameter_types("data.params", data.params, DATASETS.get(data.dataset).parameters)
    _check_data_size(data)


def _check_validation_share(config: SweepConfig) -> None:
    """The validation share is bounded by the test share, and needed unless the epoch is chosen on the test split."""
    data = config.data
    if not 0 <= data.validation_fraction < 1 - data.test_fraction:  # also NaN
        raise ConfigError(
            f"data.validation_fraction: must be between 0 and 1 − test_fraction "
            f"({1 - data.test_fraction:g}), got {data.validation_fraction}"
        )
    if config.train.select_on == "validation" and data.validation_fraction == 0:
        raise ConfigError(
            "data.validation_fraction: 0 leaves nothing to choose the epoch on; "
            "give a share, or set train.select_on: test (the founding design's leaky choice)"
        )


def _check_data_size(data: DataConfig) -> None:
    """The training images, augmented copies included, must fit in memory: known before loading for
    the shipped data sets (``expected_pixels``), refused here rather than killed by the kernel later."""
    from denoiser.data import expected_pixels

    try:
        pixels = expected_pixels(data.dataset, **data.params)
    except DenoiserError as error:
        raise ConfigError(f"data.params: {error}") from None
    if pixels is None:  # a plugin's data set: its own business
        return
    size = 4 * pixels * (1 + data.augment_copies)  # float32
    if size > MAX_TRAINING_IMAGES_BYTES:
        raise ConfigError(
            f"data: {data.dataset} with {_show(data.params)} and {data.augment_copies} augmented copies holds "
            f"{size / 2**30:.1f} GiB of images; at most {MAX_TRAINING_IMAGES_BYTES / 2**30:.0f} GiB: "
            "fewer tiles, copies or images (limit)"
        )


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


def _check_models(config: SweepConfig) -> None:
    from denoiser.baselines import BASELINES
    from denoiser.models import MODELS

    valid = ", ".join(MODELS.names() + BASELINES.names())
    if not config.models:
        raise ConfigError(f"models: name at least one model; valid: {valid}")
    for name, params in config.models.items():
        registry = MODELS if name in MODELS else BASELINES if name in BASELINES else None
        if registry is None:
            raise ConfigError(f"models: unknown model {_show(name)}; valid: {valid}")
        accepted = registry.get(name).parameters
        for parameter in params:
            if parameter not in accepted:
                choices = ", ".join(sorted(accepted)) or "none"
                raise ConfigError(f"models.{name}.{parameter}: {name} has no such parameter; valid: {choices}")
        count = math.prod(len(value) if _is_axis(name, parameter, value) else 1 for parameter, value in params.items())
        if count > MAX_COMBINATIONS:
            raise ConfigError(f"models.{name}: {count:,} combinations of its parameters; at most {MAX_COMBINATIONS} per model")
        for combination in expand_parameters(name, params):
            check_parameter_types(f"models.{name}", combination, accepted)
            if registry is MODELS:
                _check_builds(name, with_channels(name, combination, data_channels(config)))
            else:
                try:
                    BASELINES.create(name, **combination)
                except DenoiserError as error:
                    raise ConfigError(f"models.{name}: {error}") from None


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


def _check_builds(name: str, combination: dict[str, Any]) -> None:
    """Build the model once, without memory (torch's meta device): catches impossible values
    (latent 0, …) and sizes no machine could train, before any work."""
    from denoiser.models import create_model_shape

    try:
        model = create_model_shape(name, **combination)
    except DenoiserError as error:
        raise ConfigError(f"models.{name}: {error}") from None
    except (TypeError, ValueError, RuntimeError, OverflowError, MemoryError) as error:
        raise ConfigError(f"models.{name}: cannot build with {_show(combination)} ({str(error)[:120]})") from None
    parameters = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    if parameters == 0:
        raise ConfigError(
            f"models.{name}: {_show(combination)} has no trainable parameters; "
            "register a denoiser without weights as a baseline (register_baseline)"
        )
    if parameters > MAX_PARAMETERS:
        raise ConfigError(f"models.{name}: {_show(combination)} has {parameters:,} parameters; at most {MAX_PARAMETERS:,}")


def _check_tiling(config: SweepConfig) -> None:
    """A fixed-size model (the DAE) runs on windows ``tile_stride`` apart: a stride wider than the
    window would leave pixels no window covers."""
    from denoiser.models import MODELS, create_model_shape

    for name, params in config.models.items():
        if name not in MODELS:
            continue
        for combination in expand_parameters(name, params):
            size = getattr(create_model_shape(name, **combination), "image_size", None)
            if size is not None and config.evaluation.tile_stride > size:
                raise ConfigError(
                    f"evaluation.tile_stride: {config.evaluation.tile_stride} is wider than {name}'s "
                    f"{size}×{size} window: pixels between windows would get no estimate; at most {size}"
                )


def _check_threads(config: SweepConfig) -> None:
    """Locally, a cell's threads are at most the cores here (a submitit task's cores are Slurm's:
    the declared MAX_THREADS bounds them)."""
    cores = os.cpu_count() or 1
    if config.executor == "local" and config.threads > cores:
        raise ConfigError(f"threads: must be between 1 and {cores} (the {cores} cores here), got {config.threads}")


def _check_noise(config: SweepConfig) -> None:
    from denoiser.noise import NOISE

    for family, options in config.noise_options.items():
        if family not in NOISE:
            raise ConfigError(f"noise_options: unknown noise model {_show(family)}; valid: {', '.join(NOISE.names())}")
        accepted = [name for name in NOISE.get(family).parameters if name != "level"]
        for name in options:
            if name not in accepted:
                raise ConfigError(
                    f"noise_options.{family}.{name}: {family} has no such option; valid: {', '.join(accepted) or 'none'}"
                )
    _check_levels("noise", config.noise, config.noise_options)
    if config.evaluation.noise:
        _check_levels("evaluation.noise", config.evaluation.noise, config.noise_options)
    elif not config.eval_noise:
        raise ConfigError(
            "evaluation.noise: the training levels are all ranges, which are no level to score at; "
            "name the evaluation levels, e.g. evaluation: {noise: {gaussian: [15, 25, 50]}}"
        )


def _check_sigma_modes(config: SweepConfig) -> None:
    """A classical baseline told the σ (``sigma: oracle``, the default) cannot be told that of a family
    without one (jpeg): refused unless it is also run with ``sigma: estimated``, whose rows score it."""
    from denoiser.baselines import BASELINES

    without = [
        family for family, levels in config.eval_noise.items() if config.make_noise(family, levels[0]).equivalent_sigma is None
    ]
    if not without:
        return
    for name, params in config.models.items():
        if name not in BASELINES or "sigma" not in BASELINES.get(name).parameters:
            continue
        modes = {combination.get("sigma", "oracle") for combination in expand_parameters(name, params)}
        if modes == {"oracle"}:
            given = "oracle" if "sigma" in params else "oracle (the default)"
            raise ConfigError(
                f"models.{name}.sigma: {given} cannot tell {name} the σ of {without[0]} noise, which has none; "
                "give sigma: estimated, or [oracle, estimated] for both (the oracle rows then leave "
                f"{without[0]} out)"
            )


def _check_levels(key: str, levels: dict[str, list[Any]], options: dict[str, dict[str, Any]]) -> None:
    from denoiser.noise import NOISE, create_noise

    if not levels:
        raise ConfigError(f"{key}: name at least one noise family; valid: {', '.join(NOISE.names())}")
    for family, values in levels.items():
        if family not in NOISE:
            raise ConfigError(f"{key}: unknown noise model {_show(family)}; valid: {', '.join(NOISE.names())}")
        if not values:
            raise ConfigError(f"{key}.{family}: give at least one level")
        if len(set(values)) != len(values):
            raise ConfigError(f"{key}.{family}: a level is listed twice ({_show(values)})")
        for value in values:
            ends = (value.min, value.max) if isinstance(value, LevelRange) else (value,)
            if not all(math.isfinite(end) for end in ends):
                raise ConfigError(f"{key}.{family}: level {value} is not a finite number")
            try:  # a range: its ends, and a level drawn between them, are levels of the family
                create_noise(family, value, **options.get(family, {}))
            except DenoiserError as error:
                raise ConfigError(f"{key}.{family}: {error}") from None


def _check_evaluation(config: SweepConfig) -> None:
    from denoiser.data import NATIVE_DATASETS, check_params

    evaluation = config.evaluation
    if not evaluation.test_split and not evaluation.datasets:
        raise ConfigError("evaluation.test_split: false leaves nothing to score; name evaluation.datasets")
    for name, spec in evaluation.datasets.items():
        key = f"evaluation.datasets.{name}"
        check_name(key, name)
        if spec.dataset not in NATIVE_DATASETS:
            raise ConfigError(f"{key}.dataset: {_show(spec.dataset)} has no whole images; valid: {', '.join(NATIVE_DATASETS)}")
        try:
            check_params(spec.dataset, spec.params, whole=True)
        except DenoiserError as error:  # its message starts with the parameter's name
            raise ConfigError(f"{key}.params.{error}") from None
        if "color" in spec.params and spec.params["color"] != (data_channels(config) == 3):
            raise ConfigError(
                f"{key}.params.color: {_show(spec.params['color'])}, but the training data is "
                f"{'colour' if data_channels(config) == 3 else 'grayscale'}: the sets are read as it is"
            )
    _check_whole_images_size(evaluation, colour=data_channels(config) == 3)


def _check_whole_images_size(evaluation: EvaluationConfig, colour: bool = False) -> None:
    """The evaluation sets' whole images, all in memory in every process that runs cells: counted from
    the files' headers before any is decoded (a folder of a thousand 20-megapixel photographs); three
    values a pixel in a colour sweep, whose evaluation sets are read in colour."""
    from denoiser.data import expected_pair_pixels, expected_pixels

    pixels = 0
    for spec in evaluation.datasets.values():
        path = spec.params.get("path")
        color = colour or spec.params.get("color") is True
        if spec.dataset == "pairs" and isinstance(path, str):
            pixels += expected_pair_pixels(spec.params | {"color": color})  # clean and noisy both
        elif spec.dataset == "folder":
            pixels += expected_pixels("folder", mode="native", **(spec.params | {"color": color})) or 0
    if 4 * pixels > MAX_EVALUATION_IMAGES_BYTES:
        raise ConfigError(
            f"evaluation.datasets: {pixels / 1e6:,.0f} megapixels of whole images ({4 * pixels / 2**30:.1f} GiB "
            f"in memory); at most {MAX_EVALUATION_IMAGES_BYTES / 2**30:.0f} GiB: fewer images (limit) or smaller"
        )


def _check_patches(config: SweepConfig) -> None:
    """One epoch's crops are in memory at once."""
    train = config.train
    if 4 * train.patches_per_epoch * train.patch_size**2 > MAX_TRAINING_IMAGES_BYTES:
        raise ConfigError(
            f"train.patches_per_epoch: {train.patches_per_epoch:,} crops of {train.patch_size}² pixels hold more than "
            f"{MAX_TRAINING_IMAGES_BYTES / 2**30:.0f} GiB; fewer or smaller"
        )


def _check_device(config: SweepConfig) -> None:
    """A device torch names (auto, cpu, cuda, cuda:N, mps), and, for a local sweep, one present here
    (a submitit task runs elsewhere, maybe on a GPU this machine lacks)."""
    device = config.device
    if device != "auto" and (device.split(":")[0] not in ("cpu", "cuda", "mps") or not re.fullmatch(r"[a-z]+(:\d+)?", device)):
        raise ConfigError(f"device: unknown device {_show(device)}; valid: auto, cpu, cuda, cuda:N, mps")
    if config.executor != "local":
        return
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device: {device} asked for, but torch sees no CUDA device here; use auto or cpu")
        if index and int(index) >= count:
            raise ConfigError(f"device: {device} asked for, but torch sees {count} CUDA device(s) (cuda:0 … cuda:{count - 1})")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"device: {device} asked for, but MPS is not available here; use auto or cpu")
