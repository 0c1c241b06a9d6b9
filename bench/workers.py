"""Cells in spawned worker processes, one cell at a time per worker, each worker on its own pipe.

Not a ``ProcessPoolExecutor``: when one of its workers dies (the OOM killer, ``kill -9``) the whole
executor breaks, every running cell with it. Here a dead worker costs its own cell only: the cell is
recorded as failed with the signal that killed it, a new worker takes the next cell, and the sweep
goes on. Workers also die with the sweep's process, however it ends (Linux: the parent-death
signal; elsewhere, and as a second guard, a thread that watches the parent).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` does, even by SIGKILL, so that no worker is orphaned."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the watchdog below is the guard
        pass
    if os.getppid() != parent:  # the parent died before the signal was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _serve(
    connection: Connection,
    parent: int,
    initializer: Callable[..., Any],
    initargs: tuple,
    function: Callable[[Any, Callable[[Any], None]], Any],
) -> None:
    """A worker's life: set up once, then run each task received until told to stop (None)."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent alone handles it
    initializer(*initargs)
    send = lambda event: connection.send(("event", event))  # noqa: E731
    while True:
        try:
            task = connection.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        connection.send(("start", None))  # set up: from now on the task's time runs
        try:
            result = ("done", function(task, send))
        except Exception as error:  # noqa: BLE001 - not a cell's failure (those are records): the sweep cannot go on
            result = ("error", error)
        connection.send(result)


def death_cause(exitcode: int | None) -> str:
    """How a worker ended, in words: ``killed by SIGKILL`` or ``exit code 3``."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    connection: Connection
    task: Any = None  # the task it is running, if any
    started: float | None = None  # time.monotonic() when it started its task (after setting itself up)


class WorkerPool:
    """``count`` spawned workers that each run ``function(task, send_event)`` after ``initializer(*initargs)``.

    ``run`` hands out the tasks, passes every event and result to the callbacks, and replaces a worker
    that dies, after reporting its task and why to ``on_death``. With a ``timeout`` (seconds, 0: none) a
    task running longer is stopped the same way: its worker is killed (a hung task may not return
    to Python to be asked) and replaced. Functions must be importable (spawn)."""

    def __init__(
        self,
        count: int,
        function: Callable[[Any, Callable[[Any], None]], Any],
        initializer: Callable[..., Any],
        initargs: tuple,
        timeout: float = 0.0,
    ) -> None:
        self.count, self.timeout = count, timeout
        self.function, self.initializer, self.initargs = function, initializer, initargs
        # spawn, not fork: forking a process whose OpenMP threads already ran can deadlock.
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def _start(self) -> _Worker:
        ours, theirs = self.context.Pipe(duplex=True)
        process = self.context.Process(
            target=_serve, args=(theirs, os.getpid(), self.initializer, self.initargs, self.function), daemon=True
        )
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        self.workers.append(worker)
        return worker

    def run(
        self,
        tasks: Iterable[Any],
        on_event: Callable[[Any], None],
        on_result: Callable[[Any, Any], None],
        on_death: Callable[[Any, str], None],
    ) -> None:
        waiting = deque(tasks)
        try:
            for _ in range(min(self.count, len(waiting))):
                self._give(self._start(), waiting)
            while any(worker.task is not None for worker in self.workers):
                self._step(waiting, on_event, on_result, on_death)
        finally:
            self.close()

    def _give(self, worker: _Worker, waiting: deque) -> None:
        if waiting:
            worker.task, worker.started = waiting.popleft(), None
            worker.connection.send(worker.task)
        else:
            worker.task = None
            worker.connection.send(None)

    def _step(self, waiting: deque, on_event: Callable, on_result: Callable, on_death: Callable) -> None:
        busy = [worker for worker in self.workers if worker.task is not None]
        ready = wait([worker.connection for worker in busy] + [worker.process.sentinel for worker in busy], timeout=0.5)
        for worker in busy:
            if worker.connection in ready:
                for kind, payload in _received(worker.connection):
                    if kind == "start":
                        worker.started = time.monotonic()
                    elif kind == "event":
                        on_event(payload)
                    elif kind == "error":
                        raise payload
                    else:
                        task, worker.task = worker.task, None
                        on_result(task, payload)
                        self._give(worker, waiting)
            if worker.task is not None and not worker.process.is_alive():
                worker.process.join()
                cause = death_cause(worker.process.exitcode)
                logger.warning("a worker died (%s) while running a cell; the sweep goes on", cause)
                self._replace(worker, waiting, on_death, f"the worker running this cell died ({cause})")
            elif (
                worker.task is not None
                and self.timeout
                and worker.started is not None
                and time.monotonic() - worker.started > self.timeout
            ):
                worker.process.kill()
                worker.process.join()
                logger.warning("a cell ran past %g s and was stopped; the sweep goes on", self.timeout)
                self._replace(worker, waiting, on_death, f"timed out after {self.timeout:g} s")

    def _replace(self, worker: _Worker, waiting: deque, on_death: Callable, reason: str) -> None:
        """Report the task of a worker that is gone, and start a new worker for the next task."""
        task, worker.task = worker.task, None
        worker.connection.close()
        self.workers.remove(worker)
        on_death(task, reason)
        if waiting:
            self._give(self._start(), waiting)

    def close(self) -> None:
        """Stop every worker now: those still running a task are terminated (Ctrl-C, an error)."""
        for worker in self.workers:
            if worker.task is not None and worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self.workers = []


def _received(connection: Connection) -> list[tuple[str, Any]]:
    """The messages waiting on ``connection``; those before the end when its worker died mid-way."""
    messages = []
    try:
        while connection.poll():
            messages.append(connection.recv())
    except (EOFError, OSError):
        pass
    return messages
