"""Numeric precision of training: ``float32`` (the default), ``bf16-mixed`` and ``fp16-mixed`` (the names
PyTorch Lightning gives them). Mixed precision runs the forward pass and the loss under ``torch.autocast``
(convolutions and matrix products in the reduced type, reductions and the loss in float32) while the
weights, their gradients and Adam's moments stay float32 (the master weights); ``fp16-mixed`` scales the
loss (``torch.amp.GradScaler``), since float16 gradients underflow, and runs on CUDA only.

Scoring is always float32: the validation loss that chooses the epoch, the evaluation, the inference timing
and every metric run the float32 weights in float32 (the one rule; records say ``inference_precision``).

A precision the device cannot run natively is refused before any work: bf16 on a CPU without AVX-512 BF16
or AMX, or with oneDNN capped below them by ``ONEDNN_MAX_CPU_ISA`` (oneDNN would emulate it), fp16 on a CPU
(no fast kernels), bf16 on a GPU that lacks it (before Ampere).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from denoiser.errors import ConfigurationError

PRECISIONS = ("float32", "bf16-mixed", "fp16-mixed")
DTYPES = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}
SHORT = {"float32": "fp32", "bf16-mixed": "bf16", "fp16-mixed": "fp16"}  # how tables mark an entry: `[bf16]`
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo: the CPU has bfloat16 instructions
INFERENCE_PRECISION = "float32"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux: /proc/cpuinfo); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split())


# oneDNN's instruction-set caps (ONEDNN_MAX_CPU_ISA) under which it still runs bfloat16 natively
BF16_ISAS = (
    "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX512_CORE_AMX", "AVX10_1_512_AMX",
    "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT",
)  # fmt: skip


def cpu_bf16_flags() -> list[str]:
    """Which of AVX-512 BF16 and AMX-BF16 this CPU has and oneDNN may use: none where ``ONEDNN_MAX_CPU_ISA``
    caps it below them (``AVX2``, ``AVX512_CORE``), as it does to show the other family of kernels."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap and cap not in BF16_ISAS:
        return []
    return [flag for flag in BF16_FLAGS if flag in cpu_flags()]


def unsupported(precision: str, device: torch.device) -> str | None:
    """Why ``device`` cannot train in ``precision`` natively, in one line; None where it can."""
    if precision not in PRECISIONS:
        return f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}"
    if precision == "float32":
        return None
    if device.type == "cpu":
        if precision == "fp16-mixed":
            return "fp16-mixed runs on CUDA only: a CPU has no fast float16 kernels (bf16-mixed where it has AVX-512 BF16 or AMX)"
        if not cpu_bf16_flags():
            capped = " that oneDNN may use (ONEDNN_MAX_CPU_ISA caps it)" if os.environ.get("ONEDNN_MAX_CPU_ISA") else ""
            return (
                "bf16-mixed needs a CPU with AVX-512 BF16 or AMX (avx512_bf16 or amx_bf16 in /proc/cpuinfo)"
                f"{capped}; this one has neither: oneDNN would emulate bfloat16"
            )
        return None
    if device.type == "cuda" and precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        return "bf16-mixed needs a GPU with bfloat16 (Ampere or later); this one has none"
    if device.type not in ("cpu", "cuda"):
        return f"{precision} runs on the CPU or CUDA, not {device.type}"
    return None


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision ``device`` cannot run natively (:func:`unsupported`) in one line."""
    reason = unsupported(precision, device)
    if reason is not None:
        raise ConfigurationError(reason)


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Within: the forward pass and the loss in ``precision`` (nothing changes for float32)."""
    if precision == "float32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=DTYPES[precision]):
        yield


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """The loss scaler fp16-mixed needs (float16 gradients underflow); None for float32 and bf16-mixed."""
    if precision != "fp16-mixed":
        return None
    return torch.amp.GradScaler(device.type)
