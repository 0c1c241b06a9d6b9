import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from denoiser import ConfigurationError, DataError, augment, load_dataset, split
from denoiser.data import ImageSet
from tests.conftest import CIFAR_SAMPLE, SET12, requires_shared_data


def assert_images(data: ImageSet, count: int) -> None:
    assert data.images.shape == (count, 1, 64, 64)
    assert data.images.dtype == torch.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.sources.shape == (count,)


def test_skimage_natural_is_offline_tiles_of_twelve_photographs() -> None:
    data = load_dataset("skimage-natural")
    assert_images(data, 12 * 16)
    assert len(set(data.sources.tolist())) == len(data)  # tiles never overlap: one source each
    assert data.images.std() > 0.1


def test_skimage_natural_limit_and_tiles() -> None:
    assert_images(load_dataset("skimage-natural", tiles=2, limit=10), 10)


@requires_shared_data
def test_cifar10_reads_the_real_batch_file() -> None:
    data = load_dataset("cifar10", path=str(CIFAR_SAMPLE))
    assert_images(data, 1017)
    from denoiser.data import read_cifar

    pixels, labels, _ = read_cifar(CIFAR_SAMPLE)
    assert pixels.shape == (1017, 3, 32, 32)
    assert set(labels.tolist()) == set(range(10))
    raw = CIFAR_SAMPLE.read_bytes()
    with open(CIFAR_SAMPLE, "rb") as file:
        batch = pickle.load(file, encoding="bytes")
    # Row-major R, G, B planes: pixel (0, 0) of image 0 is byte 0, 1024 and 2048 of its row.
    expected = [batch[b"data"][0][offset] for offset in (0, 1024, 2048)]
    assert pixels[0, :, 0, 0].tolist() == expected
    assert len(raw) > 1017 * 3072


@requires_shared_data
def test_cifar10_limit_and_grayscale_conversion() -> None:
    data = load_dataset("cifar10", path=str(CIFAR_SAMPLE), limit=100)
    assert_images(data, 100)


@requires_shared_data
def test_truncated_cifar_file_names_the_file(tmp_path: Path) -> None:
    truncated = tmp_path / "test_batch"
    truncated.write_bytes(CIFAR_SAMPLE.read_bytes()[:1_000_000])
    with pytest.raises(DataError) as caught:
        load_dataset("cifar10", path=str(truncated))
    message = str(caught.value)
    assert str(truncated) in message and "\n" not in message


def test_cifar_file_that_would_run_code_is_refused(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    planted = tmp_path / "data_batch_1"
    planted.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}))
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        load_dataset("cifar10", path=str(planted))
    assert not (tmp_path / "pwned").exists()


def test_missing_cifar_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nowhere: no such file or folder"):
        load_dataset("cifar10", path=str(tmp_path / "nowhere"))


@requires_shared_data
def test_folder_reads_set12() -> None:
    assert_images(load_dataset("folder", path=str(SET12)), 12)
    assert_images(load_dataset("folder", path=str(SET12), mode="tiles", tiles=2), 48)
    assert_images(load_dataset("folder", path=str(SET12), mode="center-crop"), 12)


def test_folder_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        load_dataset("folder", path=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="no images"):
        load_dataset("folder", path=str(tmp_path))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="broken.png: cannot read image"):
        load_dataset("folder", path=str(tmp_path))


@requires_shared_data
def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "cut.png").write_bytes((SET12 / "01.png").read_bytes()[:5000])
    with pytest.raises(DataError, match="cut.png: cannot read image"):
        load_dataset("folder", path=str(tmp_path))


def toy_set(count: int) -> ImageSet:
    generator = torch.Generator().manual_seed(0)
    return ImageSet(torch.rand(count, 1, 64, 64, generator=generator), torch.arange(count), tuple(map(str, range(count))))


def test_augment_keeps_originals_and_adds_seeded_copies() -> None:
    data = toy_set(5)
    augmented = augment(data, copies=10, seed=3)
    assert_images(augmented, 55)
    assert torch.equal(augmented.images[:5], data.images)
    assert torch.equal(augmented.sources, torch.cat([torch.arange(5), torch.arange(5).repeat_interleave(10)]))
    assert torch.equal(augment(data, 10, seed=3).images, augmented.images)
    assert not torch.equal(augment(data, 10, seed=4).images, augmented.images)
    # Copies differ from their original, but not by much (small crops, flips, ±10 % jitter).
    assert not torch.equal(augmented.images[5], data.images[0])


def test_by_source_split_keeps_every_source_on_one_side() -> None:
    data = augment(toy_set(100), copies=10, seed=0)
    train, test = split(data, "by-source", 0.2, seed=0)
    assert len(train) == 880 and len(test) == 220
    assert not set(train.sources.tolist()) & set(test.sources.tolist())


def test_train_validation_and_test_never_share_a_source() -> None:
    from denoiser.data import split_three

    data = augment(toy_set(100), copies=3, seed=0)
    train, validation, test = split_three(data, "by-source", 0.2, 0.1, seed=0)
    sources = [set(part.sources.tolist()) for part in (train, validation, test)]
    assert [len(part) for part in sources] == [70, 10, 20]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    assert len(train) + len(validation) + len(test) == len(data)
    with pytest.raises(ConfigurationError, match="validation_fraction"):
        split_three(data, "by-source", 0.5, 0.6)


def test_augmented_copies_split_reproduces_the_designs_880_220() -> None:
    data = augment(toy_set(100), copies=10, seed=0)
    train, test = split(data, "augmented-copies", 0.2, seed=0)
    assert (len(train), len(test)) == (880, 220)
    # The design's flaw, reproduced on purpose: siblings of test images are trained on.
    assert set(train.sources.tolist()) & set(test.sources.tolist())


def test_split_is_seeded() -> None:
    data = toy_set(50)
    first = split(data, "by-source", 0.2, seed=1)[1].sources
    assert torch.equal(first, split(data, "by-source", 0.2, seed=1)[1].sources)
    assert not torch.equal(first, split(data, "by-source", 0.2, seed=2)[1].sources)


def test_unknown_split_and_bad_fraction_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown split 'random'; valid: by-source, augmented-copies"):
        split(toy_set(10), "random")
    with pytest.raises(ConfigurationError, match="test_fraction"):
        split(toy_set(10), "by-source", 1.5)


def test_unknown_data_set_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match="unknown data set 'mnist'; valid: cifar10, folder, pairs, skimage-natural"):
        load_dataset("mnist")
