"""The report's built-in figures (seaborn, PNG), drawn from stored rows and records only; each registers
itself with :func:`bench.figures.register_plot`, which says what it is drawn from.

The example-image grid is the exception: it needs the checkpoints and the data set, so the report draws it
itself (:func:`example_grid`), and skips it (with a log line) when they are not there.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.figures import ReportInputs, register_plot, save, slug  # noqa: E402
from bench.ranking import ALPHA, entry_half_width  # noqa: E402
from bench.record import CellRecord, describe  # noqa: E402
from bench.results import parameters  # noqa: E402

logger = logging.getLogger(__name__)


def _level_label(family: str) -> str:
    from denoiser.noise import level_label  # the family's own label, declared where it registers

    return level_label(family)


def _series_name(row: pd.Series) -> str:
    return describe(row["model"], parameters(row))


def _model_name(row: pd.Series) -> str:
    """One trained model across levels: its series name, and the range of a blind one (``… (blind 0–55)``)."""
    blind = row.get("train_range")
    return _series_name(row) + (f" (blind {blind})" if isinstance(blind, str) else "")


MAX_LEVEL_PANELS = 6  # per-level panels (quality–cost, example images): at most this many levels, spread
MAX_LOSS_PANELS = 24  # learned cells whose loss curves are drawn, spread over the sweep's
MAX_ANNOTATED = 400  # heatmap cells written in figures; beyond, the colour alone says it


def spread(values: list, most: int) -> list:
    """At most ``most`` of ``values`` (in their order), spread evenly over them, the first and last included."""
    if len(values) <= most:
        return list(values)
    if most == 1:
        return [values[0]]
    indices = sorted({round(index * (len(values) - 1) / (most - 1)) for index in range(most)})
    return [values[index] for index in indices]


def shown_of(shown: int, total: int, what: str) -> str:
    """`` (6 of 200 levels, spread over the ladder, its ends included)``; empty when every one is shown."""
    return "" if shown == total else f" ({shown} of {total} {what}, spread over them, the ends included)"


def _seed_count(rows: pd.DataFrame) -> int:
    """Training seeds among ``rows`` (a classical baseline, without one, counts as one)."""
    return max(1, rows["seed"].nunique())


def _with_intervals(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per series and level: the mean of ``metric`` over seeds and half its 95 % interval (over seeds,
    or over the images where there is one seed), as the leaderboard computes them."""
    points = [
        {
            "series": series,
            "eval_level": level,
            "mean": group.groupby(group["seed"].fillna(-1))[metric].mean().mean(),
            "half": entry_half_width(group, metric, 1 - ALPHA),
            "seeds": _seed_count(group),
        }
        for (series, level), group in rows.groupby(["series", "eval_level"])
    ]
    return pd.DataFrame(points)


@register_plot()
def quality_vs_noise(rows: pd.DataFrame, family: str, out: Path, tag: str = "") -> Path | None:
    """PSNR and SSIM against the noise level: each learned model at its own training level, baselines at
    every level, with error bars of the 95 % interval of the mean (over seeds; over images with one seed)."""
    # a baseline and a blind model (trained over a range) are one model at every level; a fixed-level model, its own level
    at_own_level = rows["noise"].isna() | rows["matched"] | rows["train_range"].notna()
    matched = rows[(rows["eval_noise"] == family) & at_own_level]
    if matched.empty:
        return None
    matched = matched.assign(series=matched.apply(_model_name, axis=1))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    palette = dict(zip(sorted(matched["series"].unique()), sns.color_palette(n_colors=matched["series"].nunique())))
    for axis, (metric, label) in zip(axes, [("psnr", "PSNR (dB)"), ("ssim", "SSIM")]):
        for series, points in _with_intervals(matched, metric).groupby("series"):
            points = points.sort_values("eval_level")
            seeds = points["seeds"].max()
            axis.errorbar(
                points["eval_level"],
                points["mean"],
                yerr=points["half"].fillna(0),
                marker="o",
                capsize=3,
                color=palette[series],
                label=f"{series} ({seeds} seed{'s' if seeds > 1 else ''})",
            )
        axis.set_xlabel(_level_label(family))
        axis.set_ylabel(label)
        axis.set_title(
            f"{label} vs {family} noise (learned models at their training level)\n"
            "bars: 95 % interval of the mean, over seeds (over images with one seed)",
            fontsize=9,
        )
        axis.legend(fontsize=8)
    return save(figure, out / f"quality_vs_noise_{slug(family)}{tag}.png")


def _axis_parameter(rows: pd.DataFrame) -> str | None:
    """The ``param_<name>`` column that varies most among one model's rows (``latent_dim`` first on ties)."""
    columns = [column for column in rows.columns if column.startswith("param_") and rows[column].notna().any()]
    if not columns:
        return None
    return max(columns, key=lambda column: (rows[column].nunique(), column == "param_latent_dim", column))


