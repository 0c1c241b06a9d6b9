import os

import pytest
import torch

from denoiser import TrainingDiverged, create_model, create_noise, load_dataset, split, train
from denoiser.inference import denoise
from denoiser.training import EarlyStopping, TrainSettings, fit_to_input_size


@pytest.fixture(scope="module")
def natural_split():
    return split(load_dataset("skimage-natural"), "by-source", 0.2, seed=0)


def run(natural_split, seed: int = 0, model_name: str = "dae", **settings):
    train_set, test_set = natural_split
    torch.manual_seed(seed)  # weight initialisation
    model = create_model(model_name, **({"latent_dim": 32} if model_name == "dae" else {"depth": 5, "width": 16}))
    result = train(model, train_set.images, test_set.images, create_noise("gaussian", 0.1), TrainSettings(**settings), seed=seed,
                   device="cpu")
    return model, result


@pytest.mark.parametrize("model_name", ["dae", "dncnn"])
def test_a_few_epochs_lower_the_validation_loss(natural_split, model_name: str) -> None:
    _, result = run(natural_split, model_name=model_name, epochs=6, patience=0)
    assert result.epochs == 6 and len(result.validation_losses) == 6
    assert min(result.validation_losses[1:]) < result.validation_losses[0] * 0.8
    assert result.images_per_second > 0


def test_same_seed_gives_identical_losses(natural_split) -> None:
    _, first = run(natural_split, epochs=2, patience=0)
    _, again = run(natural_split, epochs=2, patience=0)
    _, other = run(natural_split, seed=1, epochs=2, patience=0)
    assert first.train_losses == again.train_losses and first.validation_losses == again.validation_losses
    assert first.train_losses != other.train_losses


def test_best_weights_are_restored(natural_split) -> None:
    # After the last epoch's loss is recorded, the hook wrecks the weights: only restoring
    # the best epoch's weights brings the test loss back to the best one recorded.
    def wreck_weights(report) -> None:
        if report.epoch == report.epochs:
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(1.0)

    train_set, test_set = natural_split
    model = create_model("dae", latent_dim=32)
    noise = create_noise("gaussian", 0.1)
    result = train(model, train_set.images, test_set.images, noise, TrainSettings(epochs=3, patience=0), device="cpu",
                   on_epoch=wreck_weights)
    noisy = noise(test_set.images, torch.Generator().manual_seed(2))  # the trainer's fixed test noise (seed + 2)
    assert result.best_epoch == 1 + result.validation_losses.index(min(result.validation_losses))
    restored = torch.nn.functional.mse_loss(denoise(model, noisy), test_set.images).item()
    assert restored == pytest.approx(min(result.validation_losses), rel=1e-5)


def test_early_stopping_waits_for_patience(natural_split) -> None:
    # With learning rate 0 the test loss never improves after epoch 1.
    _, result = run(natural_split, epochs=50, patience=2, learning_rate=0.0)
    assert (result.epochs, result.best_epoch, result.stopped_early) == (3, 1, True)


def test_a_diverging_run_stops_with_a_reason(natural_split) -> None:
    train_set, test_set = natural_split
    model = create_model("dae", latent_dim=8)
    with torch.no_grad():
        model.to_latent.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1"):
        train(model, train_set.images, test_set.images, create_noise("gaussian", 0.1), TrainSettings(epochs=3), device="cpu")


def test_patch_training_draws_fresh_seeded_crops_of_large_images() -> None:
    from denoiser.training import random_patches

    images = torch.rand(3, 1, 50, 70, generator=torch.Generator().manual_seed(0))
    first = random_patches(images, 32, 16, torch.Generator().manual_seed(5))
    assert first.shape == (32, 1, 16, 16)
    assert torch.equal(first, random_patches(images, 32, 16, torch.Generator().manual_seed(5)))
    generator = torch.Generator().manual_seed(5)
    random_patches(images, 32, 16, generator)
    assert not torch.equal(first, random_patches(images, 32, 16, generator))  # the next epoch's are fresh
    model = create_model("dncnn", depth=3, width=4)
    settings = TrainSettings(epochs=3, patience=0, patch_size=16, patches_per_epoch=40, batch_size=8, decay_epoch=3)
    result = train(model, images[:2], images[2:], create_noise("gaussian", 0.1), settings, device="cpu")
    assert len(result.train_losses) == 3 and all(torch.isfinite(torch.tensor(result.train_losses)))
    settings = TrainSettings(epochs=2, patience=0, patch_size=16, patches_per_epoch=40, batch_size=8)
    torch.manual_seed(0)
    one = train(create_model("dncnn", depth=3, width=4), images[:2], images[2:], create_noise("gaussian", 0.1), settings,
                device="cpu")
    torch.manual_seed(0)
    two = train(create_model("dncnn", depth=3, width=4), images[:2], images[2:], create_noise("gaussian", 0.1), settings,
                device="cpu")
    assert one.train_losses == two.train_losses and one.validation_losses == two.validation_losses


