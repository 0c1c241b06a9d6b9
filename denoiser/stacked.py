"""Several models of one architecture trained as one stacked model, so that one kernel launch serves all.

``torch.func.stack_module_state`` stacks K models' parameters along a new first dimension, and ``vmap``
over ``functional_call`` runs them as one batched model. Each model gets what
:func:`denoiser.training.train` would give it alone: its batch order, training noise, validation noise
and crops from its own seed, and its own Adam state (Adam is elementwise, and each model's parameters
are independent slices of the stacked ones; the summed loss gives each slice its own model's gradient).
So the K results equal K separate trainings within float tolerance (tests/test_stacked.py). Early
stopping is per model: a model that stops keeps its best weights and its losses end there, while the
others go on (its slice keeps being computed, and is ignored).

For a GPU, where a small model's step is bound by kernel launches. The sweep does not use it yet.
Models with buffers (BatchNorm's running statistics) or dropout are refused: their in-place updates
and random masks do not stack. The DAE has neither.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from denoiser.errors import ConfigurationError
from denoiser.noise import NoiseModel, make_generator
from denoiser.training import TrainingDiverged, TrainResult, pick_device, random_patches, synchronize

logger = logging.getLogger(__name__)

_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def check_stackable(models: Sequence[nn.Module]) -> None:
    """Raise :class:`ConfigurationError` unless ``models`` share one architecture without buffers or dropout."""
    if not models:
        raise ConfigurationError("stacked training needs at least one model")
    shapes = [(name, parameter.shape) for name, parameter in models[0].named_parameters()]
    for model in models:
        if type(model) is not type(models[0]) or [(name, p.shape) for name, p in model.named_parameters()] != shapes:
            raise ConfigurationError("stacked training needs models of one architecture (one class, the same parameter shapes)")
        if any(True for _ in model.buffers()) or any(isinstance(module, _DROPOUT) for module in model.modules()):
            raise ConfigurationError(
                f"{type(model).__name__} has buffers or dropout (BatchNorm's running statistics, random masks), "
                "which do not stack: train it with denoiser.training.train"
            )


def train_stacked(
    models: Sequence[nn.Module],
    train_images: torch.Tensor,
    validation_images: torch.Tensor,
    noises: Sequence[NoiseModel],
    seeds: Sequence[int],
    *,
    epochs: int = 200,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    patience: int = 10,
    device: torch.device | str = "auto",
    patch_size: int = 0,
    patches_per_epoch: int = 0,
    decay_epoch: int = 0,
) -> list[TrainResult]:
    """Train ``models[k]`` with ``noises[k]`` and ``seeds[k]`` as :func:`denoiser.training.train` would,
    all K at once; the shared settings mean what they mean there. Each model holds its best weights
    afterwards, in evaluation mode, on ``device``. Its ``train_seconds`` is the wall time of the stacked
    epochs it took part in, and ``images_per_second`` the stacked run's rate (all K models' images).
    Raises :class:`TrainingDiverged`, naming the model, when one of its losses becomes NaN or infinite."""
    if not len(models) == len(noises) == len(seeds):
        raise ValueError(
            f"one noise model and one seed per model: {len(models)} models, {len(noises)} noises, {len(seeds)} seeds"
        )
    check_stackable(models)
    device = pick_device(device) if isinstance(device, str) else device
    count = len(models)
    for model in models:
        model.to(device).train()
    parameters, _ = stack_module_state(list(models))  # name → (K, …) leaf tensors
    architecture = copy.deepcopy(models[0]).to("meta")  # the forward pass, without weights

    def forward(weights: dict[str, torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        return functional_call(architecture, weights, (noisy,))

    stacked_model = torch.vmap(forward)  # (K, b, 1, H, W) → (K, b, 1, H, W)
    per_model_mse = torch.vmap(nn.functional.mse_loss)  # → (K,)
    optimizer = torch.optim.Adam(parameters.values(), lr=learning_rate, foreach=True)

    clean_train = train_images.to(device)  # (N, 1, H, W)
    clean_validation = validation_images.to(device)
    order_generators = [torch.Generator().manual_seed(seed) for seed in seeds]  # as in train(), seed by seed
    noise_generators = [make_generator(seed + 1, device) for seed in seeds]
    noisy_validation = torch.stack(
        [noise(clean_validation, make_generator(seed + 2, device)) for noise, seed in zip(noises, seeds)]
    )  # (K, V, 1, H, W)
    patch_generators = [torch.Generator().manual_seed(seed + 3) for seed in seeds]

    results = [TrainResult() for _ in models]
    best_losses = [math.inf] * count
    best_states: list[dict[str, torch.Tensor] | None] = [None] * count
    epochs_since_best = [0] * count
    running = [True] * count
    images_seen = [0] * count
    for epoch in range(1, epochs + 1):
        if decay_epoch and epoch == decay_epoch:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate / 10
        synchronize(device)  # the clock starts when the device is idle
        start = time.perf_counter()
        if patch_size:
            epoch_images = torch.stack(
                [
                    random_patches(clean_train, patches_per_epoch or len(clean_train), patch_size, generator)
                    for generator in patch_generators
                ]
            )  # (K, n, 1, s, s)
        else:
            epoch_images = clean_train.expand(count, *clean_train.shape)  # (K, N, 1, H, W), no copy
        mean_losses = _train_epoch(
            stacked_model,
            per_model_mse,
            parameters,
            optimizer,
            epoch_images,
            noises,
            batch_size,
            order_generators,
            noise_generators,
        )
        train_losses = mean_losses.tolist()  # the one host sync of the epoch
        seconds = time.perf_counter() - start
        validation_losses = _validation_losses(stacked_model, per_model_mse, parameters, noisy_validation, clean_validation)
        for index, result in enumerate(results):
            if not running[index]:
                continue
            train_loss, validation_loss = train_losses[index], validation_losses[index]
            result.train_seconds += seconds
            images_seen[index] += count * epoch_images.shape[1]
            result.train_losses.append(train_loss)
            result.validation_losses.append(validation_loss)
            if not (math.isfinite(train_loss) and math.isfinite(validation_loss)):
                raise TrainingDiverged(
                    f"model {index}: loss became "
                    f"{train_loss if not math.isfinite(train_loss) else validation_loss} at epoch {epoch}"
                )
            if validation_loss < best_losses[index]:
                best_losses[index], result.best_epoch, epochs_since_best[index] = validation_loss, epoch, 0
                best_states[index] = {name: stacked[index].detach().clone() for name, stacked in parameters.items()}
            else:
                epochs_since_best[index] += 1
            if patience and epochs_since_best[index] >= patience:
                running[index], result.stopped_early = False, epoch < epochs
        logger.debug("epoch %d/%d: %d of %d models still training", epoch, epochs, sum(running), count)
        if not any(running):
            break
    for index, (model, result) in enumerate(zip(models, results)):
        state = best_states[index] or {name: stacked[index].detach().clone() for name, stacked in parameters.items()}
        model.load_state_dict(state)
        model.eval()
        result.images_per_second = images_seen[index] / result.train_seconds if result.train_seconds > 0 else 0.0
    return results


def _train_epoch(
    stacked_model,
    per_model_mse,
    parameters: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epoch_images: torch.Tensor,
    noises: Sequence[NoiseModel],
    batch_size: int,
    order_generators: list[torch.Generator],
    noise_generators: list[torch.Generator],
) -> torch.Tensor:
    """One pass of every model over its ``epoch_images`` (K, N, 1, H, W), each in its own seeded order with
    its own noise draws, as :func:`denoiser.training.train_epoch` does for one; returns the (K,) mean losses."""
    count, images = epoch_images.shape[:2]
    device = epoch_images.device
    permutations = torch.stack([torch.randperm(images, generator=generator) for generator in order_generators]).to(device)
    which = torch.arange(count, device=device)[:, None]  # (K, 1)
    loss_sum = torch.zeros(count, device=device)
    for first in range(0, images, batch_size):
        clean = epoch_images[which, permutations[:, first : first + batch_size]]  # (K, b, 1, H, W)
        noisy = torch.stack([noise(batch, generator) for noise, batch, generator in zip(noises, clean, noise_generators)])
        losses = per_model_mse(stacked_model(parameters, noisy), clean)  # (K,)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # each model's slice gets its own loss's gradient
        optimizer.step()
        loss_sum += losses.detach() * clean.shape[1]
    return loss_sum / images


@torch.inference_mode()
def _validation_losses(
    stacked_model, per_model_mse, parameters: dict[str, torch.Tensor], noisy: torch.Tensor, clean: torch.Tensor
) -> list[float]:
    """Each model's MSE on its own noisy copy of the validation images, ``noisy`` (K, V, 1, H, W), in batches of 256."""
    estimates = torch.cat(
        [stacked_model(parameters, noisy[:, first : first + 256]) for first in range(0, noisy.shape[1], 256)], dim=1
    )
    return per_model_mse(estimates, clean.expand_as(estimates)).tolist()
