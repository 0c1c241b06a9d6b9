"""Bring your own denoiser: the README's example through the command line and bench.run, plugins by
config, --plugin and entry point, registration clashes, and paired (real-noise) data."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import bench
from denoiser import ConfigurationError, register_baseline
from denoiser.baselines import BASELINES
from denoiser.data import load_pairs
from denoiser.errors import DataError
from denoiser.registry import Registry
from tests.conftest import CI_CONFIG, REPOSITORY, SET12, bench_command, bench_here, requires_shared_data


def readme_example() -> dict[str, str]:
    """The README's plugin module and config, by the file name on their first line."""
    text = (REPOSITORY / "README.md").read_text()
    section = text.split("## Benchmark your own denoiser", 1)[1]
    blocks = re.findall(r"```(?:python|yaml)\n(# (\S+)\n.*?)```", section, flags=re.S)
    return {name: body for body, name in blocks if name in ("my_denoisers.py", "my-sweep.yaml")}


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("own-denoiser")
    files = readme_example()
    assert sorted(files) == ["my-sweep.yaml", "my_denoisers.py"]
    assert sum(len(body.splitlines()) for body in files.values()) <= 25  # the bound on the example
    for name, body in files.items():
        (folder / name).write_text(body)
    return folder


def environment_with(path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(REPOSITORY)])}


