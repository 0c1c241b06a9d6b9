"""Files are data: reading a results folder never imports code that its files name.

A results folder may come from anyone (a colleague's run, a download). Its config.yaml names
``plugins:`` and each checkpoint the ``module`` of its model; ``bench report``, ``leaderboard`` and
``check`` read them as text and numbers only. The trap: a real, importable module that writes a
sentinel file when imported.
"""

import importlib
import sys
import uuid
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import bench_here


def trap(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A module on ``sys.path`` that writes a sentinel file when imported: (its name, the sentinel)."""
    name = f"untrusted_{uuid.uuid4().hex}"  # a new name each time: never already imported
    sentinel = folder / "imported"
    code = folder / "code"
    code.mkdir()
    (code / f"{name}.py").write_text(f"from pathlib import Path\nPath({str(sentinel)!r}).write_text('imported')\n")
    monkeypatch.syspath_prepend(str(code))
    return name, sentinel


def name_code(run: Path, module: str, *, unknown_model: bool) -> None:
    """Make the folder's files name ``module``: the config's plugins (and, with ``unknown_model``, a model only
    a plugin could register), and every checkpoint's module, with its model renamed to one nothing registers."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["plugins"] = [module]
    if unknown_model:
        config["models"]["untrusted-model"] = {}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    for path in (run / "checkpoints").glob("*.pt"):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        torch.save(checkpoint | {"model": "untrusted-model", "module": module}, path)


def test_the_trap_springs_when_its_module_is_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without this, a sentinel that never appears would prove nothing."""
    module, sentinel = trap(tmp_path, monkeypatch)
    importlib.import_module(module)
    try:
        assert sentinel.read_text() == "imported"
    finally:
        sys.modules.pop(module, None)


COMMANDS = {
    "report": lambda run, tmp: [["report", str(run)]],
    "leaderboard": lambda run, tmp: [["leaderboard", str(run)], ["leaderboard", str(run), "--format", "json"]],
    "check": lambda run, tmp: [["check", str(run), "--baseline", str(tmp / "baseline.json"), "--update"],
                               ["check", str(run), "--baseline", str(tmp / "baseline.json")]],
}


@pytest.mark.parametrize("unknown_model", [False, True], ids=["built-in-names", "a-model-only-the-plugin-has"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_reading_a_results_folder_imports_nothing_it_names(ci_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture, command: str,
                                                           unknown_model: bool) -> None:
    module, sentinel = trap(tmp_path, monkeypatch)
    name_code(ci_copy, module, unknown_model=unknown_model)
    for plot in (ci_copy / "plots").glob("*.png"):
        plot.unlink()
    for arguments in COMMANDS[command](ci_copy, tmp_path):
        code, _, stderr = bench_here(capsys, *arguments)
        assert not sentinel.exists(), f"{' '.join(arguments)} imported {module}, named by the folder's files"
        assert code == 0, (arguments, stderr)
    assert module not in sys.modules
    if command == "report":  # everything but the example images, which would need the untrusted model
        assert "example images skipped" in stderr
        assert not list((ci_copy / "plots").glob("examples_*.png"))
        assert (ci_copy / "plots" / "quality_vs_noise_gaussian.png").is_file()
        assert f"--plugin {module}" in stderr  # the reason names the flag that would trust the plugin