def test_colour_patches_keep_their_channels_with_one_symmetry_on_all() -> None:
    from denoiser.training import random_patches

    images = torch.rand(4, 3, 30, 40, generator=torch.Generator().manual_seed(1))
    patches = random_patches(images, 64, 12, torch.Generator().manual_seed(2))
    assert patches.shape == (64, 3, 12, 12)
    # Replay the generator's draws and crop by hand, one channel at a time.
    generator = torch.Generator().manual_seed(2)
    which = torch.randint(4, (64,), generator=generator)
    tops = torch.randint(30 - 12 + 1, (64,), generator=generator)
    lefts = torch.randint(40 - 12 + 1, (64,), generator=generator)
    symmetries = torch.randint(8, (64,), generator=generator)
    for k in range(64):
        for channel in range(3):
            crop = images[which[k], channel, tops[k] : tops[k] + 12, lefts[k] : lefts[k] + 12]
            if symmetries[k] % 2 == 1:
                crop = crop.flip(-1)
            if (symmetries[k] // 2) % 2 == 1:
                crop = crop.flip(-2)
            if symmetries[k] >= 4:
                crop = crop.transpose(-1, -2)
            assert torch.equal(patches[k, channel], crop), (k, channel)
    assert set(symmetries.tolist()) == set(range(8))  # every symmetry was checked
    model = create_model("dncnn", depth=3, width=4, image_channels=3)
    settings = TrainSettings(epochs=2, patience=0, patch_size=12, patches_per_epoch=32, batch_size=8)
    result = train(model, images[:3], images[3:], create_noise("gaussian", 0.1), settings, device="cpu")
    assert len(result.train_losses) == 2 and all(torch.isfinite(torch.tensor(result.train_losses)))


def test_deterministic_kernels_are_required_within_and_restored_after() -> None:
    from denoiser.devices import deterministic_kernels

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with deterministic_kernels(True):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", ":16:8")
    with deterministic_kernels(False):
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before


def test_two_trainings_under_deterministic_kernels_are_identical(device: torch.device, generator: torch.Generator) -> None:
    """On the GPU this is what `deterministic: true` buys: the same weights, bit for bit, run to run."""
    from denoiser.devices import deterministic_kernels

    images = torch.rand(48, 1, 64, 64, generator=generator)
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = create_model("dae", latent_dim=8)
        with deterministic_kernels(True):
            train(model, images[:32], images[32:], create_noise("gaussian", level=0.1),
                  TrainSettings(epochs=2, batch_size=16, patience=0), seed=0, device=device)
        states.append({name: tensor.cpu() for name, tensor in model.state_dict().items()})
    assert all(torch.equal(states[0][name], states[1][name]) for name in states[0])


@pytest.mark.parametrize("device, expected", [("cpu", torch.channels_last), ("cuda", torch.contiguous_format),
                                              ("cuda:1", torch.contiguous_format)])
def test_the_memory_format_is_chosen_per_device(device: str, expected: torch.memory_format) -> None:
    from denoiser.training import fast_memory_format

    assert fast_memory_format(device) == expected


def test_the_training_memory_estimate_counts_weights_optimizer_activations_and_data() -> None:
    from denoiser.models import count_parameters, create_model_shape
    from denoiser.training import training_memory_bytes

    model = create_model_shape("dae", latent_dim=16)
    parameters = count_parameters(model)
    small, large = (training_memory_bytes(model, batch, (64, 64)) for batch in (8, 64))
    weights = 16 * parameters  # float32 weights, gradients and Adam's two moments
    assert small > weights and large - weights == 8 * (small - weights)  # activations: in proportion to the batch
    assert training_memory_bytes(model, 8, (64, 64), stored_values=1000) == small + 4000
    with pytest.raises(ValueError, match="meta device"):
        training_memory_bytes(create_model("dae", latent_dim=16), 8, (64, 64))


def test_tf32_is_off_within_unless_asked_and_restored_after() -> None:
    from denoiser.devices import tf32_kernels

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with tf32_kernels(False):
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    with tf32_kernels(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience_epochs_without_it() -> None:
    stopping = EarlyStopping(patience=2)
    improved = [stopping.update(loss) for loss in (0.5, 0.4, 0.4, 0.45)]  # equal is not better
    assert improved == [True, True, False, False]
    assert (stopping.best_epoch, stopping.best_loss, stopping.should_stop) == (2, 0.4, True)
    never = EarlyStopping(patience=0)
    for loss in (0.1, 0.2, 0.3, 0.4):
        never.update(loss)
    assert never.best_epoch == 1 and not never.should_stop  # patience 0 never stops
    assert not EarlyStopping(patience=1).update(float("nan"))  # a NaN is never the best


@pytest.mark.parametrize("field, value", [("epochs", 0), ("batch_size", 0), ("learning_rate", -1.0),
                                          ("learning_rate", float("nan")), ("patience", -1), ("patch_size", -8),
                                          ("patches_per_epoch", -1), ("decay_epoch", -2)])
def test_impossible_settings_are_refused_when_made(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        TrainSettings(**{field: value})


def test_a_fixed_size_model_trains_on_crops_of_its_size_and_chooses_on_the_centres() -> None:
    settings = TrainSettings(patch_size=40)
    dae, dncnn = create_model("dae", latent_dim=8), create_model("dncnn", depth=3, width=4)
    large, small = torch.rand(4, 1, 80, 96), torch.rand(4, 1, 64, 64)
    fitted, validation = fit_to_input_size(dae, settings, large, large)
    assert fitted.patch_size == 64 and validation.shape[-2:] == (64, 64)
    assert torch.equal(validation, large[..., 8:72, 16:80])  # the centres
    fitted, validation = fit_to_input_size(dae, settings, small, small)
    assert fitted.patch_size == 0 and validation is small  # its own size: whole images
    fitted, validation = fit_to_input_size(dncnn, settings, large, large)
    assert fitted is settings and validation is large  # fully convolutional: as asked
