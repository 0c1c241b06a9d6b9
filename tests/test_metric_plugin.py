"""A metric registered from outside the package reaches every output with no other edit: results.csv,
the leaderboard (ranked by it), the report and the regression gate."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import CI_CONFIG, bench_here

MAE = """
from denoiser import register_metric


@register_metric("mae", higher_is_better=False, digits=4, title="MAE")
def mae(clean, estimate):
    '''Mean absolute error per image.'''
    return (clean.double() - estimate.double()).abs().flatten(1).mean(dim=1)
"""


def test_a_plugin_metric_is_stored_ranked_reported_and_gated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "mae_metric.py").write_text(textwrap.dedent(MAE))
    out = tmp_path / "out"
    code, _, stderr = bench_here(
        capsys,
        "sweep",
        CI_CONFIG,
        "--out",
        str(out),
        "--quiet",
        "--plugin",
        "mae_metric",
        "--set",
        "speed_reference=false",
        "--set",
        "train.epochs=1",
        "--set",
        "data.params={tiles: 2}",
        "--set",
        "models={tv: {}, dae: {latent_dim: 8}}",
        "--set",
        "noise={gaussian: [0.1]}",
    )
    assert code == 0, stderr
    table = pd.read_csv(out / "results.csv")
    assert {"mae", "mae_std", "mae_noisy"} <= set(table.columns) and table["mae"].notna().all()
    # ranked by it, lowest first: its direction comes from the registry
    code, stdout, stderr = bench_here(capsys, "leaderboard", str(out), "--metric", "mae", "--format", "json")
    entries = json.loads(stdout)
    assert code == 0 and [entry["mae_mean"] for entry in entries] == sorted(entry["mae_mean"] for entry in entries), stderr
    assert all(entry["mae_ci_low"] <= entry["mae_mean"] <= entry["mae_ci_high"] for entry in entries)
    assert "MAE" in (out / "report.html").read_text() and "MAE" in (out / "leaderboard.md").read_text()
    baseline = tmp_path / "baseline.json"
    assert bench_here(capsys, "check", str(out), "--baseline", str(baseline), "--update")[0] == 0
    assert all("mae" in cell for cell in json.loads(baseline.read_text())["cells"].values())
    code, stdout, _ = bench_here(capsys, "check", str(out), "--baseline", str(baseline))
    assert code == 0 and "MAE at gaussian 0.1" in stdout

    # records are data: where the plugin is not imported, its metric still shows, but its direction is its plugin's
    from denoiser.metrics import METRICS

    METRICS._entries.pop("mae")  # as in a process that did not import the plugin
    code, stdout, _ = bench_here(capsys, "leaderboard", str(tmp_path / "out"), "--format", "json")
    assert code == 0 and all("mae_mean" in entry for entry in json.loads(stdout))
    code, _, stderr = bench_here(capsys, "leaderboard", str(tmp_path / "out"), "--metric", "mae")
    assert code == 2 and "pass --plugin" in stderr and stderr.count("\n") == 1
    code, _, stderr = bench_here(capsys, "check", str(tmp_path / "out"), "--baseline", str(tmp_path / "baseline.json"))
    assert code == 2 and "pass --plugin" in stderr


BROKEN = '''
import torch
from denoiser import register_metric


@register_metric("broken", higher_is_better=True)
def broken(clean, estimate):
    return KIND
'''


@pytest.mark.parametrize("kind", ["clean.mean()", "clean.flatten(1)", "torch.full((clean.shape[0],), float('nan'))",
                                  "[1.0] * len(clean)", "1 / 0"])
def test_a_metric_that_is_no_metric_is_refused_before_any_cell(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    """A scalar, a map, NaN, a list or an error: one line at load, nothing written, not a failure of every cell."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "broken_metric.py").write_text(textwrap.dedent(BROKEN.replace("KIND", kind)))
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(tmp_path / "out"), "--quiet",
                                 "--plugin", "broken_metric")
    assert code == 2 and stderr.count("\n") == 1 and "metric 'broken'" in stderr, stderr
    assert not (tmp_path / "out").exists()
