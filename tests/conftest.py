"""Shared fixtures: devices, seeded generators, and the real test images beside the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
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


def bench_command(*arguments: str) -> list[str]:
    """The command line of ``python -m bench ARGUMENTS…`` with this interpreter."""
    return [sys.executable, "-m", "bench", *arguments]


def run_bench(*arguments: str) -> subprocess.CompletedProcess:
    """Run the real command line from the repository root; output captured as text."""
    return subprocess.run(bench_command(*arguments), cwd=REPOSITORY, capture_output=True, text=True, timeout=600)


def metrics_table(folder: Path, columns: list[str]) -> pd.DataFrame:
    """``columns`` of a run's results.csv in a stable row order, for comparing two runs."""
    table = pd.read_csv(folder / "results.csv")[columns]
    return table.sort_values(["cell_id", "eval_noise", "eval_level"]).reset_index(drop=True)
