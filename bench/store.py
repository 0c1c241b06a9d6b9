"""The results folder of one sweep (SPEC §8): records, checkpoints, flat rows, config and environment.

Every file is written atomically (a temporary file in the same folder, then a rename),
so a sweep killed at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.record import CellRecord, RecordError
from denoiser.errors import DenoiserError

logger = logging.getLogger(__name__)


class StoreError(DenoiserError):
    """The results folder cannot be used (not writable, not a folder, …)."""


MARKER = ".denoise-bench"  # in every results folder: which sweep it holds
LOCK = ".denoise-bench.lock"  # held (flock) by the sweep writing the folder: its pid, command and start
MANIFEST = "cells.json"  # the cells of the sweep as last run (see ResultStore.current_records)

_TEMPORARY = re.compile(r"\.[^/]+\.(\d+)\.tmp")  # what write_atomically names its temporary files


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    A failed write (a full disk, a lost permission) leaves no partial file: the temporary one is
    removed and the error raised, with the path the user asked for."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None  # named by the user's path, not ours
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_atomically(path, text.encode())


class ResultStore:
    """``root/``: config.yaml, env.json, runs/<cell-id>.json, checkpoints/<cell-id>.pt, results.csv (written from
    the records by :meth:`bench.results.Results.write_csv`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs = root / "runs"
        self.checkpoints = root / "checkpoints"

    def create(self) -> None:
        """Make the folders, or fail in one line if they cannot be written; remove the temporary
        files of writes that a killed run left unfinished (the old file, if any, is intact)."""
        try:
            for folder in (self.root, self.runs, self.checkpoints):
                folder.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            self.remove_leftovers()
        except (FileExistsError, NotADirectoryError):
            raise StoreError(f"{self.root}: cannot create the output folder (the path or a parent of it is a file)") from None
        except PermissionError:
            raise StoreError(f"{self.root}: output folder is not writable") from None
        except OSError as error:
            raise StoreError(f"{self.root}: cannot write the output folder ({error.strerror})") from None

    def remove_leftovers(self) -> None:
        """Delete temporary files of writes that never finished (their process is gone): only ours,
        ``.<name>.<pid>.tmp`` exactly, never a user's own ``.draft.tmp``."""
        for folder in (self.root, self.runs, self.checkpoints):
            for leftover in folder.glob(".*.tmp"):
                match = _TEMPORARY.fullmatch(leftover.name)
                if match is not None and leftover.is_file() and not _process_alive(match.group(1)):
                    leftover.unlink(missing_ok=True)

    def claim(self, sweep: str, *, fresh: bool = False, force: bool = False) -> None:
        """Check that ``root`` may hold ``sweep``'s results, before anything is written there.

        A folder that is not empty and not a results folder of ours (no marker, no ``runs/``) is
        refused: its config.yaml or report.html would be replaced. So is one that holds another
        sweep's results (another config name), unless ``fresh`` moves them aside. ``force`` (the
        user's word) allows both. Changed settings of the same sweep are not refused: the cells
        they affect are recomputed, the others kept (see README, "Resume")."""
        if force or not self.root.is_dir():
            return
        try:
            present = [path.name for path in self.root.iterdir()]
        except OSError as error:
            raise StoreError(f"{self.root}: cannot read the output folder ({error.strerror})") from None
        present = [name for name in present if name != LOCK]  # left by a sweep of ours, running or not
        if not present:
            return
        marker = self.root / MARKER
        if not marker.is_file() and not (self.root / "runs").is_dir():
            shown = ", ".join(sorted(present)[:3]) + (", …" if len(present) > 3 else "")
            raise StoreError(
                f"{self.root} is not empty ({shown}) and holds no results of ours: "
                "choose another --out, or add --force to write into it"
            )
        owner = self.owner()
        if owner is not None and owner != sweep and not fresh:
            raise StoreError(
                f"{self.root} holds the results of sweep {owner!r}, not {sweep!r}: choose another --out, "
                "add --fresh to move them aside, or --force to mix them"
            )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one sweep: a second sweep on it, from any process, is refused in one line
        naming the process that holds it. The lock is the kernel's (``flock``), so it ends with its
        process however that ends: the lock file a killed sweep left is simply taken over."""
        path = self.root / LOCK
        try:
            handle = open(path, "a+")
        except OSError as error:
            raise StoreError(f"{path}: cannot open the folder's lock ({error.strerror})") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = " ".join(handle.read(300).split()) or "another process"
                raise StoreError(
                    f"{self.root} is in use by another sweep ({holder}): wait for it to end, or choose another --out"
                ) from None
            except OSError:  # a file system without locks (some network ones): go on unlocked
                logger.warning("%s: the file system cannot lock it; two sweeps on it would not be refused", self.root)
            handle.seek(0)
            handle.truncate()
            handle.write(
                f"pid {os.getpid()} on {platform.node()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                f"{' '.join(sys.argv)[:200]}\n"
            )
            handle.flush()
            yield
        finally:
            handle.close()  # releases the lock

    def owner(self) -> str | None:
        """The name of the sweep whose results the folder holds, from its marker (None: unknown)."""
        try:
            owner = json.loads((self.root / MARKER).read_text()).get("sweep")
        except (OSError, ValueError, AttributeError):
            return None
        return owner if isinstance(owner, str) else None

    def mark(self, sweep: str) -> None:
        """Say that the folder holds ``sweep``'s results (see ``claim``)."""
        write_text(self.root / MARKER, json.dumps({"tool": "denoise-bench", "sweep": sweep}) + "\n")

    def move_aside(self) -> Path | None:
        """For ``--fresh``: move the previous records into ``previous-<time>/``; returns that folder."""
        present = [path for path in self._result_paths() if path.exists()]
        if not present:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside, number = self.root / f"previous-{stamp}", 1
        while aside.exists():  # two --fresh runs in one second
            number += 1
            aside = self.root / f"previous-{stamp}-{number}"
        aside.mkdir()
        for path in present:
            shutil.move(str(path), str(aside / path.name))
        return aside

    def _result_paths(self) -> list[Path]:
        names = [
            "runs",
            "checkpoints",
            MANIFEST,
            "results.csv",
            "config.yaml",
            "env.json",
            "leaderboard.md",
            "report.html",
            "plots",
            MARKER,
        ]
        return [self.root / name for name in names]

    # ------------------------------------------------------------------ records

    def record_path(self, cell_id: str) -> Path:
        return self.runs / f"{cell_id}.json"

    def checkpoint_path(self, cell_id: str) -> Path:
        return self.checkpoints / f"{cell_id}.pt"

    def write_record(self, record: CellRecord) -> None:
        write_text(self.record_path(record.cell_id), record.to_json())

    def read_record(self, cell_id: str) -> CellRecord | None:
        """The stored record of a cell, or None if there is none (or only an unreadable one, which is recomputed)."""
        try:
            return CellRecord.from_dict(json.loads(self.record_path(cell_id).read_text()))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecordError, RecursionError):
            return None

    def read_records(self, cell_ids: Iterable[str] | None = None) -> list[CellRecord]:
        """Records of ``cell_ids`` (all records when None), in that order, skipping missing ones."""
        if cell_ids is None:
            cell_ids = sorted(path.stem for path in self.runs.glob("*.json"))
        records = (self.read_record(cell_id) for cell_id in cell_ids)
        return [record for record in records if record is not None]

    # ------------------------------------------------------------------ the other files

    def write_manifest(self, cell_ids: Iterable[str]) -> None:
        """``cells.json``: the cells of the sweep as last run, in grid order, so that the records of an
        interrupted run (no results.csv yet) can be read without the config, its plugins or the data."""
        write_text(self.root / MANIFEST, json.dumps({"cells": list(cell_ids)}, indent=1) + "\n")

    def current_records(self) -> list[CellRecord]:
        """The records of the cells in the manifest (the sweep as last run), in grid order; every
        record in ``runs/`` for a folder written before manifests existed."""
        try:
            cells = json.loads((self.root / MANIFEST).read_text()).get("cells")
        except (OSError, ValueError, AttributeError):
            cells = None
        if not isinstance(cells, list) or not all(isinstance(cell_id, str) for cell_id in cells):
            return self.read_records() if self.runs.is_dir() else []
        return self.read_records(cells)

    def write_env(self, device: str, workers: int, threads: int, workers_reason: str = "") -> None:
        write_text(self.root / "env.json", json.dumps(environment(device, workers, threads, workers_reason), indent=1))


def _process_alive(pid_text: str) -> bool:
    """Whether another running process may still be writing (this one has stopped its writes when asked)."""
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, someone else's
        return True
    return pid != os.getpid()


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str, workers: int, threads: int, workers_reason: str = "") -> dict[str, Any]:
    """Versions, commit, device, workers (and why that many), threads and CPU: what a reader needs to trust a timing."""
    from importlib.metadata import PackageNotFoundError, version

    packages: dict[str, str | None] = {}
    for name in ("denoise-bench", "torch", "torchvision", "scikit-image", "numpy", "pandas"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "git_commit": _git_commit(),
        "device": device,
        "workers": workers,
        "workers_reason": workers_reason,
        "threads_per_worker": threads,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
