"""The checks that span fields, registries or the disk (:func:`validate`), run once a config is built.

A field's own type, choices and bounds were checked as it was read (:mod:`bench.schema`); a data set's
parameters are the library's to check (:func:`denoiser.data.check_params`). Every problem raises
:class:`~bench.schema.ConfigError` with one line that names the key and the valid choices, before any work
starts.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any

from bench.schema import (
    MAX_CELLS,
    MAX_EVALUATION_IMAGES_BYTES,
    MAX_TRAINING_IMAGES_BYTES,
    ConfigError,
    DataConfig,
    EvaluationConfig,
    SweepConfig,
    _show,
    check_name,
)
from bench.variants import Variant, check_parameter_types, data_channels, method_entry, variants
from denoiser.errors import DenoiserError
from denoiser.levels import LevelRange
from denoiser.registry import name_problem

if TYPE_CHECKING:
    from denoiser.noise import NoiseModel


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
        _check_scorable,
        _check_evaluation,
        _check_patches,
        _check_device,
        _check_precision,
        _check_metrics,
        _check_cell_count,
    ):
        check(config)


def _check_cell_count(config: SweepConfig) -> None:
    """The grid's size, counted before it is built: training levels × seeds per learned variant, one cell per
    baseline variant (a list of a thousand seeds is short on disk, long to run)."""
    levels = sum(len(values) for values in config.noise.values())
    count = sum(levels * len(config.seeds) if variant.learned else 1 for variant in variants(config))
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


def _check_names(config: SweepConfig) -> None:
    """The sweep's name names its results folder; every name follows the library's one rule for names."""
    problem = name_problem(config.name) or ("must not be . or .." if config.name in (".", "..") else None)
    if problem is not None:
        raise ConfigError(f"name: {_show(config.name)} must be a plain folder name; it {problem}")
    check_name("data.name", config.data.name, empty=True)


def _check_seeds(config: SweepConfig) -> None:
    """Each seed's range is declared on the field; here, that there is one, and none twice."""
    if not config.seeds:
        raise ConfigError("seeds: give at least one seed")
    if len(set(config.seeds)) != len(config.seeds):
        raise ConfigError(f"seeds: a seed is listed twice ({_show(config.seeds)})")


def _check_data(config: SweepConfig) -> None:
    from denoiser.data import DATASETS, check_params, training_datasets

    data = config.data
    if data.dataset not in training_datasets():
        valid = ", ".join(training_datasets())
        if data.dataset in DATASETS:  # declared `train=False`: scored on whole images only (pairs)
            raise ConfigError(f"data.dataset: {_show(data.dataset)} is scored only, in evaluation.datasets; valid: {valid}")
        raise ConfigError(f"data.dataset: unknown data set {_show(data.dataset)}; valid: {valid}")
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
    the data sets that declare their size (``expected_pixels``), refused here rather than killed by the kernel later."""
    from denoiser.data import expected_pixels

    try:
        pixels = expected_pixels(data.dataset, **data.params)
    except DenoiserError as error:
        raise ConfigError(f"data.params: {error}") from None
    if pixels is None:  # a data set that does not declare its size: its own business
        return
    size = 4 * pixels * (1 + data.augment_copies)  # float32
    if size > MAX_TRAINING_IMAGES_BYTES:
        raise ConfigError(
            f"data: {data.dataset} with {_show(data.params)} and {data.augment_copies} augmented copies holds "
            f"{size / 2**30:.1f} GiB of images; at most {MAX_TRAINING_IMAGES_BYTES / 2**30:.0f} GiB: "
            "fewer tiles, copies or images (limit)"
        )


def _check_models(config: SweepConfig) -> None:
    """Every model and baseline known, its parameters accepted and of their types, each learned variant
    buildable at a trainable size: the plan of variants refuses any other (:func:`bench.variants.variants`)."""
    variants(config)


def _check_tiling(config: SweepConfig) -> None:
    """A fixed-size model (the DAE) runs on windows ``tile_stride`` apart: a stride wider than the
    window would leave pixels no window covers."""
    stride = config.evaluation.tile_stride
    for variant in variants(config):
        size = variant.image_size
        if size is not None and stride > size:
            raise ConfigError(
                f"evaluation.tile_stride: {stride} is wider than {variant.model}'s "
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


def _check_scorable(config: SweepConfig) -> None:
    """Each model scores every evaluation family with one variant at least: a method says itself what it
    cannot score (:meth:`denoiser.interface.Denoiser.skip`: a baseline told the σ, ``sigma: oracle``, skips a
    family without one, jpeg, which its ``sigma: estimated`` variants score). A reason that starts with one
    of the method's parameters (``sigma: …``) is keyed to it, ``models.<name>.sigma``."""
    plan = variants(config)
    for family, levels in config.eval_noise.items():
        noise = config.make_noise(family, levels[0])
        for name in config.models:
            group = [variant for variant in plan if variant.model == name]
            reasons = [_skip(variant, noise) for variant in group]
            if all(reason is not None for reason in reasons):
                parameter, colon, rest = str(reasons[0]).partition(": ")
                keyed = colon and parameter in method_entry(name)[0].parameters
                raise ConfigError(f"models.{name}.{parameter}: {rest}" if keyed else f"models.{name}: {reasons[0]}")


