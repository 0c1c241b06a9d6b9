"""Shared fixtures: devices, seeded generators, and the real test images beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
SET12 = SHARED_DATA / "Set12"
CIFAR_SAMPLE = SHARED_DATA / "cifar10-sample" / "test_batch_1017"

requires_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real test images not found at {SHARED_DATA} (../shared/data beside the checkout)"
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
