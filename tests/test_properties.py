"""Property-based tests: every key of the config, every ``--set`` text, every record, baseline file and
checkpoint a user (or a damaged disk) can produce gives a result or one short line, never a traceback.

Each property draws its values from the hostile families: a wrong type, a huge value, a negative one,
NaN or infinity, an empty one, a deeply nested one. The example counts are fixed (``EXAMPLES``) and
derandomised (200 each), so a run is the same on every machine; ``pytest --hypothesis-show-statistics`` shows them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import typing
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.apply import load_checkpoint
from bench.check import read_baseline
from bench.cli import MAX_MESSAGE, main
from bench.config import ConfigError, SweepConfig, expand_parameters, load_config, parse_override
from bench.record import CellRecord, RecordError
from bench.store import ResultStore
from denoiser.baselines import BASELINES, BaselineUnavailable, create_baseline
from denoiser.data import DATASETS
from denoiser.errors import DenoiserError
from denoiser.models import MODELS, create_model_shape
from tests.conftest import CI_CONFIG

EXAMPLES = 200
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def config_keys(kind: type = SweepConfig, prefix: str = "") -> list[str]:
    """Every key path of the config schema, with each model's, baseline's and data set's parameters."""
    keys = []
    for field in dataclasses.fields(kind):
        key = f"{prefix}{field.name}"
        keys.append(key)
        hint = typing.get_type_hints(kind)[field.name]
        if dataclasses.is_dataclass(hint):
            keys.extend(config_keys(hint, key + "."))
    for registry in (MODELS, BASELINES):
        keys.extend(f"models.{entry.name}.{parameter}" for entry in registry for parameter in entry.parameters)
    keys.extend(f"data.params.{parameter}" for entry in DATASETS for parameter in entry.parameters)
    return sorted(set(keys))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


HOSTILE = st.one_of(
    st.text(max_size=20),  # a wrong type
    st.booleans(),
    st.sampled_from([10**30, 2**63, 1e308, "x" * 10_000, list(range(5_000))]),  # huge
    st.integers(max_value=-1),  # negative
    st.floats(max_value=-1e-9, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf]),  # NaN and infinities
    st.sampled_from(["", [], {}, None]),  # empty
    st.integers(min_value=20, max_value=60).map(nested),  # deeply nested
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.lists(st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=4)), max_size=4),
)


def one_short_line(message: str) -> bool:
    return "\n" not in message.strip() and len(message) <= MAX_MESSAGE + 20 and "Traceback" not in message


def as_override(key: str, value: Any) -> str:
    return f"{key}={yaml.safe_dump(value, default_flow_style=True, width=math.inf).strip()}"


@PROPERTY
@given(key=st.sampled_from(config_keys()), value=HOSTILE)
def test_every_config_key_takes_any_value_or_refuses_it_in_one_line(key: str, value: Any) -> None:
    """And a value that is taken works: every model and baseline of the config builds and runs (a value
    accepted here and failing in every cell is the late validation this hunts)."""
    try:
        config = load_config(Path(CI_CONFIG), [as_override(key, value)])
    except ConfigError as error:
        assert one_short_line(str(error)), str(error)[:300]
        return
    family, levels = next(iter(config.eval_noise.items()))
    noise = config.make_noise(family, levels[0])
    for name, params in config.models.items():
        for combination in expand_parameters(name, params):
            if name in MODELS:
                create_model_shape(name, **combination)
                continue
            baseline = create_baseline(name, **combination)
            try:
                baseline.function()
            except BaselineUnavailable:
                continue
            assert baseline(torch.rand(1, 1, 16, 16), noise).shape == (1, 1, 16, 16)


