"""The device a run uses, resolved in one place (:func:`pick_device`: ``auto`` is CUDA when present), and the
kernel settings a cell runs under on it: deterministic algorithms, TF32 or full float32, a synchronisation
point for timing."""

from __future__ import annotations

import contextlib
import os

import torch


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextlib.contextmanager
def deterministic_kernels(enabled: bool = True):
    """Within: torch's deterministic algorithms, cuDNN without autotuning, and the cuBLAS workspace
    setting its deterministic mode needs, so two runs of a cell on one GPU give identical numbers.
    Without (``enabled=False``): cuDNN may autotune, for speed. The previous settings come back after."""
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, in this process
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = enabled, not enabled
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[1], previous[2]


@contextlib.contextmanager
def tf32_kernels(enabled: bool = False):
    """Within: CUDA matrix products and convolutions in TF32 (``enabled``) or in full float32 (the
    default: torch would run convolutions in TF32 unasked). No effect on the CPU. Restored after."""
    previous = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