@register_plot()
def parameter_heatmap(rows: pd.DataFrame, family: str, out: Path, tag: str = "") -> Path | None:
    """Mean PSNR at the training level, model parameter × training level, one panel per learned model
    (the parameter is the model's sweep axis: the latent size for the DAE)."""
    learned = rows[(rows["noise"] == family) & (rows["eval_noise"] == family) & rows["matched"]]
    panels = [(model, group, _axis_parameter(group)) for model, group in learned.groupby("model")]
    panels = [(model, group, column) for model, group, column in panels if column is not None]
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for axis, (model, group, column) in zip(axes[0], panels):
        table = group.pivot_table(index=column, columns="train_level", values="psnr", aggfunc="mean")
        table.index = [int(value) if isinstance(value, float) and value.is_integer() else value for value in table.index]
        sns.heatmap(table, annot=True, fmt=".1f", cmap="viridis", cbar_kws={"label": "PSNR (dB)"}, ax=axis)
        axis.set_xlabel(_level_label(family))
        axis.set_ylabel(str(column).removeprefix("param_"))
        axis.set_title(f"{model}: PSNR at the training level")
    return save(figure, out / f"parameter_heatmap_{slug(family)}{tag}.png")


def trained_at(rows: pd.DataFrame) -> pd.Series:
    """Each row's training level as the robustness matrix's rows name it: ``0.1``, or ``0–55 (blind)``, as an
    ordered category (fixed levels by value, then ranges by their lower end)."""
    labels = [
        f"{text} (blind)" if isinstance(text, str) else f"{level:g}"
        for level, text in zip(rows["train_level"], rows["train_range"])
    ]
    keys = {
        label: (1, float(text.split("–")[0])) if isinstance(text, str) else (0, float(level))
        for label, level, text in zip(labels, rows["train_level"], rows["train_range"])
    }
    order = sorted(keys, key=lambda label: keys[label])
    return pd.Series(pd.Categorical(labels, categories=order, ordered=True), index=rows.index)