@PROPERTY
@given(key=st.sampled_from(config_keys()), value=HOSTILE)
def test_a_refused_value_is_exit_2_one_line_and_writes_nothing(key: str, value: Any, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    override = as_override(key, value)
    try:
        load_config(Path(CI_CONFIG), [override])
    except ConfigError:
        pass
    else:
        return  # an accepted value would start the sweep: the property above covers it
    out = tmp_path / "never"
    capsys.readouterr()
    assert main(["sweep", CI_CONFIG, "--out", str(out), "--quiet", "--set", override]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and one_short_line(stderr), stderr[:300]
    assert not out.exists()


@PROPERTY
@given(text=st.one_of(st.text(max_size=60), st.builds(lambda key, raw: f"{key}={raw}", st.text(max_size=15), st.text(max_size=40))))
def test_any_set_text_is_parsed_or_refused_in_one_line(text: str) -> None:
    try:
        parse_override(text)
        load_config(Path(CI_CONFIG), [text])
    except ConfigError as error:
        assert one_short_line(str(error)), str(error)[:300]


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
                    max_leaves=20)


def a_record() -> dict[str, Any]:
    return json.loads(CellRecord(cell_id="dae-0", sweep="ci", model="dae", params={"latent_dim": 16}, learned=True,
                                 dataset="d", split="by-source", noise="gaussian", train_level=0.1, seed=0).to_json())


@PROPERTY
@given(key=st.sampled_from(sorted(a_record())), value=st.one_of(HOSTILE, JSON))
def test_a_damaged_record_is_read_or_refused_never_raised(key: str, value: Any, tmp_path: Path) -> None:
    document = a_record() | {key: value}
    try:
        CellRecord.from_dict(document)
    except RecordError as error:
        assert one_short_line(str(error))
    store = ResultStore(tmp_path / "run")
    store.runs.mkdir(parents=True, exist_ok=True)
    store.record_path("dae-0").write_text(json.dumps(document, allow_nan=True))
    record = store.read_record("dae-0")  # unreadable: None, and the cell is recomputed
    assert record is None or record.cell_id == document["cell_id"]


@PROPERTY
@given(document=st.one_of(JSON, st.builds(lambda key, value: {"format": 1, "cells": {}, "tolerances": {}} | {key: value},
                                          st.sampled_from(["format", "cells", "tolerances", "speed_ratio"]), st.one_of(HOSTILE, JSON))))
def test_any_baseline_file_is_read_or_refused_in_one_line(document: Any, tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(document, allow_nan=True))
    try:
        read_baseline(path)
    except DenoiserError as error:
        assert one_short_line(str(error)), str(error)[:300]


@PROPERTY
@given(key=st.sampled_from(["model", "params", "state_dict"]), value=st.one_of(HOSTILE, JSON),
       params=st.dictionaries(st.sampled_from(["latent_dim", "image_size", "depth", "width", "x"]), HOSTILE, max_size=2))
def test_any_checkpoint_is_loaded_or_refused_in_one_line(key: str, value: Any, params: dict[str, Any], tmp_path: Path) -> None:
    model = MODELS.create("dae", latent_dim=4)
    checkpoint = {"model": "dae", "params": {"latent_dim": 4, **params}, "state_dict": model.state_dict()} | {key: value}
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    path = tmp_path / "model.pt"
    path.write_bytes(buffer.getvalue())
    try:
        load_checkpoint(path)
    except DenoiserError as error:
        assert one_short_line(str(error)), str(error)[:300]


# Per key: values in and just beyond what is accepted (the largest seed, the most tiles, a stride of
# one window, …); the hostile families are the properties above. Sizes stay small enough for a whole sweep.
SEEDS = st.one_of(st.integers(0, 5), st.sampled_from([2**31 - 1, 2**32 - 1, 2**32, 2**63, -1]))
FRACTIONS = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1e-9, 0.5, 0.999, 1.0]))
NAMES = st.one_of(st.text(max_size=8), st.sampled_from(["x" * 100, "é" * 50, "x" * 101, " ", "a/b", "a b"]))
PIPELINE_VALUES = {
    "seeds": st.lists(SEEDS, min_size=1, max_size=2), "data.seed": SEEDS, "evaluation.seed": SEEDS,
    "data.params.tiles": st.integers(-1, 6), "data.params.limit": st.integers(-1, 20),
    "data.augment_copies": st.integers(-1, 2), "data.test_fraction": FRACTIONS, "data.validation_fraction": FRACTIONS,
    "data.split": st.sampled_from(["by-source", "augmented-copies", "other"]), "data.name": NAMES, "name": NAMES,
    "train.batch_size": st.integers(0, 40), "train.learning_rate": st.sampled_from([1e-9, 1e-3, 1.0, 1e6, 1e7, 1e300]),
    "train.patience": st.integers(-1, 2), "train.patch_size": st.integers(0, 70), "train.patches_per_epoch": st.integers(0, 20),
    "train.decay_epoch": st.integers(0, 2), "evaluation.tile_stride": st.integers(0, 70),
    "noise.gaussian": st.lists(st.floats(0, 1.5), min_size=1, max_size=2),
    "noise.poisson": st.lists(st.sampled_from([1e-3, 1.0, 30.0, 1e12, 1e13, 1e300]), min_size=1, max_size=2, unique=True),
    "noise.salt-pepper": st.lists(FRACTIONS, min_size=1, max_size=2),
    "evaluation.noise.speckle": st.lists(st.floats(0, 3), min_size=1, max_size=2),
    "models.dncnn.depth": st.integers(0, 5), "models.dncnn.width": st.integers(0, 6), "models.dae.latent_dim": st.integers(0, 6),
    "threads": st.integers(0, 3), "cell_timeout": st.sampled_from([0, 600, -1, 1e9, 1e300]),
}
# The smallest whole sweep: one tile per photograph, one epoch, small models.
SMALLEST = ["speed_reference=false", "train.epochs=1", "train.batch_size=8", "data.params={tiles: 1}",
            "models={noisy: {}, dncnn: {depth: 3, width: 4}, dae: {latent_dim: 2}}", "noise={gaussian: [0.1]}"]
