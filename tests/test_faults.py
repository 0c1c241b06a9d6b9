"""Faults from outside: the sweep's process killed, one worker killed (as the OOM killer does), a full
disk, and a results folder that is not ours. Process faults cross the process boundary and are
``heavy`` (CI runs them; `make test-all` too)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from bench import store as store_module
from tests.conftest import CI_CONFIG, CI_SETTINGS, REPOSITORY, bench_command as command, bench_here, ci_sweep_here

LONGER = ("--set", "train.epochs=40")  # cells that are still training when the fault comes


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def workers_of(pid: int) -> list[int]:
    """The spawned cell workers of process ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start_sweep(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(command("sweep", CI_CONFIG, "--out", str(out), "--workers", "2", "--quiet", *CI_SETTINGS, *LONGER,
                                    *extra),
                            cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


requires_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to find the workers")


@pytest.mark.heavy
@requires_proc
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_process_of_ours_outlives_the_sweep_killed(tmp_path: Path, how: signal.Signals) -> None:
    """The sweep's own process alone is killed (not its group): its workers and multiprocessing's
    resource tracker must end too, checked by the process group they all share."""
    process = start_sweep(tmp_path / "killed")
    wait_until(lambda: len(workers_of(process.pid)) == 2)
    os.kill(process.pid, how)
    process.communicate(timeout=60)
    try:
        wait_until(lambda: not group_alive(process.pid), timeout=20)
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.heavy
@requires_proc
def test_a_killed_worker_fails_its_own_cell_and_the_sweep_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "oom"
    process = start_sweep(out)
    wait_until(lambda: len(workers_of(process.pid)) == 2 and (out / "runs").is_dir())
    wait_until(lambda: any((out / "runs").glob("*.json")))  # the noisy cell is done: both workers train a DAE
    os.kill(workers_of(process.pid)[0], signal.SIGKILL)  # as the OOM killer does
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    records = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    failed = [record for record in records if record["status"] == "failed"]
    assert len(records) == 3 and len(failed) == 1
    assert "killed by SIGKILL" in failed[0]["error"]
    assert len(pd.read_csv(out / "results.csv")) == 5  # 2 rows each for the finished cells, 1 for the failed one
    wait_until(lambda: not group_alive(process.pid), timeout=20)  # the resource tracker follows its parent out


def no_space(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_fails_the_cell_or_stops_in_one_line_and_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A fake disk that fills up: writes whose data reach ``fsync`` fail with ENOSPC, as on a full disk."""
    baselines = ("models={tv: {}}",)
    out = tmp_path / "full"
    real = store_module.os.fsync
    full = {"after": 10**9}  # writes allowed before the disk is full

    def fsync(descriptor: int) -> None:
        full["after"] -= 1
        if full["after"] < 0:
            no_space()
        real(descriptor)

    monkeypatch.setattr(store_module.os, "fsync", fsync)
    # 1. the disk fills up while a record is written: the record cannot be written, and then neither
    #    can the failed one: the sweep stops in one line, exit 2
    full["after"] = 3  # the marker, config.yaml and env.json
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--workers", "1", "--quiet",
                                 *CI_SETTINGS, "--set", baselines[0])
    assert code == 2 and stderr.count("\n") == 1 and "No space left on device" in stderr, stderr
    assert not [path for path in out.rglob("*") if path.name.endswith(".tmp")]
    # 2. room for small files only: a checkpoint too large to fit fails its cell, recorded; no .pt.tmp stays
    real_write = store_module.write_atomically

    def small_only(path: Path, data: bytes) -> None:
        if len(data) > 20_000:
            no_space()
        real_write(path, data)

    full["after"] = 10**9
    monkeypatch.setattr("bench.checkpoints.write_atomically", small_only)
    outcome = ci_sweep_here(tmp_path / "small", "models.dae.latent_dim=[16]", "noise={gaussian: [0.1]}", "train.epochs=1")
    failed = {record.model: record.error for record in outcome.failed}
    assert list(failed) == ["dae"] and "No space left on device" in failed["dae"]
    assert not [path for path in (tmp_path / "small").rglob("*") if path.name.endswith(".tmp")]


def test_a_failed_write_removes_its_temporary_file_and_names_the_users_path(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module.os, "fsync", no_space)
    target = tmp_path / "results.csv"
    with pytest.raises(OSError) as raised:
        store_module.write_text(target, "x" * 1000)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def tmpfs_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, timeout=20)
    return probe.returncode == 0


@pytest.mark.heavy
def test_a_real_full_disk_is_a_failed_cell_or_one_line(tmp_path: Path) -> None:
    """The same on a real 2.5 MB tmpfs, in a user and mount namespace (skipped where they are not allowed)."""
    if not tmpfs_available():
        pytest.skip("unprivileged user and mount namespaces are not allowed here (unshare -rm)")
    mount = tmp_path / "disk"
    mount.mkdir()
    sweep = " ".join(command("sweep", CI_CONFIG, "--out", str(mount / "out"), "--workers", "2", "--quiet", *CI_SETTINGS))
    script = f"mount -t tmpfs -o size=2500k tmpfs {mount} && {sweep}; echo exit=$?; ls -aR {mount}"
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPOSITORY, capture_output=True, text=True, timeout=600)
    exit_code = int(result.stdout.split("exit=")[1].split()[0])
    assert exit_code in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    if exit_code == 2:
        assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert ".tmp" not in result.stdout.split("exit=")[1]  # the listing of the disk: no partial file


def test_a_folder_that_is_not_ours_is_refused_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.yaml").write_text("my own notes\n")
    (folder / ".draft.tmp").write_text("draft")
    baselines = ("--set", "models={noisy: {}}")
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(folder), "--quiet", *baselines)
    assert code == 2 and "holds no results of ours" in stderr and "--force" in stderr
    assert sorted(path.name for path in folder.iterdir()) == [".draft.tmp", "config.yaml"]
    assert (folder / "config.yaml").read_text() == "my own notes\n"
    code, _, _ = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(folder), "--quiet", "--force", *baselines)
    assert code == 0 and (folder / "results.csv").exists() and (folder / ".draft.tmp").read_text() == "draft"


def test_another_sweeps_folder_is_refused_unless_fresh(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "shared"
    baselines = ("--set", "models={noisy: {}}")
    assert bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--quiet", *baselines)[0] == 0
    other = ("--set", "name=other", *baselines)
    code, _, stderr = bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--quiet", *other)
    assert code == 2 and "holds the results of sweep 'ci'" in stderr
    assert bench_here(capsys, "sweep", CI_CONFIG, "--out", str(out), "--quiet", "--fresh", *other)[0] == 0
    assert list(out.glob("previous-*/results.csv")) and (out / "results.csv").exists()
