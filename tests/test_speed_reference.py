"""The speed yardstick of the regression gate and the process memory setting (timings are never asserted)."""

import math
import sys

import pytest
import torch

from denoiser.design_loop import compare_with_design, design_epochs
from denoiser.memory import keep_freed_memory


def test_the_comparison_times_both_loops_and_reports_their_ratio() -> None:
    images = torch.rand(16, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    comparison = compare_with_design(images, rounds=3, latent_dim=8, batch_size=8)
    assert comparison.design_images_per_s > 0 and comparison.trainer_images_per_s > 0
    # The median of per-round ratios lies near the ratio of the medians, never orders of magnitude off.
    ratio_of_medians = comparison.trainer_images_per_s / comparison.design_images_per_s
    assert math.isfinite(comparison.ratio) and 0.2 < comparison.ratio / ratio_of_medians < 5


def test_the_design_loop_trains() -> None:
    images = torch.rand(32, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    epoch = design_epochs(images, latent_dim=8, batch_size=8)
    losses = [epoch() for _ in range(4)]
    assert losses[-1] < losses[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the malloc setting exists on glibc (Linux) only")
def test_the_memory_setting_takes_effect_and_can_be_repeated() -> None:
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