@register_plot()
def robustness_matrix(rows: pd.DataFrame, family: str, out: Path, tag: str = "") -> Path | None:
    """Mean PSNR of each model trained at one level, or over a range (blind; rows) and evaluated at
    another (columns). Every panel shares one colour scale, so that a panel spanning 0.2 dB looks flat
    beside one spanning 13 dB; each panel's caption says over how many training seeds the means are taken."""
    learned = rows[(rows["noise"] == family) & (rows["eval_noise"] == family)]
    if learned.empty:
        return None
    learned = learned.assign(series=learned.apply(_series_name, axis=1), trained_at=trained_at(learned))
    series = sorted(learned["series"].unique())
    columns = min(3, len(series))
    lines = -(-len(series) // columns)
    tables = {
        name: learned[learned["series"] == name].pivot_table(
            index="trained_at", columns="eval_level", values="psnr", aggfunc="mean", observed=True
        )
        for name in series
    }
    low = min(float(np.nanmin(table.to_numpy())) for table in tables.values())
    high = max(float(np.nanmax(table.to_numpy())) for table in tables.values())
    figure, axes = plt.subplots(lines, columns, figsize=(5.2 * columns, 4.2 * lines + 0.4), squeeze=False)
    for axis in axes.flat[len(series) :]:
        axis.axis("off")
    for axis, name in zip(axes.flat, series):
        annotate = tables[name].size <= MAX_ANNOTATED
        sns.heatmap(
            tables[name], annot=annotate, fmt=".1f", cmap="magma", vmin=low, vmax=high, cbar_kws={"label": "PSNR (dB)"}, ax=axis
        )
        axis.set_xlabel(f"evaluated at {_level_label(family)}")
        axis.set_ylabel("trained at")
        axis.set_title(f"{name}\n{_seeds_caption(learned[learned['series'] == name])}", fontsize=10)
    figure.suptitle(f"One colour scale for every panel: {low:.1f}–{high:.1f} dB", fontsize=10)
    return save(figure, out / f"robustness_matrix_{slug(family)}{tag}.png")


def _seeds_caption(rows: pd.DataFrame) -> str:
    """``mean PSNR of 3 seeds``, or ``of 2–3 seeds`` where some (trained, evaluated) cells have fewer."""
    counts = rows.groupby(["trained_at", "eval_level"], observed=True)["seed"].nunique().clip(lower=1)
    low, high = int(counts.min()), int(counts.max())
    return f"mean PSNR of {low if low == high else f'{low}–{high}'} seed{'s' if high > 1 else ''}"


@register_plot(each="sweep")
def family_matrix(rows: pd.DataFrame, out: Path) -> Path | None:
    """The families side by side on the first data set scored (the training data's test split): mean PSNR over
    the severities of each evaluation family (columns), for each model and training noise, and each classical
    method (rows); empty where a row was not scored (a baseline told σ, on jpeg, which has none). Each other
    data set of real-noise pairs is a column ``real · <set>`` beside the synthetic families."""
    first = rows["dataset"].iloc[0] if not rows.empty else None
    real = rows[(rows["eval_noise"] == "real") & (rows["dataset"] != first)]
    rows = rows[(rows["dataset"] == first) & (rows["eval_noise"] != "real")]
    if not real.empty:
        rows = pd.concat([rows, real.assign(eval_noise="real · " + real["dataset"].astype(str))], ignore_index=True)
    if rows.empty or rows["eval_noise"].nunique() < 2:
        return None
    learned = rows["noise"].notna()
    labels = rows.apply(_series_name, axis=1)
    trained = labels + " · " + rows["trained"].where(learned, "classical").astype(str)
    table = rows.assign(row=trained).pivot_table(index="row", columns="eval_noise", values="psnr", aggfunc="mean")
    figure, axis = plt.subplots(figsize=(1.6 * len(table.columns) + 5, 0.45 * len(table) + 2))
    annotate = table.size <= MAX_ANNOTATED
    sns.heatmap(table, annot=annotate, fmt=".1f", cmap="magma", cbar_kws={"label": "mean PSNR over severities (dB)"}, ax=axis)
    axis.set_xlabel("evaluated on")
    axis.set_ylabel("model · trained on")
    axis.set_title("Cross-noise robustness: every family side by side")
    return save(figure, out / "robustness_matrix_families.png")


def pareto_front(points: pd.DataFrame, cost: str = "ms_per_megapixel", quality: str = "psnr_mean") -> pd.DataFrame:
    """The entries no other entry beats on both axes (as fast or faster and strictly better, or strictly
    faster and as good), cheapest first: the quality–cost frontier."""
    ordered = points.sort_values([cost, quality], ascending=[True, False])
    front, best = [], -np.inf
    for index, row in ordered.iterrows():
        if row[quality] > best:
            front.append(index)
            best = row[quality]
    return ordered.loc[front]


@register_plot(data="ranked")
def quality_cost(ranked: pd.DataFrame, family: str, out: Path, tag: str = "") -> Path | None:
    """PSNR against inference ms per megapixel (log axis), one point per leaderboard entry, one panel per
    evaluation level of ``family`` (at most :data:`MAX_LEVEL_PANELS`, spread over the ladder, the ends included,
    as the title says), with the Pareto front drawn and its entries named."""
    rows = ranked[(ranked["eval_noise"] == family) & (ranked["ms_per_megapixel"] > 0)]
    if rows.empty:
        return None
    every = sorted(rows["eval_level"].unique())
    levels = spread(every, MAX_LEVEL_PANELS)
    columns = min(3, len(levels))
    lines = -(-len(levels) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(6 * columns, 4.6 * lines), squeeze=False)
    for axis in axes.flat[len(levels) :]:
        axis.axis("off")
    for axis, level in zip(axes.flat, levels):
        points = rows[rows["eval_level"] == level]
        front = pareto_front(points)
        axis.scatter(points["ms_per_megapixel"], points["psnr_mean"], color="grey", alpha=0.6, s=22, label="entry")
        axis.plot(
            front["ms_per_megapixel"], front["psnr_mean"], "o-", color="crimson", drawstyle="steps-post", label="Pareto front"
        )
        for _, point in front.iterrows():
            axis.annotate(
                textwrap.fill(str(point["entry"]), 30), (point["ms_per_megapixel"], point["psnr_mean"]), fontsize=6.5,
                xytext=(4, -2), textcoords="offset points", va="top",
            )  # fmt: skip
        axis.set_xscale("log")
        low, high = points["ms_per_megapixel"].min(), points["ms_per_megapixel"].max()
        axis.set_xlim(low / 2, high * 30)  # room for the names on the right
        axis.set_xlabel("inference ms per megapixel (log)")
        axis.set_ylabel("PSNR (dB)")
        axis.set_title(f"{family} {level:g}: quality against cost", fontsize=10)
        axis.legend(fontsize=7, loc="upper left")
    figure.suptitle(
        "Up and to the left is better; the front: entries no other is both faster and better than"
        + shown_of(len(levels), len(every), "levels"),
        fontsize=9,
    )
    return save(figure, out / f"quality_cost_{slug(family)}{tag}.png")


def sigma_points(records: list[CellRecord]) -> pd.DataFrame:
    """One row per image that a baseline in ``sigma: estimated`` mode estimated where the truth is known
    (a synthetic family's σ, a real pair's residual std): family, data set, estimator, true and estimated σ."""
    points: list[dict[str, object]] = []
    for record in records:
        for evaluation in record.evaluations:
            settings = evaluation.settings or {}
            if settings.get("sigma_mode") != "estimated":
                continue
            estimates = settings.get("sigma_per_image", [])
            truths = settings.get("sigma_true_per_image") or [settings.get("sigma_true")] * len(estimates)
            where = {"family": evaluation.noise, "dataset": evaluation.dataset, "estimator": settings.get("estimator", "wavelet")}
            points += [
                where | {"true": float(truth), "estimated": float(estimate)}
                for estimate, truth in zip(estimates, truths)
                if truth is not None
            ]
    return pd.DataFrame(points, columns=["family", "dataset", "estimator", "true", "estimated"]).drop_duplicates()


def _sigma_parts(inputs: ReportInputs) -> list[tuple[str, list, tuple]]:
    """One figure per family of estimated σ, each drawn from (and digesting) its own family's points only."""
    points = sigma_points(inputs.records)
    return [(str(family), [shown], (shown, str(family))) for family, shown in points.groupby("family", sort=True)]


@register_plot(parts=_sigma_parts)
def estimated_sigma(points: pd.DataFrame, family: str, out: Path) -> Path | None:
    """Each image's estimated σ against its true σ on one family, one colour per estimator, with the diagonal
    (a perfect estimate) and each estimator's mean estimate / truth in the legend."""
    points = points[points["family"] == family]
    if points.empty:
        return None
    figure, axis = plt.subplots(figsize=(6, 5))
    for estimator, group in points.groupby("estimator"):
        ratio = (group["estimated"] / group["true"]).mean()
        label = f"{estimator} (mean estimate/true {ratio:.2f})"
        axis.scatter(group["true"], group["estimated"], s=12, alpha=0.6, label=label)
    top = float(max(points["true"].max(), points["estimated"].max())) * 1.05
    axis.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="estimate = truth")
    axis.set_xlim(0, top)
    axis.set_ylim(0, top)
    axis.set_xlabel("true σ ([0, 1] scale)" if family != "real" else "true σ: std of noisy − clean")
    axis.set_ylabel("estimated σ")
    axis.set_title(f"Estimated σ against truth: {family}")
    axis.legend(fontsize=7)
    return save(figure, out / f"estimated_sigma_{slug(family)}.png")


