"""The sweep configuration's schema (SPEC §3): its dataclasses and the converter that builds them.

The schema is declared once, in the dataclasses: each field's type, its choices (a ``Literal``) and its
range (``Bounds`` in ``Annotated``), all enforced by one converter (:func:`_build`). Here too: the limits
on what a sweep may ask (``MAX_*``), the form of a name that becomes part of file names
(:func:`check_name`), and :class:`ConfigError`, whose one line names the key and the valid choices.
Elsewhere: reading the YAML and the ``--set`` overrides (:mod:`bench.config`), the checks that span
fields, registries or the disk (:mod:`bench.checks`), the plan of a sweep's model variants and their
parameter axes (:mod:`bench.variants`).
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from denoiser.errors import DenoiserError
from denoiser.levels import LevelRange
from denoiser.registry import name_problem


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
MAX_SEED = 2**32 - 1  # seeds are offset (seed + 3, + the evaluation level's hash, + the image index) and fed to
# torch and NumPy generators, which take 64 and 32 bits: every seed stays a plain 32-bit one
MAX_LEARNING_RATE = 1e6  # far beyond any step Adam trains with; 1e300 is not even a float32
MAX_THREADS = 1024  # torch threads of one cell where the cores are not known here (a submitit task)
MAX_CELL_TIMEOUT = 7 * 24 * 3600.0  # seconds: a week
MAX_AUGMENT_COPIES = 100
MAX_TRAINING_IMAGES_BYTES = 4 << 30  # the training images in memory (float32, augmented copies included), per process
MAX_EVALUATION_IMAGES_BYTES = 2 << 30  # the evaluation sets' whole images in memory (float32), per process

# after the name of colour data (the training data's label, an evaluation set's): every table says which
COLOUR_MARK = " (colour)"

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


def check_name(key: str, name: str, *, empty: bool = False) -> None:
    """A name that labels results and becomes part of file names, by the library's one rule
    (:func:`denoiser.registry.name_problem`); ``empty``: may be empty, meaning a default."""
    if empty and name == "":
        return
    problem = name_problem(name)
    if problem is not None:
        raise ConfigError(f"{key}: {_show(name)} {problem}")


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
Precision = Literal["float32", "bf16-mixed", "fp16-mixed"]  # denoiser.precision.PRECISIONS
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
        colour = COLOUR_MARK if self.params.get("color") is True else ""
        if self.name:
            return self.name + colour
        path = self.params.get("path")
        if isinstance(path, str) and Path(path).name and self._named_by_path():
            return Path(path).name + colour
        return self.dataset + colour

    def _named_by_path(self) -> bool:
        """Whether the data set declares that results name it after its ``path`` (``folder``)."""
        from denoiser.data import DATASETS

        return self.dataset in DATASETS and DATASETS.get(self.dataset).metadata.get("named_by_path") is True


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

    dataset: str = "folder"  # folder (path, limit, include), pairs (those, clean, noisy, layout) or skimage-natural (limit)
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
    # training's numeric precision: float32, or mixed (autocast, float32 master weights); scoring stays float32
    precision: Annotated[Precision, Noun("precision")] = "float32"
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
