"""The second round of hardening: each test hunts a class of hostile input or code, not one instance.

Plugins are written as files into a temporary folder (a plugin's source is hashed from its file, and
spawned workers import it by name), each test with module and registry names of its own.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import shlex
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from rich.console import Console

from bench.apply import load_checkpoint
from bench.cell import run_cell
from bench.sweep_data import SweepData, prepare_data
from bench.cli import resume_command
from bench.config import ConfigError, load_config
from bench.grid import build_cells
from bench.record import CellRecord, read_evaluation
from bench.store import ResultStore, StoreError
from bench.sweep import run_sweep
from tests.conftest import CI_CONFIG, bench_here

FEW = settings(max_examples=25, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TINY = ["speed_reference=false", "train.epochs=1", "train.batch_size=16", "data.params={tiles: 2}"]


def write_module(folder: Path, name: str, source: str) -> Path:
    """A plugin module ``name`` in ``folder`` (on sys.path), imported afresh (its edits included)."""
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return path


def sweep_here(out: Path, *overrides: str, workers: int = 1):
    config = load_config(Path(CI_CONFIG), [*TINY, *overrides])
    return run_sweep(config, out, workers=workers, console=Console(file=io.StringIO()))


def scores(outcome, model: str) -> list[tuple]:
    """(data set, noise, level, PSNR, SSIM, noisy PSNR) of every evaluation of ``model``'s cells."""
    return sorted((item.dataset, item.noise, item.level, item.psnr, item.ssim, item.psnr_noisy)
                  for record in outcome.records if record.model == model for item in record.evaluations)


# ----------------------------------------------------------------------------- 1. files are data


def test_a_checkpoint_naming_a_module_never_imports_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    """bench denoise and load_checkpoint: the module a checkpoint names is named back, never imported."""
    monkeypatch.syspath_prepend(str(tmp_path))
    sentinel = tmp_path / "imported"
    write_module(tmp_path, "evil_checkpoint", f"open({str(sentinel)!r}, 'w').write('ran')\n")
    from denoiser.models import create_model

    path = tmp_path / "model.pt"
    state = create_model("dncnn", depth=3, width=4).state_dict()
    torch.save({"model": "evil-model", "params": {}, "state_dict": state, "module": "evil_checkpoint"}, path)
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(image)
    with pytest.raises(Exception, match="--plugin evil_checkpoint"):
        load_checkpoint(path)
    code, _, stderr = bench_here(capsys, "denoise", str(image), "--checkpoint", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and stderr.count("\n") == 1 and "pass --plugin evil_checkpoint" in stderr, stderr
    assert not sentinel.exists() and "evil_checkpoint" not in sys.modules


# ----------------------------------------------------------------------------- 2 and 7. isolation

VANDALS = """
import numpy as np
import torch
from torch import nn
from denoiser import register_baseline, register_model


def vandalise():
    # what a careless plugin can do to its process
    torch.set_num_threads(2)
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    torch.manual_seed(12345)
    np.random.seed(12345)


@register_baseline("{prefix}-baseline")
def baseline(noisy, noise):
    '''Returns its input, after writing garbage into it.'''
    estimate = noisy.clone()
    noisy.fill_(0.5)
    object.__setattr__(noise, "level", 0.9)  # its σ is recorded after the call
    vandalise()
    return estimate


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        out = (x + 0.0 * self.layer(x)).clamp(0, 1)
        if not self.training:  # in validation and evaluation: write into the input, change the thread count
            x.mul_(0.0)
            torch.set_num_threads(2)
        return out


@register_model("{prefix}-model")
def model():
    '''The identity, with one weight, writing into its input.'''
    return Model()
"""


def write_pairs(folder: Path, count: int = 2) -> Path:
    generator = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for index in range(count):
        clean = np.linspace(40, 200, 48 * 40).reshape(40, 48)
        noisy = np.clip(clean + generator.normal(0, 20, clean.shape), 0, 255)
        Image.fromarray(clean.astype(np.uint8)).save(folder / f"{index}_clean.png")
        Image.fromarray(noisy.astype(np.uint8)).save(folder / f"{index}_noisy.png")
    return folder


def test_no_cell_can_change_another_cells_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model and a baseline that write into their inputs and change the thread count, default dtype,
    grad mode and global seeds, run before innocent cells in the same process (training data, test
    split, whole images and shared pairs): the innocent cells score exactly as without them, and the
    vandals' own noisy-input scores are the harness's."""
    monkeypatch.syspath_prepend(str(tmp_path))
    write_module(tmp_path, "vandals_isolation", VANDALS.replace("{prefix}", "iso"))
    pairs = write_pairs(tmp_path / "pairs")
    whole = tmp_path / "whole"
    whole.mkdir()
    for index in range(2):
        Image.fromarray(np.random.default_rng(index).integers(0, 255, (40, 52), np.uint8)).save(whole / f"{index}.png")
    evaluation = ("evaluation.datasets={pairs: {dataset: pairs, params: {path: %s}}, whole: {dataset: folder, "
                  "params: {path: %s}}}" % (pairs, whole))
    innocent = "models={tv: {}, dncnn: {depth: 3, width: 4}}"
    vandals = "models={iso-baseline: {}, tv: {}, iso-model: {}, dncnn: {depth: 3, width: 4}}"
    clean = sweep_here(tmp_path / "clean", innocent, evaluation, "plugins=[vandals_isolation]")
    dirty = sweep_here(tmp_path / "dirty", vandals, evaluation, "plugins=[vandals_isolation]")
    assert all(record.status == "ok" for record in dirty.records), [record.error for record in dirty.records]
    for model in ("noisy", "tv", "dncnn"):
        assert scores(dirty, model) == scores(clean, model), model
    identity = {key[:3]: key[3:] for key in scores(dirty, "noisy")}
    for vandal in ("iso-baseline", "iso-model"):  # the identity, scored on the harness's own noisy images
        for key in scores(dirty, vandal):
            assert key[5] == identity[key[:3]][2], (vandal, key)  # the noisy input's PSNR: not the garbage
            assert abs(key[3] - identity[key[:3]][0]) < 1e-3, (vandal, key)
    vandal = next(record for record in dirty.records if record.model == "iso-baseline")
    assert all(item.settings["sigma"] == item.level for item in vandal.evaluations if item.noise == "gaussian")
    assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()


# ----------------------------------------------------------------------------- 3. resume knows the code

PIECES = """
import torch
from torch import nn
from denoiser import register_baseline, register_model, register_noise, register_dataset, ImageSet
from denoiser.noise import GaussianNoise

VERSION = 1


@register_baseline("{prefix}-baseline")
def baseline(noisy, noise):
    '''Halfway to grey.'''
    return noisy * 0.5 + 0.25


@register_model("{prefix}-model")
def model():
    '''One convolution.'''
    return nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Sigmoid())


