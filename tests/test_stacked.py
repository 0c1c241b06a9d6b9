"""Stacked training (denoiser/stacked.py) gives each model what training it alone gives."""

import pytest
import torch

from denoiser import create_model, create_noise, load_dataset
from denoiser.errors import ConfigurationError
from denoiser.stacked import train_stacked
from denoiser.training import train

SEEDS = (0, 1, 2)
LEVELS = (0.05, 0.1, 0.2)
SETTINGS = dict(epochs=3, batch_size=8, learning_rate=1e-3, device="cpu")


def small_daes() -> list[torch.nn.Module]:
    models = []
    for seed in SEEDS:
        torch.manual_seed(seed)  # weight initialisation, as a sweep cell does
        models.append(create_model("dae", latent_dim=8, channels=(8, 16, 32)))
    return models


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("skimage-natural").images  # (192, 1, 64, 64)
    return data[:32], data[32:44]  # 32 training images (4 batches of 8), 12 validation images


@pytest.mark.parametrize("patience", [0, 1])
def test_stacked_training_equals_separate_training(images, patience: int) -> None:
    train_images, validation_images = images
    noises = [create_noise("gaussian", level) for level in LEVELS]
    separate = small_daes()
    alone = [train(model, train_images, validation_images, noise, seed=seed, patience=patience, **SETTINGS)
             for model, noise, seed in zip(separate, noises, SEEDS)]
    stacked = small_daes()
    together = train_stacked(stacked, train_images, validation_images, noises, SEEDS, patience=patience, **SETTINGS)
    for index, (one, other) in enumerate(zip(alone, together)):
        assert (other.epochs, other.best_epoch, other.stopped_early) == (one.epochs, one.best_epoch, one.stopped_early), index
        assert other.train_losses == pytest.approx(one.train_losses, rel=1e-5, abs=1e-7), index
        assert other.validation_losses == pytest.approx(one.validation_losses, rel=1e-5, abs=1e-7), index
    for index, (one, other) in enumerate(zip(separate, stacked)):
        for (name, expected), actual in zip(one.state_dict().items(), other.state_dict().values()):
            torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4, msg=f"model {index}, {name}")


def test_the_models_are_trained_apart(images) -> None:
    """Different seeds give different models: no model's noise or order leaked into another's."""
    train_images, validation_images = images
    models = small_daes()
    train_stacked(models, train_images, validation_images, [create_noise("gaussian", 0.1)] * 3, SEEDS, patience=0, **SETTINGS)
    weights = [model.state_dict()["to_latent.weight"] for model in models]
    assert not torch.allclose(weights[0], weights[1]) and not torch.allclose(weights[1], weights[2])


def test_models_with_buffers_or_of_other_shapes_are_refused(images) -> None:
    train_images, validation_images = images
    noise = create_noise("gaussian", 0.1)
    with pytest.raises(ConfigurationError, match="buffers or dropout"):
        train_stacked([create_model("dncnn", depth=3, width=4)], train_images, validation_images, [noise], [0], **SETTINGS)
    mixed = [create_model("dae", latent_dim=8), create_model("dae", latent_dim=16)]
    with pytest.raises(ConfigurationError, match="one architecture"):
        train_stacked(mixed, train_images, validation_images, [noise] * 2, [0, 1], **SETTINGS)
