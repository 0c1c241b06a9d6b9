"""How sure a ranking is: Student-t intervals of a mean, and paired bootstrap comparisons of two entries.

Two runs of the seed protocol with the same seeds differed by up to 0.48 dB on one GPU, so a ranking
that orders 0.01 dB gaps orders noise. Every leaderboard entry therefore carries an interval of its
mean, and adjacent entries are compared on the same noisy images (every entry of a ranking is scored
on the same images with the same evaluation noise), seed by seed where they share training seeds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

logger = logging.getLogger(__name__)

RESAMPLES = 2000  # bootstrap replicates: the edges of a 95 % interval move by a few hundredths of its width
BOOTSTRAP_SEED = 20240516  # fixed, so the same records give the same verdicts on every run


def _half_width(std: float, count: int, confidence: float) -> float:
    """Half the width of the Student-t interval of a mean of ``count`` values whose sample std is ``std``."""
    if count < 2 or not math.isfinite(std):
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, count - 1)) * std / math.sqrt(count)


def half_width(values: Sequence[float], confidence: float = 0.95) -> float:
    """Half the width of the Student-t interval of the mean of independent values (one per training
    seed): the interval is mean ± this. NaN below two values, where there is no spread to measure."""
    array = np.asarray(values, dtype=float)
    return _half_width(float(array.std(ddof=1)) if len(array) > 1 else math.nan, len(array), confidence)


def half_width_from_spread(population_std: float, count: int, confidence: float = 0.95) -> float:
    """The same from a stored population std over ``count`` images (``psnr_std`` in results.csv is over
    the images with ddof=0): the interval over the images of one run, needing no per-image values."""
    std = population_std * math.sqrt(count / (count - 1)) if count > 1 else math.nan
    return _half_width(std, count, confidence)


def paired_arrays(
    first: Mapping[Any, Sequence[float]], second: Mapping[Any, Sequence[float]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-image values of two entries, keyed by training seed (None for a classical baseline), as two
    (seeds, images) arrays that line up: the seeds both share, in order, or where they share none each
    entry averaged over its own seeds (one row). None when they were not scored on as many images."""
    lengths = {len(values) for values in list(first.values()) + list(second.values())}
    if len(lengths) != 1 or 0 in lengths:
        return None
    shared = sorted((seed for seed in first if seed in second), key=repr)
    if shared:
        return (np.array([first[seed] for seed in shared], dtype=float), np.array([second[seed] for seed in shared], dtype=float))
    return (
        np.mean([first[seed] for seed in first], axis=0, dtype=float)[None, :],
        np.mean([second[seed] for seed in second], axis=0, dtype=float)[None, :],
    )


def paired_difference_interval(
    first: np.ndarray, second: np.ndarray, confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean difference over images of two paired (seeds, images)
    arrays, each image's difference averaged over the seeds first. Each replicate draws the same images
    for both entries (that is the pairing), so the spread in difficulty between images cancels out.
    The generator is seeded, so the same records give the same interval on every run."""
    difference = (first - second).mean(axis=0)  # (N,)
    images = len(difference)
    counts = np.random.default_rng(seed).multinomial(images, np.full(images, 1 / images), size=resamples)  # (R, N)
    means = counts @ difference / images
    low, high = np.quantile(means, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return float(low), float(high)


def distinguishable(
    first: Mapping[Any, Sequence[float]], second: Mapping[Any, Sequence[float]], alpha: float = 0.05
) -> bool | None:
    """Whether two entries differ at level ``alpha``: the 1 − alpha paired bootstrap interval of their
    mean difference over images excludes zero, and where they share two seeds or more, so does the
    Student-t interval of the seeds' mean differences: a gap that the images confirm but that one
    training seed reverses, or that two seeds cannot pin down, is a tie. None when they cannot be
    paired (no per-image values, or not the same number of images)."""
    arrays = paired_arrays(first, second)
    if arrays is None or not (np.isfinite(arrays[0]).all() and np.isfinite(arrays[1]).all()):
        return None  # an infinite PSNR (a perfect image) has no difference to bootstrap
    low, high = paired_difference_interval(*arrays, confidence=1 - alpha)
    over_images = bool(low > 0 or high < 0)
    per_seed = (arrays[0] - arrays[1]).mean(axis=1)  # (S,)
    if len(per_seed) < 2:
        return over_images
    return over_images and bool(abs(per_seed.mean()) > half_width(per_seed, 1 - alpha))
