"""CIFAR-10's python batch format, read without running any pickled code."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from denoiser.errors import DataError

CIFAR_IMAGES = 60_000  # the whole of CIFAR-10 (five training batches and the test batch)
CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches only: plain containers and NumPy arrays, nothing that runs code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles store byte strings
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch → (pixels (N, 3, 32, 32) uint8, labels (N,) int64); DataError names a bad file."""
    try:
        with open(path, "rb") as file:
            batch = _CifarUnpickler(file, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CIFAR-10 batch file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError) as error:
        truncated = isinstance(error, EOFError) or "truncated" in str(error)
        reason = "file is truncated" if truncated else f"not a CIFAR-10 batch ({error})"
        raise DataError(f"{path}: {reason}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as error:  # labels [None], ragged data, …
        raise DataError(f"{path}: not a CIFAR-10 batch ({str(error)[:120]})") from None
    if labels.ndim != 1 or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path}: not a CIFAR-10 batch (data of shape {data.shape}, {len(labels)} labels)")
    return data.reshape(-1, 3, 32, 32), labels


def cifar_files(path: Path) -> list[Path]:
    """The batch files at ``path``: the file itself, or the batches inside a ``cifar-10-batches-py`` folder."""
    if path.is_file():
        return [path]
    if path.is_dir():
        inner = path / "cifar-10-batches-py"
        directory = inner if inner.is_dir() else path
        files = [directory / name for name in CIFAR_BATCHES if (directory / name).is_file()]
        if not files:
            raise DataError(f"{path}: no CIFAR-10 batch files ({', '.join(CIFAR_BATCHES)}) in this folder")
        return files
    raise DataError(f"{path}: no such file or folder")


def read_cifar(path: Path, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The first ``limit`` CIFAR-10 images at ``path``: (uint8 (N, 3, 32, 32), labels (N,), source names)."""
    pixels, labels, names = [], [], []
    count = 0
    for file in cifar_files(path):
        data, batch_labels = read_cifar_batch(file)
        if limit is not None:
            data, batch_labels = data[: limit - count], batch_labels[: limit - count]
        pixels.append(torch.from_numpy(data.copy()))
        labels.append(torch.from_numpy(batch_labels))
        names += [f"{file.name}/{index}" for index in range(len(data))]
        count += len(data)
        if limit is not None and count >= limit:
            break
    return torch.cat(pixels), torch.cat(labels), names