def _skip(variant: Variant, noise: NoiseModel) -> str | None:
    """The variant's own word on ``noise``; a plugin's ``skip`` that fails is one line."""
    try:
        return variant.skip(noise)
    except Exception as error:  # noqa: BLE001 - whatever a plugin raises
        raise ConfigError(
            f"models.{variant.model}: its skip fails on {noise.family} noise ({type(error).__name__}: {str(error)[:120]})"
        ) from None


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
    from denoiser.data import check_params, whole_datasets, whole_kind

    evaluation = config.evaluation
    if not evaluation.test_split and not evaluation.datasets:
        raise ConfigError("evaluation.test_split: false leaves nothing to score; name evaluation.datasets")
    for name, spec in evaluation.datasets.items():
        key = f"evaluation.datasets.{name}"
        check_name(key, name)
        if whole_kind(spec.dataset) is None:
            valid = ", ".join(whole_datasets())
            raise ConfigError(f"{key}.dataset: {_show(spec.dataset)} has no whole images; valid: {valid}")
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
    values a pixel in a colour sweep, whose evaluation sets are read in colour; each set's count is the one
    its data set declares (``pixels``: clean and noisy both, for pairs)."""
    from denoiser.data import expected_whole_pixels

    pixels = 0
    for name, spec in evaluation.datasets.items():
        color = colour or spec.params.get("color") is True
        try:
            pixels += expected_whole_pixels(spec.dataset, spec.params | {"color": color}) or 0
        except DenoiserError as error:
            raise ConfigError(f"evaluation.datasets.{name}.params: {error}") from None
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


def _check_precision(config: SweepConfig) -> None:
    """A mixed precision the device cannot run natively is refused (bf16 on a CPU without AVX-512 BF16 or AMX,
    fp16 on a CPU); checked where the cells run (a submitit task's device is not known here)."""
    if config.precision == "float32" or config.executor != "local":
        return

    from denoiser.devices import pick_device
    from denoiser.precision import unsupported

    reason = unsupported(config.precision, pick_device(config.device))
    if reason is not None:
        raise ConfigError(f"precision: {reason}")


def _check_device(config: SweepConfig) -> None:
    """A device torch names (auto, cpu, cuda, cuda:N, mps), and, for a local sweep, one present here
    (a submitit task runs elsewhere, maybe on a GPU this machine lacks)."""
    device = config.device
    named = re.fullmatch(r"[a-z]+(:(0|[1-9]\d*))?", device)  # cuda:00 is no device torch names
    if device != "auto" and (device.split(":")[0] not in ("cpu", "cuda", "mps") or not named):
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