PIPELINE = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
KEY_AND_VALUE = st.sampled_from(sorted(PIPELINE_VALUES)).flatmap(lambda key: st.tuples(st.just(key), PIPELINE_VALUES[key]))


@PIPELINE
@given(key_and_value=KEY_AND_VALUE)
def test_an_accepted_value_runs_through_a_whole_sweep(key_and_value: tuple[str, Any],
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    """A value the config takes goes through the data set, the split, the seeds, one training step and
    the scoring of every cell without a traceback; refused values are one line, with nothing written.
    The hunt for late validation: no cell fails for a reason the config could have said at load."""
    import io as text_io

    from rich.console import Console

    from bench.sweep import run_sweep

    key, value = key_and_value
    if key.startswith("models."):  # a model's own parameter: keep that model in the smallest sweep
        smallest = [item for item in SMALLEST if not item.startswith("models=")] + [
            f"models={{noisy: {{}}, {key.split('.')[1]}: {{}}}}"]
    else:
        smallest = SMALLEST
    try:
        config = load_config(Path(CI_CONFIG), [*smallest, as_override(key, value)])
    except ConfigError as error:
        assert one_short_line(str(error)), str(error)[:300]
        event("refused at load")
        return
    out = tmp_path_factory.mktemp("pipeline") / "out"
    try:
        outcome = run_sweep(config, out, workers=1, console=Console(file=text_io.StringIO()))
    except DenoiserError as error:  # a data set refused once loaded (e.g. too few images to split): one line, nothing written
        assert one_short_line(str(error)) and not out.exists(), str(error)[:300]
        event("refused once the data set was loaded")
        return
    event("ran a whole sweep")
    # a diverging training run (learning_rate 1e6) is an outcome of the experiment, not of the config
    failures = [(record.label(), record.error) for record in outcome.records
                if record.status != "ok" and not str(record.error).startswith("TrainingDiverged")]
    assert not failures, failures