@pytest.mark.heavy
def test_the_readme_example_runs_through_the_command_line_with_two_workers(example: Path) -> None:
    result = subprocess.run(bench_command("sweep", "my-sweep.yaml", "--workers", "2", "--out", "out", "--quiet"),
                            cwd=example, env=environment_with(example), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(example / "out" / "results.csv")
    assert sorted(table.loc[table["model"] == "two-layer", "param_width"].unique()) == [8, 16]
    checkpoint = torch.load(next((example / "out" / "checkpoints").glob("two-layer-*.pt")), weights_only=True)
    assert checkpoint["module"] == "my_denoisers"
    listing = subprocess.run(bench_command("list", "--plugin", "my_denoisers"), cwd=example, env=environment_with(example),
                             capture_output=True, text=True, timeout=120)
    assert "two-layer" in listing.stdout and "my_denoisers.two_layer" in listing.stdout
    # a results folder is data: its plugin is imported only when the user names it on this run
    grid = example / "out" / "plots" / "examples_gaussian.png"
    grid.unlink()
    report = subprocess.run(bench_command("report", "out"), cwd=example, env=environment_with(example),
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and not grid.is_file() and "--plugin my_denoisers" in report.stderr, report.stderr
    report = subprocess.run(bench_command("report", "out", "--plugin", "my_denoisers"), cwd=example,
                            env=environment_with(example), capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and grid.is_file(), report.stderr


def test_the_readme_example_runs_through_bench_run(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(example))
    table = bench.run(example / "my-sweep.yaml", out=example / "api", workers=1, train__epochs=2)
    assert set(table["model"]) == {"noisy", "tv", "two-layer"}
    assert table.equals(bench.load_results(example / "api"))
    assert (table.loc[table["model"] == "two-layer", "epochs"] == 2).all()


def test_a_plugin_that_fails_to_import_is_one_line(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, stderr = bench_here(capsys, "list", "--plugin", "no_such_plugin_module")
    assert code == 2 and stderr.count("\n") == 1 and "no_such_plugin_module" in stderr and "ModuleNotFoundError" in stderr
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-written plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(tmp_path / "never"), "--set", "plugins=[broken_plugin]")
    assert code == 2 and "broken_plugin failed to import: RuntimeError: half-written plugin" in stderr
    assert not (tmp_path / "never").exists()


def test_a_name_registered_from_two_places_says_both() -> None:
    registry: Registry = Registry("model")

    def first() -> None: ...

    def second() -> None: ...

    registry.register("same")(first)
    registry.register("same")(first)  # the same module imported again: fine
    with pytest.raises(ConfigurationError, match=r"registered twice: by .*first and by .*second"):
        registry.register("same")(second)


def test_any_callable_is_a_baseline_with_its_parameters_checked(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    if "shrink-test" not in BASELINES:
        @register_baseline("shrink-test")
        def shrink(noisy: torch.Tensor, noise, amount: float = 0.5) -> torch.Tensor:
            """Pulls every pixel towards the image mean."""
            return noisy + amount * (noisy.mean() - noisy)

    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(tmp_path / "x"), "--set", "models={shrink-test: {amount: abc}}")
    assert code == 2 and "models.shrink-test.amount: expected a number" in stderr
    code, _, _ = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(tmp_path / "ok"), "--quiet", "--workers", "1",
                            "--set", "models={shrink-test: {amount: [0.2, 0.4]}}")
    assert code == 0
    table = pd.read_csv(tmp_path / "ok" / "results.csv")
    assert sorted(table.loc[table["model"] == "shrink-test", "param_amount"].unique()) == [0.2, 0.4]


@pytest.mark.heavy
def test_an_installed_distribution_is_found_by_its_entry_point(tmp_path: Path) -> None:
    """A tiny distribution, built and installed into a target folder: no plugins key, no --plugin."""
    source = tmp_path / "source"
    (source / "outside_denoisers").mkdir(parents=True)
    (source / "outside_denoisers" / "__init__.py").write_text(
        "from torch import nn\nfrom denoiser import register_model\n\n\n"
        "@register_model('two-layer-outside')\ndef two_layer(width: int = 4) -> nn.Module:\n"
        "    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 3, padding=1))\n")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "outside-denoisers"\nversion = "0.1"\n\n'
        '[project.entry-points."denoise_bench.plugins"]\noutside = "outside_denoisers"\n')
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--no-index", "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    out = tmp_path / "out"
    result = subprocess.run(bench_command("sweep", CI_CONFIG, "--out", str(out), "--quiet", "--workers", "2",
                                          "--set", "models={two-layer-outside: {width: [4, 8]}}", "--set", "speed_reference=false"),
                            cwd=REPOSITORY, env=environment_with(target), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert set(pd.read_csv(out / "results.csv")["model"]) == {"noisy", "two-layer-outside"}


def write_pairs(folder: Path, sigma: float, parallel: bool) -> None:
    rng = np.random.default_rng(0)
    for path in sorted(SET12.glob("*.png"))[:3]:
        clean = np.asarray(Image.open(path).convert("L"), dtype=np.float64)[:96, :96]
        noisy = np.clip(clean + rng.normal(0, sigma * 255, clean.shape), 0, 255).round()
        if parallel:
            for kind, pixels in (("clean", clean), ("noisy", noisy)):
                (folder / kind).mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels.astype(np.uint8)).save(folder / kind / path.name)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(clean.astype(np.uint8)).save(folder / f"{path.stem}_clean.png")
            Image.fromarray(noisy.astype(np.uint8)).save(folder / f"{path.stem}_noisy.png")


@requires_shared_data
def test_paired_real_noise_is_scored_with_the_told_and_estimated_sigma_recorded(tmp_path: Path) -> None:
    write_pairs(tmp_path / "pairs", 0.1, parallel=False)
    write_pairs(tmp_path / "parallel", 0.1, parallel=True)
    parallel, named = load_pairs(str(tmp_path / "parallel")), load_pairs(str(tmp_path / "pairs"))
    assert len(parallel) == len(named) == 3
    assert all(torch.equal(a[2], b[2]) for a, b in zip(parallel, named))  # the same noisy images, either layout
    # every file left out of a pair is refused, in either layout: a clean or a noisy image alone, a stray name
    image = (tmp_path / "pairs" / "01_clean.png").read_bytes()
    for folder, extra, match in [("pairs", "extra_clean.png", "without a partner"), ("pairs", "extra_noisy.png", "without a partner"),
                                 ("pairs", "extra.png", "neither NAME_clean nor NAME_noisy"),
                                 ("parallel/clean", "extra.png", "without a partner"), ("parallel/noisy", "extra.png", "without a partner")]:
        (tmp_path / folder / extra).write_bytes(image)
        with pytest.raises(DataError, match=match):
            load_pairs(str(tmp_path / folder.split("/")[0]))
        (tmp_path / folder / extra).unlink()
    models = "{tv: {sigma: [oracle, estimated]}, bm3d: {}, dae: {latent_dim: [16]}}"
    table = bench.run(CI_CONFIG, out=tmp_path / "out", workers=1, models=yaml_free(models), noise={"gaussian": [0.1]},
                      speed_reference=False, evaluation={"datasets": {"camera": {"dataset": "pairs", "params": {"path": str(tmp_path / "pairs")}}}})
    real = table[table["eval_noise"] == "real"]
    scored = set(real["model"])
    assert {"noisy", "tv", "dae"} <= scored
    assert ("bm3d" in scored) == (importlib.util.find_spec("bm3d") is not None)  # bm3d where it is installed
    assert abs(real["eval_level"].iloc[0] - 0.1) < 0.02  # the mean residual σ of σ = 0.1, the same on every row
    assert real["eval_level"].nunique() == 1
    tv = real[real["model"] == "tv"]
    assert (tv["psnr"] > tv["psnr_noisy"] + 3).all() and len(tv) == 2
    settings = {}
    for path in (tmp_path / "out" / "runs").glob("tv-*.json"):
        evaluation = next(item for item in json.loads(path.read_text())["evaluations"] if item["noise"] == "real")
        settings[evaluation["settings"]["sigma_mode"]] = evaluation["settings"]
        assert evaluation["dataset"] == "camera" and len(evaluation["settings"]["sigma_true_per_image"]) == 3
    # told: each image's residual std; estimated: each image's own estimate, kept beside the truth
    assert settings["oracle"]["sigma_per_image"] == settings["oracle"]["sigma_true_per_image"]
    assert settings["estimated"]["sigma_estimator"].startswith("skimage.restoration.estimate_sigma")
    assert len(settings["estimated"]["sigma_per_image"]) == 3
    assert settings["estimated"]["sigma_per_image"] != settings["estimated"]["sigma_true_per_image"]


def yaml_free(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)
