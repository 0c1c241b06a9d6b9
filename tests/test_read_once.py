"""A results folder is read once per command: each record parsed once after the cells ran, one frame built, and
the report of a sweep drawn from the config and images the sweep already holds."""

from collections import Counter
from pathlib import Path

import pytest

from bench import config as config_module
from bench import results as results_module
from bench import sweep as sweep_module
from bench import sweep_data
from bench.record import CellRecord
from tests.conftest import CI_CONFIG, CI_SETTINGS, bench_here


class Reads:
    """Counts, from the moment ``counting`` is set: record parses per cell, frames built, configs and data loaded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, counting: bool = True) -> None:
        self.counting = counting
        self.parses: Counter[str] = Counter()
        self.frames = self.configs = self.data = 0
        parse, frame = CellRecord.from_dict.__func__, results_module.results_frame  # type: ignore[attr-defined]
        load_config, prepare_data = config_module.load_config, sweep_data.prepare_data

        def counted_parse(cls: type, data: object) -> CellRecord:
            record = parse(cls, data)
            self.parses[record.cell_id] += self.counting
            return record

        def counted_frame(records: list) -> object:
            self.frames += self.counting
            return frame(records)

        def counted_config(*arguments: object, **options: object) -> object:
            self.configs += 1
            return load_config(*arguments, **options)

        def counted_data(*arguments: object) -> object:
            self.data += 1
            return prepare_data(*arguments)

        monkeypatch.setattr(CellRecord, "from_dict", classmethod(counted_parse))
        monkeypatch.setattr(results_module, "results_frame", counted_frame)
        monkeypatch.setattr(config_module, "load_config", counted_config)
        for module in (sweep_data, sweep_module):
            monkeypatch.setattr(module, "prepare_data", counted_data)


def test_a_sweep_reads_each_record_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Planning reads the stored records once (which cells are finished, whose code changed); the cells run
    here are read once they ran; the summary, results.csv, leaderboard.md, the plots and report.html share
    that one reading. So does a resumed sweep: its finished records are read when planning, and only then."""
    reads = Reads(monkeypatch)
    out = tmp_path / "ci"
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--workers", "1", *CI_SETTINGS)
    assert code == 0, stderr
    cells = [path.stem for path in (out / "runs").glob("*.json")]
    assert reads.parses == {cell: 1 for cell in cells}
    assert reads.frames == 1
    assert (reads.configs, reads.data) == (1, 1)  # the report drew its examples from the sweep's own config and images
    assert len(list((out / "plots").glob("examples_*.png"))) == 1

    (out / "runs" / f"{cells[0]}.json").unlink()  # one cell to run again, the others finished
    reads.parses.clear()
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--workers", "1", *CI_SETTINGS)
    assert code == 0, stderr
    assert reads.parses == {cell: 1 for cell in cells}


@pytest.mark.parametrize("command", [["report"], ["leaderboard"], ["leaderboard", "--format", "json"], ["check"]])
def test_a_command_on_a_results_folder_reads_each_record_once(
    ci_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, command: list[str]
) -> None:
    baseline = ["--baseline", str(tmp_path / "ci.json"), "--update"] if command == ["check"] else []
    reads = Reads(monkeypatch)
    code, _, stderr = bench_here(capsys, *command, str(ci_copy), *baseline)
    assert code == 0, stderr
    assert reads.parses == {path.stem: 1 for path in (ci_copy / "runs").glob("*.json")}
    assert reads.frames == (0 if command == ["check"] else 1)  # the gate reads records, not rows
