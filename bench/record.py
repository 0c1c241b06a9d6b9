"""The record of one cell: a typed dataclass built in one place (``bench.cell``) and read by the
store, the regression gate, the leaderboard, the progress display and the plots.

The cell's label and the predicate "evaluated at its training level" live here, once.
Records are stored as JSON (``runs/<cell-id>.json``); :meth:`CellRecord.from_dict` refuses
anything that is not a record, so a damaged file is recomputed rather than misread.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from denoiser.errors import DenoiserError
from denoiser.evaluation import Evaluation, MetricScores
from denoiser.levels import LevelRange, level_text, read_level

__all__ = ["CellRecord", "Evaluation", "MetricScores", "RecordError", "describe", "non_finite", "same_level"]

STATUSES = ("ok", "failed", "skipped")
_LEVEL_TOLERANCE = 1e-9


class RecordError(DenoiserError):
    """A stored record that cannot be read as one."""


def same_level(first: float | LevelRange | None, second: float | LevelRange | None) -> bool:
    """Whether two noise levels are the same level (they come from YAML floats and JSON round trips);
    a range is the same only as an equal range."""
    if first is None or second is None:
        return False
    if isinstance(first, LevelRange) or isinstance(second, LevelRange):
        return first == second
    return abs(first - second) <= _LEVEL_TOLERANCE * max(1.0, abs(first), abs(second))


def non_finite(evaluations: list[Evaluation]) -> str | None:
    """The first metric that is not a finite number, in words; None when every one is finite. Such a
    number ranks nowhere and averages to NaN: its cell is failed, not ``ok`` (e.g. a NaN in one pixel)."""
    for item in evaluations:
        for metric, scores in item.metrics.items():
            values = {
                metric.upper(): [scores.mean],
                f"the noisy input's {metric.upper()}": [] if scores.noisy is None else [scores.noisy],
                f"per-image {metric.upper()}": scores.per_image,
            }
            for name, numbers in values.items():
                bad = next((value for value in numbers if not math.isfinite(value)), None)
                if bad is not None:
                    where = f" on {item.dataset}" if item.dataset else ""
                    return f"{name} is {bad} at {item.name}{where}: not a finite number"
    return None


def format_params(params: dict[str, Any]) -> str:
    """``latent_dim=32 width=8``, sorted by name; empty for none."""
    return " ".join(f"{name}={value}" for name, value in sorted(params.items()))


def describe(
    model: str,
    params: dict[str, Any],
    noise: str | None = None,
    train_level: float | LevelRange | None = None,
    seed: int | None = None,
) -> str:
    """The one label of a cell or a leaderboard entry, e.g. ``dae latent_dim=32 (trained gaussian 0.1)``,
    ``dncnn (trained gaussian 0–55)`` for a blind model trained over a range."""
    label = " ".join(part for part in (model, format_params(params)) if part)
    if noise is not None and train_level is not None:
        label += f" (trained {noise} {level_text(train_level)})"
    if seed is not None:
        label += f" seed {seed}"
    return label


@dataclass
class CellRecord:
    """Everything known about one cell once it has run (or failed)."""

    cell_id: str
    sweep: str
    model: str
    params: dict[str, Any]
    learned: bool
    dataset: str  # the data set's label (its config name, or the folder's name)
    split: str
    noise: str | None  # training noise; None for classical baselines
    train_level: float | LevelRange | None  # a range: blind, each training image drew its level from it
    seed: int | None
    status: str = "ok"  # ok, failed or skipped (an optional package missing)
    error: str | None = None
    device: str | None = None
    threads: int | None = None  # torch threads the cell ran with: fixed by the config, never by the layout
    deterministic: bool | None = None  # deterministic kernels were required (config `deterministic`)
    tf32: bool | None = None  # CUDA matrix products and convolutions in TF32 (config `tf32`); None on the CPU
    precision: str | None = None  # training's numeric precision (config `precision`); None for a classical baseline
    inference_precision: str | None = None  # what scoring and the inference timing ran in: always float32
    n_train: int | None = None
    n_validation: int | None = None
    n_test: int | None = None
    selected_on: str | None = None  # what chose the epoch: validation, or test (the founding design's, leaky)
    train_protocol: str | None = None  # exactly what the training noise was
    patch_size: int | None = None  # trained on fresh random crops of this size each epoch
    n_parameters: int | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    stopped_early: bool | None = None
    # training had finished: the validation loss improved by < 1 % over the last 3 epochs (denoiser.training.converged)
    converged: bool | None = None
    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    train_seconds: float | None = None  # wall time of the training: steps, validation losses, best weights kept
    train_images_per_s: float | None = None  # training images per second of the steps alone
    reference_images_per_s: float | None = None  # the design's loop in the same worker (speed_reference: true)
    reference_trainer_images_per_s: float | None = None
    speed_ratio: float | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    eval_seconds: float | None = None
    # inference: median ms per megapixel of warmed, synchronised runs on the timing image (denoiser.cost), each run's ms
    ms_per_megapixel: float | None = None
    inference_runs_ms: list[float] = field(default_factory=list)
    peak_memory_mb: float | None = None  # CUDA: max allocated; CPU: the rise of the process's resident memory
    seconds: float = 0.0
    finished_at: str | None = None
    code: dict[str, str] = field(default_factory=dict)  # the code behind it: piece → version (bench.grid.code_versions)
    setting_id: str | None = None  # its id without the code: finds the record of the same cell under older code

    # ------------------------------------------------------------------ what it says

    @property
    def leaky(self) -> bool:
        """Trained on the design's split over augmented copies (its test images leaked into training),
        or its epoch chosen on the test images: either way its test scores are inflated."""
        return self.learned and (self.split == "augmented-copies" or self.selected_on == "test")

    def label(self, seed: bool = False) -> str:
        return describe(
            self.model,
            self.params,
            self.noise if self.learned else None,
            self.train_level,
            self.seed if seed and self.learned else None,
        )

    def is_matched(self, evaluation: Evaluation) -> bool:
        """Evaluated at its own training noise and level (never true for a classical baseline)."""
        return (
            self.learned
            and evaluation.noise == self.noise
            and same_level(evaluation.level, self.train_level)
            and (evaluation.protocol is None or self.train_protocol is None or evaluation.protocol == self.train_protocol)
        )

    def matched(self) -> Evaluation | None:
        return next((item for item in self.evaluations if self.is_matched(item)), None)

    @property
    def blind(self) -> bool:
        """Trained over a range of levels (each image drew its own), so matched to none of them."""
        return isinstance(self.train_level, LevelRange)

    def robustness(self) -> dict[str, Any]:
        """On the first data set scored (the training data's test split, unless it is off): mean PSNR
        over every evaluation, the worst one, and for a learned model the drop in dB from its matched
        level to each other evaluation; a blind model has no matched level: it says ``blind`` instead."""
        if not self.evaluations:
            return {}
        first = self.evaluations[0].dataset
        evaluations = [item for item in self.evaluations if item.dataset == first]
        worst = min(evaluations, key=lambda item: item.psnr)
        summary: dict[str, Any] = {
            "mean_psnr_all_levels": sum(item.psnr for item in evaluations) / len(evaluations),
            "worst_psnr": worst.psnr,
            "worst_eval": worst.name,
        }
        if self.blind:
            summary["blind"] = f"trained over {self.noise} {level_text(self.train_level)}"  # type: ignore[arg-type]
        matched = next((item for item in evaluations if self.is_matched(item)), None)
        if matched is not None:
            summary["matched_psnr"] = matched.psnr
            summary["drops"] = {item.name: matched.psnr - item.psnr for item in evaluations}
        return summary

    def evaluation_key(self, evaluation: Evaluation) -> str:
        """``gaussian 0.1`` on the training data, ``set12 · gaussian 25`` on another data set: unique in a record."""
        own = evaluation.dataset in (None, self.dataset)
        return evaluation.name if own else f"{evaluation.dataset} · {evaluation.name}"

    # ------------------------------------------------------------------ flat rows (results.csv)

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per evaluation (noise, level), or one row without metrics for a cell that did not run."""
        summary = self.robustness()
        base = self._cell_columns(summary)
        if not self.evaluations:
            return [base]
        drops = summary.get("drops", {})
        first = self.evaluations[0].dataset
        return [
            base
            | {"dataset": item.dataset or self.dataset, "tiled": item.tiled}
            | {
                "eval_noise": item.noise,
                "eval_level": item.level,
                "matched": self.is_matched(item),
                "delta_psnr": item.delta_psnr,
                "n_images": item.n_images,
                "noise_protocol": item.protocol,
                "noise_key": None if item.protocol_key is None else json.dumps(item.protocol_key, sort_keys=True),
                "psnr_drop_from_matched": drops.get(item.name) if item.dataset == first else None,
            }
            | metric_columns(item)
            for item in self.evaluations
        ]

    def _cell_columns(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The columns every row of this cell shares: its identity, training, cost, and robustness ``summary``."""
        return {
            "sweep": self.sweep,
            "cell_id": self.cell_id,
            "model": self.model,
            "params": json.dumps(self.params, sort_keys=True),
            "dataset": self.dataset,
            "split": self.split,
            "noise": self.noise,
            "train_level": None if self.blind else self.train_level,
            "train_range": str(self.train_level) if self.blind else None,
            "trained": None if not self.learned or self.train_level is None else f"{self.noise} {level_text(self.train_level)}",
            "latent_dim": self.params.get("latent_dim"),
            "seed": self.seed,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "converged": self.converged,
            "n_parameters": self.n_parameters,
            "ms_per_megapixel": self.ms_per_megapixel,
            "peak_memory_mb": self.peak_memory_mb,
            "train_seconds": self.train_seconds,
            "train_images_per_s": self.train_images_per_s,
            "threads": self.threads,
            "precision": self.precision,
            "selected_on": self.selected_on,
            "status": self.status,
            "error": self.error,
            "mean_psnr_all_levels": summary.get("mean_psnr_all_levels"),
            "worst_psnr": summary.get("worst_psnr"),
            "worst_eval": summary.get("worst_eval"),
        } | {f"param_{name}": _cell_value(value) for name, value in self.params.items()}

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """The stored form: every field, and what the record says (leaky, its robustness summary)."""
        return dataclasses.asdict(self) | {"leaky": self.leaky, "robustness": self.robustness()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=True)

    @classmethod
    def from_dict(cls, data: Any) -> CellRecord:
        """A record from its stored form; raises :class:`RecordError` for anything else."""
        if not isinstance(data, dict):
            raise RecordError(f"expected a mapping, got {type(data).__name__}")
        names = {item.name for item in dataclasses.fields(cls)}
        values = {name: value for name, value in data.items() if name in names}
        if values.get("learned") is True:
            values.setdefault("precision", "float32")  # every learned cell before the precision key trained in float32
        try:
            values["train_level"] = read_level(values.get("train_level"))
            evaluations = [read_evaluation(item) for item in values.pop("evaluations", [])]
            record = cls(**values, evaluations=evaluations)
        except (TypeError, ValueError, AttributeError) as error:  # ValueError: a per-image value that is not a number
            raise RecordError(str(error)[:200]) from None
        record._check()
        reason = non_finite(record.evaluations) if record.status == "ok" else None
        if reason is not None:  # written by an older version, which let such a record pass as ok
            record.status, record.error, record.evaluations = "failed", reason, []
        return record

    def _check(self) -> None:
        if not isinstance(self.cell_id, str) or not isinstance(self.model, str) or not isinstance(self.params, dict):
            raise RecordError("cell_id and model must be strings and params a mapping")
        if self.status not in STATUSES:
            raise RecordError(f"status {self.status!r}; valid: {', '.join(STATUSES)}")
        for item in self.evaluations:
            _check_evaluation(item)
        if self.learned and self.train_level is not None and not isinstance(self.train_level, LevelRange):
            if not _is_number(self.train_level):
                raise RecordError("train_level must be a number or a range {min, max}")


def _check_evaluation(item: Evaluation) -> None:
    """Numbers where numbers belong; per-image values none (an older record) or one per image; PSNR and SSIM kept."""
    if not isinstance(item.noise, str) or not _is_number(item.level) or not isinstance(item.n_images, int):
        raise RecordError(f"evaluation {str(item.noise)[:40]!r}: a noise name, a numeric level and an image count")
    if not {"psnr", "ssim"} <= item.metrics.keys():
        raise RecordError(f"evaluation {item.name!r}: no PSNR or SSIM")
    for name, scores in item.metrics.items():
        numbers = [scores.mean] + [value for value in (scores.std, scores.noisy) if value is not None]
        if not isinstance(name, str) or not all(_is_number(value) for value in numbers):
            raise RecordError(f"evaluation {item.name!r}: non-numeric {str(name)[:40]}")
        if not isinstance(scores.per_image, list) or len(scores.per_image) not in (0, item.n_images):
            raise RecordError(
                f"evaluation {item.name!r}: {str(name)[:40].upper()} per image for {item.n_images} images: not one each"
            )
    if item.psnr_noisy is None:
        raise RecordError(f"evaluation {item.name!r}: no PSNR of the noisy input")
    if item.protocol_key is not None and not isinstance(item.protocol_key, dict):
        raise RecordError(f"evaluation {item.name!r}: protocol_key must be a mapping")


def read_evaluation(item: Any) -> Evaluation:
    """An evaluation from its stored form; records written before metrics were a registry kept MSE,
    PSNR and SSIM as named fields (``psnr``, ``psnr_std``, ``psnr_noisy``, ``psnr_per_image``, …)."""
    if not isinstance(item, dict):
        raise TypeError(f"an evaluation is a mapping, got {type(item).__name__}")
    item = dict(item)
    stored = item.pop("metrics", None)
    if stored is None:  # the older form
        stored = {
            name: {
                "mean": item.pop(name),
                "std": item.pop(f"{name}_std", None),
                "noisy": item.pop(f"{name}_noisy", None),
                "per_image": item.pop(f"{name}_per_image", []),
            }
            for name in ("mse", "psnr", "ssim")
            if name in item
        }
        item.pop("delta_psnr", None)
    if not isinstance(stored, dict):
        raise TypeError("metrics must be a mapping")
    metrics = {name: MetricScores(**scores) for name, scores in stored.items()}
    for scores in metrics.values():
        scores.per_image = [float(value) for value in scores.per_image]
    return Evaluation(**item, metrics=metrics)


def metric_columns(item: Evaluation) -> dict[str, Any]:
    """One evaluation's metrics as table columns: ``<metric>``, ``<metric>_std``, ``<metric>_noisy`` and
    ``<metric>_per_image`` (a list; the frame keeps it, results.csv does not) for every metric it holds."""
    columns: dict[str, Any] = {}
    for name, scores in item.metrics.items():
        columns |= {
            name: scores.mean,
            f"{name}_std": scores.std,
            f"{name}_noisy": scores.noisy,
            f"{name}_per_image": scores.per_image or None,
        }
    return columns


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell_value(value: Any) -> Any:
    """A parameter value as one table cell: lists (channel widths) as their JSON text."""
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value
