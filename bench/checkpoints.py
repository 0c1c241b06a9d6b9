"""Checkpoints: a trained model's weights with its registry name and parameters, written by a sweep's
cells and read by ``bench denoise`` and the report.

A checkpoint is data: ``{model, params, state_dict, module}``, saved with ``torch.save`` and loaded with
``weights_only=True``, so a file cannot run code when it is read. The module that registered the model
(a plugin's) is named in the file, never imported from it.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from bench.store import write_atomically
from denoiser.errors import ConfigurationError, DenoiserError
from denoiser.models import MODELS, create_model


class CheckpointError(DenoiserError):
    """A file that is not a checkpoint written by bench sweep."""


def save_checkpoint(path: Path, model_name: str, params: dict[str, Any], model: torch.nn.Module, module: str) -> None:
    """Write ``model``'s weights (on the CPU), its registry name, parameters and registering ``module`` to
    ``path``, atomically: a reader never sees half a file. Loadable with ``weights_only=True``."""
    buffer = io.BytesIO()
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    torch.save({"model": model_name, "params": params, "state_dict": state, "module": module}, buffer)
    write_atomically(path, buffer.getvalue())


def load_checkpoint(path: Path) -> torch.nn.Module:
    """The model in ``path``, loaded with ``weights_only=True`` (a pickle cannot run code here), in
    evaluation mode. Its model must be registered in this process (the package's, or a plugin the user
    named on this run): the module a checkpoint names is never imported, only named in the error."""
    checkpoint = _read(path)
    try:
        MODELS.get(checkpoint["model"])
    except ConfigurationError:
        # A file is data: the module it names is never imported here, only named for the user to pass.
        module = checkpoint.get("module")
        hint = (
            f"; it was written with the plugin {module[:80]!r}: pass --plugin {module[:80]} if you trust it"
            if isinstance(module, str) and module and module != "denoiser.models"
            else ""
        )
        raise CheckpointError(
            f"{path}: unknown model {checkpoint['model'][:80]!r}{hint}; valid: {', '.join(MODELS.names())}"
        ) from None
    try:
        model = create_model(checkpoint["model"], **checkpoint["params"])
    except (DenoiserError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: cannot build {checkpoint['model']} from its params ({str(error)[:160]})") from None
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, TypeError) as error:
        raise CheckpointError(f"{path}: weights do not fit {checkpoint['model']} ({str(error).splitlines()[0][:160]})") from None
    return model.eval()


def _read(path: Path) -> dict[str, Any]:
    """The checkpoint's mapping, its three keys checked for type; :class:`CheckpointError` for anything else."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, not a checkpoint") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as error:
        text = str(error).strip()
        if "Weights only load failed" in text:
            reason = "weights-only loading refused it: not tensors and plain data"
        else:
            reason = text.splitlines()[0][:160] if text else type(error).__name__
        raise CheckpointError(f"{path}: not a checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or not {"model", "params", "state_dict"} <= checkpoint.keys():
        raise CheckpointError(f"{path}: not a checkpoint (expected model, params and state_dict)")
    if (
        not isinstance(checkpoint["model"], str)
        or not isinstance(checkpoint["params"], dict)
        or not isinstance(checkpoint["state_dict"], dict)
    ):
        raise CheckpointError(f"{path}: not a checkpoint (model must be a name, params and state_dict mappings)")
    return checkpoint
