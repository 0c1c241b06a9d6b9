"""``bench denoise``: apply a trained checkpoint to image files."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.store import StoreError, write_atomically
from denoiser.data import read_image
from denoiser.errors import DenoiserError
from denoiser.models import MODELS, create_model
from denoiser.training import denoise_whole


class CheckpointError(DenoiserError):
    """A file that is not a checkpoint written by bench sweep."""


def load_checkpoint(path: Path) -> torch.nn.Module:
    """The model in ``path``, loaded with ``weights_only=True`` (a pickle cannot run code here). Its
    model must be registered in this process (the package's, or a plugin the user named on this run):
    the module a checkpoint names is never imported, only named in the error."""
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
    if checkpoint["model"] not in MODELS:
        # A file is data: the module it names is never imported here, only named for the user to pass.
        module = checkpoint.get("module")
        hint = (
            f"; it was written with the plugin {module[:80]!r}: pass --plugin {module[:80]} if you trust it"
            if isinstance(module, str) and module and module != "denoiser.models"
            else ""
        )
        raise CheckpointError(f"{path}: unknown model {checkpoint['model'][:80]!r}{hint}; valid: {', '.join(MODELS.names())}")
    try:
        model = create_model(checkpoint["model"], **checkpoint["params"])
    except (DenoiserError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: cannot build {checkpoint['model']} from its params ({str(error)[:160]})") from None
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, TypeError) as error:
        raise CheckpointError(f"{path}: weights do not fit {checkpoint['model']} ({str(error).splitlines()[0][:160]})") from None
    return model.eval()


def denoise_files(checkpoint: Path, images: list[Path], out: Path, tile_stride: int = 32) -> list[Path]:
    """Denoise each image file (grayscale, as the data sets read it); returns the written files.

    All or nothing: every input is read and denoised before anything is written. A model with a
    fixed input size (the DAE) runs on overlapping windows of other sizes, as in evaluation.
    """
    model = load_checkpoint(checkpoint)
    targets = [out / f"{Path(path.name).stem}_denoised.png" for path in images]  # only file names: never outside --out
    seen: dict[Path, Path] = {}
    for path, target in zip(images, targets):
        if target in seen:
            raise StoreError(f"{seen[target]} and {path} would both be written to {target}; rename one")
        seen[target] = path
    clean = [read_image(path) for path in images]  # read all first: a bad file stops before any output
    outputs = []
    for image in clean:
        estimate = denoise_whole(model, image.unsqueeze(0), tile_stride)[0, 0]  # (H, W) in [0, 1]
        pixels = (estimate.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
        outputs.append(buffer.getvalue())
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"{out}: cannot create the output folder (the path or a parent of it is a file)") from None
    for target, data in zip(targets, outputs):
        write_atomically(target, data)
    return targets
