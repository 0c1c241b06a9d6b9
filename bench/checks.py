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
from typing import Any

from bench.parameters import _is_axis, check_parameter_types, data_channels, expand_parameters, with_channels
from bench.schema import (
    MAX_CELLS,
    MAX_COMBINATIONS,
    MAX_EVALUATION_IMAGES_BYTES,
    MAX_PARAMETERS,
    MAX_TRAINING_IMAGES_BYTES,
    ConfigError,
    DataConfig,
    EvaluationConfig,
    SweepConfig,
    _show,
    check_name,
)
from denoiser.errors import DenoiserError
from denoiser.levels import LevelRange


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
        _check_precision,
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
    without one (jpeg): refused unless it is also run with ``sigma: estimated``, whose rows score it; nor
    does an ``estimator`` mean anything without ``sigma: estimated``."""
    from denoiser.baselines import BASELINES

    for name, params in config.models.items():  # an estimator without sigma: estimated would estimate nothing
        sigma = params.get("sigma", "oracle")
        if name in BASELINES and "estimator" in params and "estimated" not in (sigma if isinstance(sigma, list) else [sigma]):
            raise ConfigError(f"models.{name}.estimator: only sigma: estimated uses an estimator; give sigma: estimated")
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


def _check_precision(config: SweepConfig) -> None:
    """A mixed precision the device cannot run natively is refused (bf16 on a CPU without AVX-512 BF16 or AMX,
    fp16 on a CPU); checked where the cells run (a submitit task's device is not known here)."""
    if config.precision == "float32" or config.executor != "local":
        return

    from denoiser.precision import unsupported
    from denoiser.training import pick_device

    reason = unsupported(config.precision, pick_device(config.device))
    if reason is not None:
        raise ConfigError(f"precision: {reason}")


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
