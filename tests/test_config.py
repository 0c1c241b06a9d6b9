from pathlib import Path

import pytest

from bench.config import ConfigError, load_config, parse_override
from bench.grid import build_cells
from bench.variants import expand_parameters
from tests.conftest import REPOSITORY

CONFIGS = sorted((REPOSITORY / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    import yaml

    tree = yaml.safe_load(path.read_text())  # every path the config names, pointed at a folder that exists anywhere
    overrides = ["data.params.path=."] if "path" in tree.get("data", {}).get("params", {}) else []
    overrides += [f"evaluation.datasets.{name}.params.path=." for name, spec in tree.get("evaluation", {}).get("datasets", {}).items()
                  if "path" in spec.get("params", {})]
    config = load_config(path, overrides)
    assert build_cells(config)


def test_quick_shows_the_dae_beside_real_denoisers() -> None:
    config = load_config(REPOSITORY / "configs" / "quick.yaml")
    assert config.data.dataset == "skimage-natural" and config.train.select_on == "validation"
    assert config.noise == {"gaussian": [0.05, 0.1, 0.2]}
    cells = build_cells(config)
    learned = [cell for cell in cells if cell.learned]
    assert sorted({cell.params["latent_dim"] for cell in learned if cell.model == "dae"}) == [32, 128]
    assert len(learned) == 9 and {cell.model for cell in cells} == {"dae", "dncnn", "tv", "nl-means", "noisy"}


def test_literature_is_the_dncnn_papers_protocol() -> None:
    config = load_config(REPOSITORY / "configs" / "literature.yaml", ["data.params.path=.", "evaluation.datasets.set12.params.path=."])
    assert config.noise == {"gaussian": [15, 25, 50]} and config.noise_options == {"gaussian": {"clip": False, "scale": 255}}
    assert config.models["dncnn"] == {"depth": 17, "width": 64}
    assert set(config.models) == {"dncnn", "bm3d", "nl-means", "tv", "wavelet", "bilateral"}
    assert not config.evaluation.test_split and set(config.evaluation.datasets) == {"set12"}
    assert config.train.patch_size == 40 and config.data.params["mode"] == "native"


def test_seed_is_the_design_protocol() -> None:
    config = load_config(REPOSITORY / "configs" / "seed.yaml", ["data.params.path=."])
    assert (config.data.dataset, config.data.params["limit"], config.data.augment_copies) == ("cifar10", 100, 10)
    assert config.data.split == "augmented-copies"
    assert config.noise == {"gaussian": [0.03, 0.1, 0.2, 0.3, 0.5]}
    assert config.models == {"dae": {"latent_dim": [32, 64, 128, 256]}}
    assert (config.train.epochs, config.train.patience, config.train.batch_size, config.train.learning_rate) == (200, 10, 64, 1e-3)
    assert config.train.select_on == "test" and config.data.validation_fraction == 0  # the design's, marked [leaky]


def test_overrides_are_parsed_as_yaml() -> None:
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("models.dae.latent_dim=[8, 16]") == (["models", "dae", "latent_dim"], [8, 16])
    config = load_config(None, ["train.epochs=3", "noise.gaussian=[0.2]"])
    assert config.train.epochs == 3 and config.noise == {"gaussian": [0.2]}


def test_config_objects_are_frozen() -> None:
    config = load_config(None)
    with pytest.raises(AttributeError):
        config.train.epochs = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "override, message",
    [
        ("trian.epochs=3", "unknown key 'trian'; valid: name, data, models"),
        ("train.epoch=3", "unknown key 'train.epoch'; valid: epochs, patience, batch_size, learning_rate, patch_size"),
        ("train.epochs=three", "train.epochs: expected an integer, got 'three'"),
        ("train.epochs=0", "train.epochs: must be at least 1"),
        ("noise.gaussian=[-0.1]", "noise.gaussian: gaussian sigma must be ≥ 0"),
        ("noise.pink=[0.1]", "noise: unknown noise model 'pink'; valid: camera, correlated-gaussian, gaussian"),
        ("models.dae.latent_dim=[0]", "models.dae: latent_dim must be at least 1"),
        ("models.unet={}", "models: unknown model 'unet'; valid: dae"),
        ("models.dae.latent=[3]", "models.dae.latent: dae has no such parameter; valid: channels, image_channels, image_size, latent_dim"),
        ("data.dataset=mnist", "data.dataset: unknown data set 'mnist'; valid: cifar10, folder, skimage-natural"),
        ("data.split=random", "data.split: unknown split 'random'; valid: by-source, augmented-copies"),
        ("name=../escape", "name: '../escape' must be a plain folder name"),
        ("seeds=[]", "seeds: give at least one seed"),
        ("threads=0", "threads: must be between 1 and"),
        ("noise.gaussian=[0.1, 0.1]", "noise.gaussian: a level is listed twice ([0.1, 0.1])"),
        ("evaluation.noise={gaussian: [0.2, 0.2]}", "evaluation.noise.gaussian: a level is listed twice"),
        ("seeds=[0, 0]", "seeds: a seed is listed twice"),
        ("data.validation_fraction=0.9", "data.validation_fraction: must be between 0 and 1 − test_fraction (0.8)"),
        ("data.validation_fraction=0", "data.validation_fraction: 0 leaves nothing to choose the epoch on"),
        ("train.select_on=train", "train.select_on: unknown choice 'train'; valid: validation, test"),
        ("train.patch_size=-1", "train.patch_size: must be ≥ 0"),
        ("noise_options={gaussian: {clip: maybe}}", "noise.gaussian: gaussian clip must be true or false"),
        ("noise_options={gaussian: {scale: 0}}", "noise.gaussian: gaussian scale must be > 0"),
        ("noise_options={gaussian: {colour: red}}", "noise_options.gaussian.colour: gaussian has no such option; valid: clip, scale"),
        ("noise_options={pink: {}}", "noise_options: unknown noise model 'pink'"),
        ("evaluation.test_split=false", "evaluation.test_split: false leaves nothing to score"),
        ("evaluation.tile_stride=0", "evaluation.tile_stride: must be at least 1"),
        ("evaluation.datasets={x: {dataset: cifar10}}", "evaluation.datasets.x.dataset: 'cifar10' has no whole images"),
        ("evaluation.datasets={x: {dataset: folder}}", "evaluation.datasets.x.params.path: the folder data set needs a path"),
        ("evaluation.datasets={x: {dataset: folder, params: {path: /no/where}}}", "evaluation.datasets.x.params.path: /no/where is not a folder"),
        ("evaluation.datasets={x: {dataset: skimage-natural, params: {tiles: 2}}}", "evaluation.datasets.x.params.tiles: no such parameter"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_data_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.params.path: .*nowhere does not exist"):
        load_config(None, ["data.dataset=folder", f"data.params.path={tmp_path / 'nowhere'}"])


@pytest.mark.parametrize("override", ["train.epochs", "=3", "a..b=1", "train.epochs=[1,"])
def test_malformed_set_is_refused(override: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        load_config(None, [override])


def test_bad_yaml_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML at line"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.yaml")


def test_tuple_parameters_take_a_list_of_lists_as_an_axis() -> None:
    assert expand_parameters("dae", {"channels": [16, 32, 64]}) == [{"channels": [16, 32, 64]}]
    assert expand_parameters("dae", {"channels": [[8, 16, 32], [16, 32, 64]], "latent_dim": [4, 8]}) == [
        {"channels": [8, 16, 32], "latent_dim": 4}, {"channels": [8, 16, 32], "latent_dim": 8},
        {"channels": [16, 32, 64], "latent_dim": 4}, {"channels": [16, 32, 64], "latent_dim": 8},
    ]


def test_cell_ids_change_only_with_what_determines_the_result() -> None:
    base = {cell.label(): cell.cell_id for cell in build_cells(load_config(REPOSITORY / "configs" / "ci.yaml"))}
    more = {cell.label(): cell.cell_id for cell in build_cells(
        load_config(REPOSITORY / "configs" / "ci.yaml", ["models.dae.latent_dim=[16, 8]", "workers=1"]))}
    assert all(more[label] == cell_id for label, cell_id in base.items())
    longer = build_cells(load_config(REPOSITORY / "configs" / "ci.yaml", ["train.epochs=4"]))
    changed = {cell.label(): cell.cell_id for cell in longer}
    assert all(changed[label] != cell_id for label, cell_id in base.items() if label.startswith("dae"))
    assert changed["noisy"] == base["noisy"]  # a baseline does not train
