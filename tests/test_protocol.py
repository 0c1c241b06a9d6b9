"""One protocol identity: the noise model builds its key, one renderer words it, and published figures
are matched to a group by their key rendered through that renderer, never by a sentence typed twice."""

from __future__ import annotations

import pytest

import denoiser.protocol
from bench.published import COLOUR_SETS, PUBLISHED, literature_key, published_for
from denoiser.noise import create_noise, protocol_for
from denoiser.protocol import ProtocolKey


def literature(sigma: float):
    return create_noise("gaussian", sigma, clip=False, scale=255)


def test_the_key_is_the_noise_and_its_channels() -> None:
    key = literature(25).protocol_key(3)
    assert key == literature(25.0).protocol_key(3) == ProtocolKey(literature(25), 3)
    assert key != literature(25).protocol_key(1) and key != create_noise("gaussian", 25, scale=255).protocol_key(3)
    assert (key.family, key.noise.clip, key.noise.scale, key.per_channel) == ("gaussian", False, 255.0, True)
    assert not create_noise("jpeg", 40).protocol_key(3).per_channel  # one JPEG for the three channels


def test_records_carry_the_sentence_the_renderer_words_from_the_key() -> None:
    sentence = "y = x + N(0, σ²) per channel, not clipped, σ = 25/255"
    assert protocol_for(literature(25), 3) == literature(25).protocol_key(3).text == sentence
    assert literature_key(25, colour=False).text == "y = x + N(0, σ²), not clipped, σ = 25/255"  # the text records hold


def groups() -> list[tuple[str, str]]:
    """(data set, protocol text) of a leaderboard group for every published figure, as a sweep's records word it."""
    return [
        (figure.dataset, protocol_for(literature(figure.sigma), 3 if figure.dataset in COLOUR_SETS else 1))
        for figure in PUBLISHED
    ]


def test_published_figures_stay_matched_when_the_wording_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = [published_for(dataset, "gaussian", text) for dataset, text in groups()]
    assert all(before)
    original = denoiser.protocol.render
    monkeypatch.setattr(denoiser.protocol, "render", lambda key: original(key).replace("not clipped", "unclipped") + " (v2)")
    reworded = groups()
    assert all("unclipped" in text for _, text in reworded)
    assert [published_for(dataset, "gaussian", text) for dataset, text in reworded] == before


def test_no_figure_for_another_noise() -> None:
    clipped = protocol_for(create_noise("gaussian", 25, scale=255), 1)
    assert published_for("set12", "gaussian", clipped) == []
    assert published_for("set12", "speckle", protocol_for(literature(25), 1)) == []


def test_records_keep_the_key_as_data_so_a_rewording_keeps_older_records_matched(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record written before the wording changed carries the old sentence and the key as data: the key still
    matches its figures; a record older than the key is matched by its sentence, as before."""
    import json

    stored = [
        (
            dataset,
            text,
            json.dumps(literature(figure.sigma).protocol_key(3 if dataset in COLOUR_SETS else 1).identity, sort_keys=True),
        )
        for (dataset, text), figure in zip(groups(), PUBLISHED)
    ]
    before = [published_for(dataset, "gaussian", text, key) for dataset, text, key in stored]
    assert all(before) and before == [published_for(dataset, "gaussian", text) for dataset, text, _ in stored]
    original = denoiser.protocol.render
    monkeypatch.setattr(denoiser.protocol, "render", lambda key: original(key).replace("not clipped", "unclipped"))
    assert [published_for(dataset, "gaussian", text, key) for dataset, text, key in stored] == before
    assert published_for("set12", "gaussian", "y = x + N(0, σ²), not clipped, σ = 25/255", '{"family": "gaussian"}') == []