@register_plot(each="sweep", data="records")
def loss_curves(records: list[CellRecord], out: Path) -> Path | None:
    """Train and validation loss per epoch, one panel per learned cell (at most :data:`MAX_LOSS_PANELS`, spread
    over the sweep's cells, as the title says)."""
    every = [record for record in records if record.train_losses]
    if not every:
        return None
    learned = spread(every, MAX_LOSS_PANELS)
    columns = min(4, len(learned))
    lines = -(-len(learned) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3 * lines), squeeze=False, sharey=True)
    for axis in axes.flat[len(learned) :]:
        axis.axis("off")
    for axis, record in zip(axes.flat, learned):
        epochs = range(1, len(record.train_losses) + 1)
        axis.plot(epochs, record.train_losses, label="train")
        axis.plot(epochs, record.validation_losses, label=record.selected_on or "validation")
        axis.axvline(record.best_epoch, color="grey", linestyle=":", linewidth=1)
        axis.set_title(record.label().replace(" (", "\n("), fontsize=9)
        axis.set_xlabel("epoch")
        axis.set_ylabel("MSE loss")
        axis.set_yscale("log")
        axis.legend(fontsize=7)
    if len(learned) < len(every):
        figure.suptitle("Loss curves" + shown_of(len(learned), len(every), "learned cells"), fontsize=10)
    return save(figure, out / "loss_curves.png")


def example_grid(examples: list[dict], family: str, out: Path) -> Path | None:
    """Rows of original | noisy | denoised images, one row per noise level (the report picks at most
    :data:`MAX_LEVEL_PANELS` levels, spread over the ladder)."""
    if not examples:
        return None
    figure, axes = plt.subplots(len(examples), 3, figsize=(6.6, 2.3 * len(examples)), squeeze=False)
    for line, example in zip(axes, examples):
        for axis, (title, image) in zip(
            line,
            [
                ("original", example["clean"]),
                (f"noisy ({example['psnr_noisy']:.1f} dB)", example["noisy"]),
                (f"{example['name']} ({example['psnr']:.1f} dB)", example["denoised"]),
            ],
        ):
            axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")  # RGB as is
            axis.set_title(title, fontsize=8)
            axis.set_xticks([])
            axis.set_yticks([])
        line[0].set_ylabel(f"{family} {example['level']:g}", fontsize=9)
    return save(figure, out / f"examples_{slug(family)}.png")