@register_noise("{prefix}-noise")
def noise(level: float):
    '''Gaussian noise.'''
    return GaussianNoise(level)


@register_dataset("{prefix}-data")
def data():
    '''Random tiles, twelve sources.'''
    images = torch.rand(24, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    return ImageSet(images, torch.arange(24) // 2, tuple(str(index) for index in range(12)))
"""


@pytest.mark.parametrize("piece", ["model", "baseline", "noise", "data"])
def test_a_changed_plugin_reruns_exactly_the_cells_it_made(piece: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    prefix, modules = f"code-{piece}", {}
    for part in ("model", "baseline", "noise", "data"):  # one module per piece, so that one can change alone
        name = f"pieces_{piece}_{part}"
        source = PIECES.replace("{prefix}", prefix)
        keep = {"model": "register_model", "baseline": "register_baseline", "noise": "register_noise", "data": "register_dataset"}[part]
        blocks = source.split("\n\n\n")
        source = "\n\n\n".join(block for block in blocks if "@register" not in block or f"@{keep}(" in block)
        modules[part] = write_module(tmp_path, name, source)
    overrides = [f"plugins=[{', '.join(path.stem for path in modules.values())}]",
                 f"models={{{prefix}-model: {{}}, {prefix}-baseline: {{}}, tv: {{}}}}",
                 f"noise={{{prefix}-noise: [0.1]}}", f"data.dataset={prefix}-data", "data.params={}"]
    first = sweep_here(tmp_path / "out", *overrides)
    assert all(record.status == "ok" for record in first.records), [record.error for record in first.records]
    assert all(record.code for record in first.records)
    modules[piece].write_text(modules[piece].read_text().replace("VERSION = 1", "VERSION = 2"))
    second = sweep_here(tmp_path / "out", *overrides)
    users = {"model": {f"{prefix}-model"}, "baseline": {f"{prefix}-baseline"}}.get(piece, {record.model for record in first.records})
    rerun = {record.model for record in second.records if record.cell_id in second.reruns}
    assert rerun == users
    assert second.skipped == len(second.cells) - len(users)
    assert all(f"{'data set' if piece == 'data' else piece} {prefix}-{piece}" in " ".join(second.reruns[cell_id])
               for cell_id in second.reruns)


def test_built_in_cells_carry_the_package_version() -> None:
    config = load_config(Path(CI_CONFIG), TINY)
    import denoiser

    for cell in build_cells(config):
        assert set(cell.code.values()) == {f"denoise-bench {denoiser.__version__}"}


# ----------------------------------------------------------------------------- 4. cell timeout

HANGS = """
import time
import threading
from denoiser import register_baseline


@register_baseline("hang-sleep")
def sleeping(noisy, noise):
    '''Never returns: sleeps.'''
    time.sleep(3600)


@register_baseline("hang-wait")
def waiting(noisy, noise):
    '''Never returns: waits on a lock nobody releases.'''
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()


@register_baseline("hang-spin")
def spinning(noisy, noise):
    '''Never returns: a busy loop.'''
    while True:
        pass
"""


@pytest.mark.parametrize("workers, hang", [(1, "hang-sleep"), pytest.param(2, "hang-wait", marks=pytest.mark.heavy),
                                           pytest.param(2, "hang-spin", marks=pytest.mark.heavy)])
def test_a_cell_that_never_returns_is_failed_and_the_sweep_goes_on(workers: int, hang: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_module(tmp_path, "hangs", HANGS)
    outcome = sweep_here(tmp_path / "out", f"models={{{hang}: {{}}, tv: {{}}}}", "plugins=[hangs]", "cell_timeout=5",
                         workers=workers)
    status = {record.model: (record.status, record.error) for record in outcome.records}
    assert status[hang] == ("failed", "timed out after 5 s")
    assert status["tv"][0] == status["noisy"][0] == "ok"


# ----------------------------------------------------------------------------- 5. non-finite numbers

@pytest.fixture(scope="module")
def baseline_cells(tmp_path_factory: pytest.TempPathFactory):
    """A config, its data and a store, to run baseline cells one at a time."""
    config = load_config(Path(CI_CONFIG), TINY + ["models={tv: {}}"])
    store = ResultStore(tmp_path_factory.mktemp("non-finite"))
    store.create()
    return config, prepare_data(config), store


POISON = """
import torch
from denoiser import register_baseline


@register_baseline("poison")
def poison(noisy, noise, value: float = 0.0, index: int = 0):
    '''The input, one pixel replaced by value.'''
    estimate = noisy.clone()
    estimate.view(-1)[index % estimate.numel()] = value
    return estimate
"""


@FEW
@given(value=st.sampled_from([math.nan, math.inf, -math.inf]), index=st.integers(0, 10**6))
def test_a_non_finite_number_anywhere_fails_its_cell(value: float, index: int, baseline_cells, tmp_path_factory) -> None:
    config, data, store = baseline_cells
    folder = tmp_path_factory.getbasetemp() / "poison-module"
    folder.mkdir(exist_ok=True)
    if "poison" not in sys.modules:
        write_module(folder, "poison", POISON)
        sys.path.insert(0, str(folder))
        importlib.import_module("poison")
    from bench.grid import Cell

    cell = Cell("poison-0", "poison", {"value": value, "index": index}, False, None, None, None)
    record = run_cell(cell, config, store, data, lambda event: None)
    assert record.status == "failed" and "not a finite number" in record.error and not record.evaluations, record.error


@FEW
@given(field=st.sampled_from(["mse", "psnr", "ssim", "psnr_noisy", "ssim_noisy", "psnr_per_image", "ssim_per_image"]),
       value=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_a_stored_ok_record_with_a_non_finite_number_is_read_as_failed(field: str, value: float) -> None:
    # the older form of an evaluation (metrics as named fields), as records written before the registry hold it
    evaluation = dict(noise="gaussian", level=0.1, mse=0.01, psnr=20.0, ssim=0.5, psnr_std=1.0, ssim_std=0.1,
                      psnr_noisy=20.0, ssim_noisy=0.4, n_images=1, delta_psnr=0.0, psnr_per_image=[20.0], ssim_per_image=[0.5])
    evaluation[field] = [value] if field.endswith("per_image") else value
    record = CellRecord(cell_id="tv-0", sweep="ci", model="tv", params={}, learned=False, dataset="d", split="by-source",
                        noise=None, train_level=None, seed=None, evaluations=[read_evaluation(evaluation)])
    read = CellRecord.from_dict(json.loads(record.to_json()))
    assert read.status == "failed" and "not a finite number" in read.error and read.rows()[0].get("psnr") is None


# ----------------------------------------------------------------------------- 6. bounds before work

@pytest.mark.parametrize("override, message", [
    ("seeds=[18446744073709551616]", "seeds: "),
    ("data.seed=4294967296", "data.seed: "),
    ("evaluation.seed=-1", "evaluation.seed: "),
    ("train.learning_rate=1e300", "train.learning_rate: "),
    ("threads=1000000", "threads: "),
    ("data.params={tiles: 1000}", "tiles must be between 1 and 64"),
    ("data.augment_copies=100000", "data.augment_copies: "),
    ("noise={poisson: [1e300]}", "poisson photon scale"),
    ("evaluation.tile_stride=65", "evaluation.tile_stride: 65 is wider than dae's 64×64 window"),
    ("name='  '", "name: "),
    ("data.name='\t'", "data.name: "),
    ("name=" + "x" * 101, "at most 100"),
    ("cell_timeout=-1", "cell_timeout: "),
    ("train={patch_size: 40, patches_per_epoch: 1000000000}", "train.patches_per_epoch: "),
    ("seeds=[" + ", ".join(map(str, range(5001))) + "]", "10,003 cells; at most 10,000"),
])
def test_a_bound_is_checked_at_load_in_one_line_with_nothing_written(override: str, message: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--quiet", "--set", override)
    assert code == 2 and stderr.count("\n") == 1 and message in stderr, stderr
    assert not out.exists()


def test_evaluation_sets_too_large_for_memory_are_refused_from_their_headers(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.checks  # where the limit is read

    folder = tmp_path / "big"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(folder / "a.png")
    monkeypatch.setattr(bench.checks, "MAX_EVALUATION_IMAGES_BYTES", 4 * 40 * 50 - 1)  # one pixel short
    for spec in ("{dataset: folder, params: {path: %s}}", "{dataset: pairs, params: {path: %s}}"):
        if "pairs" in spec:
            (folder / "a.png").rename(folder / "a_clean.png")
            Image.fromarray(np.zeros((40, 50), np.uint8)).save(folder / "a_noisy.png")
            monkeypatch.setattr(bench.checks, "MAX_EVALUATION_IMAGES_BYTES", 2 * 4 * 40 * 50 - 1)
        with pytest.raises(ConfigError, match="evaluation.datasets: 0 megapixels"):
            load_config(Path(CI_CONFIG), ["evaluation.datasets={x: %s}" % (spec % folder)])


NO_WEIGHTS = """
from torch import nn
from denoiser import register_model


@register_model("no-weights")
def no_weights():
    '''The identity: nothing to train.'''
    return nn.Identity()
"""


def test_a_model_without_parameters_is_refused_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_module(tmp_path, "no_weights", NO_WEIGHTS)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        load_config(Path(CI_CONFIG), ["plugins=[no_weights]", "models={no-weights: {}}"])


@pytest.mark.parametrize("side", [1, 5, 10])
def test_whole_images_smaller_than_ssims_window_are_refused_before_any_cell(side: int, tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    Image.fromarray(np.full((side, 40), 128, np.uint8)).save(folder / "a.png")
    with pytest.raises(ConfigError, match="smaller than SSIM's 11×11 window"):
        sweep_here(tmp_path / "out", "evaluation.datasets={tiny: {dataset: folder, params: {path: %s}}}" % folder)
    assert not (tmp_path / "out").exists()


def test_the_dae_scores_whole_images_smaller_than_its_window(tmp_path: Path) -> None:
    """11×11 up to 64×64: tiled with the edge repeated where reflection cannot reach (no late failure)."""
    folder = tmp_path / "small"
    folder.mkdir()
    for side in (11, 20, 33, 63):
        Image.fromarray(np.random.default_rng(side).integers(0, 255, (side, side + 3), np.uint8)).save(folder / f"{side}.png")
    outcome = sweep_here(tmp_path / "out", "models={dae: {latent_dim: 4}}", "noise={gaussian: [0.1]}",
                         "evaluation.datasets={small: {dataset: folder, params: {path: %s}}}" % folder)
    assert [record.status for record in outcome.records] == ["ok", "ok"], [record.error for record in outcome.records]


def test_a_long_registered_name_is_refused_when_registered() -> None:
    from denoiser.errors import ConfigurationError
    from denoiser.registry import Registry

    registry: Registry = Registry("model")
    for name in ("x" * 101, "é" * 51, " ", "a\nb", "a\tb", "a/b"):
        with pytest.raises(ConfigurationError, match="name"):
            registry.register(name)(lambda: None)


# ----------------------------------------------------------------------------- 8. a lock on --out

@pytest.mark.parametrize("flags", [[], ["--fresh"], ["--force"]])
def test_a_second_sweep_on_a_folder_in_use_is_refused(flags: list[str], ci_copy: Path, capsys: pytest.CaptureFixture) -> None:
    records = sorted(path.name for path in (ci_copy / "runs").iterdir())
    with ResultStore(ci_copy).lock():
        code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(ci_copy), "--quiet", *flags,
                                     "--set", "speed_reference=false")
    assert code == 2 and stderr.count("\n") == 1 and "is in use by another sweep" in stderr
    assert f"pid {os.getpid()}" in stderr
    assert sorted(path.name for path in (ci_copy / "runs").iterdir()) == records  # nothing moved aside or written


def test_a_stale_lock_is_taken_over(ci_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (ci_copy / ".denoise-bench.lock").write_text("pid 999999 on elsewhere, started long ago\n")  # its process is gone
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(ci_copy), "--quiet", "--set", "speed_reference=false")
    assert code == 0, stderr


def test_the_lock_is_refused_to_any_other_holder(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with store.lock():
        with pytest.raises(StoreError, match="in use by another sweep"):
            with ResultStore(tmp_path).lock():
                pass
    with ResultStore(tmp_path).lock():  # released with its holder
        pass


# ----------------------------------------------------------------------------- 9. small ones

@FEW
@given(path=st.lists(st.sampled_from(["models", "data", "train", "noise", "x"]), min_size=1, max_size=3))
def test_a_key_given_twice_in_any_mapping_is_refused(path: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    text = ""
    for depth, key in enumerate(path[:-1]):
        text += "  " * depth + f"{key}:\n"
    indent = "  " * (len(path) - 1)
    text += f"{indent}{path[-1]}: 1\n{indent}{path[-1]}: 2\n"
    config = tmp_path_factory.mktemp("dup") / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match="appears twice"):
        load_config(config)


@FEW
@given(arguments=st.lists(st.text(min_size=0, max_size=12), max_size=5))
def test_the_printed_resume_command_is_the_same_command_in_a_shell(arguments: list[str]) -> None:
    assert shlex.split(resume_command(arguments))[3:] == arguments


@FEW
@given(name=st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\r", "\x00", "\x1b", "\u2028"]), min_size=1, max_size=4))
def test_a_blank_or_control_name_is_refused(name: str) -> None:
    for key in ("name", "data.name"):
        with pytest.raises(ConfigError, match=key.split(".")[-1]):
            load_config(Path(CI_CONFIG), [f"{key}={json.dumps(name)}"])
    with pytest.raises(ConfigError):
        load_config(Path(CI_CONFIG), ["evaluation.datasets={%s: {dataset: skimage-natural}}" % json.dumps(name)])


@pytest.mark.heavy
def test_two_sweeps_started_together_on_one_folder_run_once(tmp_path: Path) -> None:
    """The race of the issue: two processes on one --out, half a second apart; one runs, one is refused."""
    import subprocess
    import time

    from tests.conftest import REPOSITORY, bench_command

    command = bench_command("sweep", CI_CONFIG, "--out", str(tmp_path / "out"), "--quiet", "--set", "speed_reference=false")
    first = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    _, first_error = first.communicate(timeout=300)
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 2], (first_error, second.stderr)
    refused = second.stderr if second.returncode == 2 else first_error
    assert "is in use by another sweep" in refused and refused.count("\n") == 1
