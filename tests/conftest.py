"""Shared fixtures: devices, seeded generators, and the real test images beside the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
SET12 = SHARED_DATA / "Set12"
CIFAR_SAMPLE = SHARED_DATA / "cifar10-sample" / "test_batch_1017"
CI_CONFIG = str(REPOSITORY / "configs" / "ci.yaml")
# The tiny sweep without the speed comparison, which only the gate (make gate) and its own tests need.
CI_SETTINGS = ("--set", "speed_reference=false")
METRIC_COLUMNS = ["cell_id", "eval_noise", "eval_level", "mse", "psnr", "ssim", "psnr_noisy", "ssim_noisy", "delta_psnr", "epochs"]

requires_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real test images not found at {SHARED_DATA} (../shared/data beside the checkout)"
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def registries_as_they_were() -> Iterator[None]:
    """What a test's plugins register (and the plugin modules it imports) is gone after it: every test
    sees the package's own registries, so a list of valid names never depends on the test order."""
    import bench.plots  # noqa: F401 - registers the built-in figures before the plot registry is saved
    from bench.figures import PLOTS
    from denoiser import plugins
    from denoiser.baselines import BASELINES
    from denoiser.data import DATASETS
    from denoiser.estimators import ESTIMATORS
    from denoiser.metrics import METRICS
    from denoiser.models import MODELS
    from denoiser.noise import NOISE

    registries = (MODELS, BASELINES, NOISE, DATASETS, METRICS, ESTIMATORS, PLOTS)
    saved = [dict(registry._entries) for registry in registries]
    loaded = set(plugins._loaded)
    yield
    for registry, entries in zip(registries, saved):
        registry._entries.clear()
        registry._entries.update(entries)
    for module in plugins._loaded - loaded:  # imported again by the next test that names it: it registers again
        sys.modules.pop(module, None)
    plugins._loaded.intersection_update(loaded)


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
    """Run the real command line in a new process from the repository root; output captured as text.
    Only for what needs the process boundary (exit codes of the interpreter, signals, spawned workers)."""
    return subprocess.run(bench_command(*arguments), cwd=REPOSITORY, capture_output=True, text=True, timeout=600)


def bench_here(capsys: pytest.CaptureFixture, *arguments: str) -> tuple[int, str, str]:
    """Run ``python -m bench ARGUMENTS…`` in this process (``bench.cli.main``): (exit code, stdout, stderr)."""
    from bench.cli import main

    capsys.readouterr()
    try:
        code = main(list(arguments))
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ci_sweep_here(out: Path, *overrides: str, workers: int = 1, fresh: bool = False):
    """The tiny sweep (configs/ci.yaml, no speed comparison) run in this process by the runner itself."""
    import io

    from rich.console import Console

    from bench.config import load_config
    from bench.sweep import run_sweep

    config = load_config(Path(CI_CONFIG), ["speed_reference=false", *overrides])
    return run_sweep(config, out, workers=workers, fresh=fresh, console=Console(file=io.StringIO()))


@pytest.fixture(scope="session")
def ci_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny sweep for the whole test session: the real command line in a new process, its
    cells in two spawned workers (summary, leaderboard, plots and report included). Tests that rerun
    cells in this process with one worker compare with it, so they also check that the worker layout
    changes no number. Read it; copy it (``ci_copy``) to change it."""
    out = tmp_path_factory.mktemp("shared-sweep") / "ci"
    result = run_bench("sweep", CI_CONFIG, "--out", str(out), "--workers", "2", "--quiet", *CI_SETTINGS)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def ci_copy(ci_sweep: Path, tmp_path: Path) -> Path:
    """A private copy of the shared sweep, to resume, damage or extend."""
    copy = tmp_path / "ci"
    shutil.copytree(ci_sweep, copy)
    return copy


def metrics_table(folder: Path, columns: list[str]) -> pd.DataFrame:
    """``columns`` of a run's results.csv in a stable row order, for comparing two runs."""
    table = pd.read_csv(folder / "results.csv")[columns]
    return table.sort_values(["cell_id", "eval_noise", "eval_level"]).reset_index(drop=True)


def plugin_module(folder: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> str:
    """A plugin module ``name`` written to ``folder`` from ``source``, importable for this test, not yet imported."""
    import textwrap

    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop(name, None)
    return name
