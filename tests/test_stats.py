"""Intervals of a mean and paired bootstrap comparisons, checked against scipy and on known cases."""

import math

import numpy as np
import pytest
from scipy import stats as reference

from bench import stats

IMAGES = 37  # an awkward count


@pytest.fixture
def base() -> np.ndarray:
    """Per-image PSNRs of one model: images differ a lot in difficulty (dB)."""
    return np.random.default_rng(7).normal(25.0, 3.0, IMAGES)


def test_two_models_closer_than_their_noise_are_not_distinguishable(base: np.ndarray) -> None:
    noise = np.random.default_rng(8).normal(0.0, 0.5, IMAGES)  # per-image disagreement, far above the 0.02 dB gap
    assert stats.distinguishable({0: base}, {0: base - 0.02 + noise}) is False


def test_two_clearly_different_models_are_distinguishable(base: np.ndarray) -> None:
    noise = np.random.default_rng(8).normal(0.0, 0.5, IMAGES)
    assert stats.distinguishable({0: base}, {0: base - 1.5 + noise}) is True
    assert stats.distinguishable({0: base - 1.5 + noise}, {0: base}) is True  # either order


def test_pairing_over_images_sees_a_small_gap_that_the_spread_of_images_hides(base: np.ndarray) -> None:
    # 0.1 dB better on every image: unpaired, the 3 dB spread of the images would swamp it
    assert stats.distinguishable({0: base + 0.1}, {0: base}) is True


def test_a_gap_that_the_training_seeds_do_not_agree_on_is_a_tie(base: np.ndarray) -> None:
    # on every image, seed 0 favours the first model by 0.5 dB and seed 1 the second by 0.3 dB
    assert stats.distinguishable({0: base + 0.5, 1: base}, {0: base, 1: base + 0.3}) is False
    # two seeds that agree on the sign but not on the size: t with one degree of freedom cannot tell
    assert stats.distinguishable({0: base + 0.5, 1: base + 0.3}, {0: base, 1: base}) is False
    # three seeds that agree closely
    assert stats.distinguishable({0: base + 0.5, 1: base + 0.45, 2: base + 0.55}, {0: base, 1: base, 2: base}) is True


def test_entries_pair_on_the_seeds_they_share_or_else_average_their_own(base: np.ndarray) -> None:
    first, second = stats.paired_arrays({0: base, 1: base + 1, 2: base + 2}, {1: base, 2: base, 5: base})
    assert first.shape == second.shape == (2, IMAGES)
    np.testing.assert_allclose(first[0], base + 1)
    baseline, learned = stats.paired_arrays({None: base}, {0: base, 1: base + 2})
    assert baseline.shape == learned.shape == (1, IMAGES)
    np.testing.assert_allclose(learned[0], base + 1)
    assert stats.paired_arrays({0: base}, {0: base[:-1]}) is None  # not the same images
    assert stats.distinguishable({0: base}, {0: list(base[:-1])}) is None


def test_the_bootstrap_is_deterministic_and_its_seed_is_the_only_randomness(base: np.ndarray) -> None:
    first, second = base[None, :] + 0.05, base[None, :] + np.random.default_rng(1).normal(0, 0.3, IMAGES)
    once = stats.paired_difference_interval(first, second)
    assert once == stats.paired_difference_interval(first, second)
    assert once != stats.paired_difference_interval(first, second, seed=stats.BOOTSTRAP_SEED + 1)
    mean_difference = float((first - second).mean())
    assert once[0] < mean_difference < once[1]


def test_the_interval_over_seeds_is_students_t(base: np.ndarray) -> None:
    seed_means = [26.0, 28.0, 27.1]
    low, high = reference.t.interval(0.95, len(seed_means) - 1, loc=np.mean(seed_means), scale=reference.sem(seed_means))
    half = stats.half_width(seed_means)
    assert np.mean(seed_means) - half == pytest.approx(low) and np.mean(seed_means) + half == pytest.approx(high)
    assert stats.half_width([26.0, 28.0]) == pytest.approx(12.706 * 1.0, rel=1e-4)  # two seeds: t(1) is wide
    assert math.isnan(stats.half_width([26.0]))


def test_with_one_seed_the_interval_is_over_images_from_the_stored_spread(base: np.ndarray) -> None:
    low, high = reference.t.interval(0.95, IMAGES - 1, loc=base.mean(), scale=reference.sem(base))
    half = stats.half_width_from_spread(float(base.std(ddof=0)), IMAGES)
    assert base.mean() - half == pytest.approx(low) and base.mean() + half == pytest.approx(high)
    assert stats.half_width_from_spread(1.0, 10, 0.99) > stats.half_width_from_spread(1.0, 10, 0.95)
    assert math.isnan(stats.half_width_from_spread(0.0, 1))  # one image: no interval
