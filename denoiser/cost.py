"""What a denoiser costs besides its quality: inference time per megapixel and peak memory, measured the
same way for every cell, learned or classical, so that the numbers compare.

Timing: one fixed 256×256 photograph (scikit-image's ``camera``; ``astronaut`` for colour) under Gaussian
noise σ = 0.1 drawn from a fixed seed, denoised as a cell's evaluation denoises a whole image (the DAE on
its overlapping 64×64 windows, tiling and blending included; a classical baseline on the CPU, as it
always runs), ``TIMING_WARMUP`` times untimed, then ``TIMING_RUNS`` times, each between two device
synchronisations; the median, divided by the image's megapixels. A method slower than ``SLOW_SECONDS`` per
run (BM3D: seconds) gets one warm-up and ``SLOW_RUNS`` timed runs, which its own spread does not need more of.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import torch

from denoiser.devices import synchronize
from denoiser.noise import NoiseModel, create_noise, make_generator

TIMING_SIZE = 256  # pixels a side
TIMING_WARMUP = 2  # untimed runs first: lazy initialisation, caches, oneDNN's kernel choice
TIMING_RUNS = 5  # timed runs; their median is reported
SLOW_SECONDS = 0.5  # a first warm-up run slower than this: one warm-up, SLOW_RUNS timed runs
SLOW_RUNS = 3
TIMING_SIGMA = 0.1
TIMING_SEED = 0
SAMPLE_SECONDS = 0.02  # how often the CPU's resident memory is read during a cell


def timing_image(channels: int = 1) -> torch.Tensor:
    """The fixed image every cell is timed on: (1, C, 256, 256) in [0, 1], from scikit-image's bundled data."""
    from skimage import data

    if channels == 1:
        pixels = torch.from_numpy(data.camera()).float().div(255)[None, None]
    else:
        pixels = torch.from_numpy(data.astronaut()).float().div(255).permute(2, 0, 1)[None]
    top = (pixels.shape[-2] - TIMING_SIZE) // 2
    left = (pixels.shape[-1] - TIMING_SIZE) // 2
    return pixels[..., top : top + TIMING_SIZE, left : left + TIMING_SIZE].contiguous()


@dataclass(frozen=True)
class Timing:
    """Inference time of one denoiser on the timing image: each timed run, and the median per megapixel."""

    runs_ms: list[float]
    megapixels: float
    warmup: int = TIMING_WARMUP

    @property
    def ms_per_megapixel(self) -> float:
        return statistics.median(self.runs_ms) / self.megapixels


def time_inference(
    denoiser: Callable[[torch.Tensor, NoiseModel], torch.Tensor],
    device: torch.device,
    channels: int = 1,
    warmup: int = TIMING_WARMUP,
    runs: int = TIMING_RUNS,
) -> Timing:
    """Time ``denoiser(noisy, noise)`` on the timing image (on ``device``), warmed up, synchronised: see the
    module's docstring. Each call gets its own copy of the noisy image."""
    clean = timing_image(channels)
    noise = create_noise("gaussian", TIMING_SIGMA)
    noisy = noise(clean, make_generator(TIMING_SEED)).to(device)
    megapixels = clean.shape[-2] * clean.shape[-1] / 1e6
    with torch.inference_mode():
        for done in range(warmup):
            start = time.perf_counter()
            denoiser(noisy.clone(), noise)
            synchronize(device)
            if done == 0 and time.perf_counter() - start > SLOW_SECONDS:
                warmup, runs = 1, min(runs, SLOW_RUNS)
                break
        timed = []
        for _ in range(runs):
            copy = noisy.clone()
            synchronize(device)
            start = time.perf_counter()
            denoiser(copy, noise)
            synchronize(device)
            timed.append((time.perf_counter() - start) * 1000)
    return Timing(timed, megapixels, warmup)


def _resident_bytes() -> int | None:
    """The process's resident memory now (Linux: /proc/self/statm), None where it cannot be read."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _peak_resident_bytes() -> int:
    """The process's peak resident memory so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@dataclass
class PeakMemory:
    """The peak memory of the work inside ``with PeakMemory(device) as memory:``, in ``memory.megabytes``.

    CUDA: ``torch.cuda.max_memory_allocated`` over the block (its statistics reset on entry). CPU: how far
    the process's resident memory rose above its level on entry: the highest of its readings every 20 ms
    and, where the process set a new high during the block, that high (``ru_maxrss``), which a spike
    between two readings cannot escape."""

    device: torch.device
    megabytes: float | None = None
    _start: int = 0
    _peak: int = 0
    _start_high: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._start = self._peak = _resident_bytes() or 0
        self._start_high = _peak_resident_bytes()
        if self._start:
            self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._peak = max(self._peak, _resident_bytes() or 0)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.megabytes = torch.cuda.max_memory_allocated(self.device) / 2**20
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        peak = max(self._peak, _resident_bytes() or 0)
        high = _peak_resident_bytes()
        if high > self._start_high:  # a new high during the block: the true peak was at least that
            peak = max(peak, high)
        self.megabytes = max(0, peak - self._start) / 2**20 if self._start else None
