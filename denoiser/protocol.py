"""The identity of a noise protocol, and the one place that words it.

A record says exactly what noise its numbers were measured under, as a sentence (``y = x + N(0, σ²) per
channel, not clipped, σ = 25/255``), and published figures stand beside the measured numbers whose noise
is theirs. :class:`ProtocolKey` is that identity: the noise model (a frozen dataclass, whose class and
fields are its family, level and options: clip, scale, …) and the channels it is drawn on. :func:`render`
turns a key into the records' sentence, so that the wording is written once and a key rendered anywhere
(a published figure's, a cell's) reads as the records do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol


class Described(Protocol):
    """What the renderer reads of a noise model (:class:`denoiser.noise_model.NoiseModel` has it)."""

    @property
    def family(self) -> str: ...

    @property
    def protocol(self) -> str: ...  # the noise on one channel, e.g. ``y = x + N(0, σ²), not clipped, σ = 25/255``

    @property
    def per_channel(self) -> bool: ...

    @property
    def colour_handling(self) -> str: ...


@dataclass(frozen=True)
class ProtocolKey:
    """Which noise, exactly, on images of how many channels; two keys are equal when the noise is."""

    noise: Described  # its family, level and options (clip, scale, …), compared field by field
    channels: int  # of the images it is drawn on: 1 (grayscale) or 3 (colour)

    @property
    def family(self) -> str:
        return self.noise.family

    @property
    def per_channel(self) -> bool:
        """Each channel of a colour image gets its own, independent draw."""
        return self.channels > 1 and self.noise.per_channel

    @property
    def identity(self) -> dict[str, Any]:
        """The key as records keep it, beside the text: the family, the noise model's fields (level, clip,
        scale, …), the channels and whether each is drawn on its own; equal for equal noise, whatever the wording."""
        noise: Any = self.noise
        fields: dict[str, Any] = {}
        if dataclasses.is_dataclass(noise) and not isinstance(noise, type):
            fields = dataclasses.asdict(noise)
        return {"family": self.family, **fields, "channels": self.channels, "per_channel": self.per_channel}

    @property
    def text(self) -> str:
        """The sentence records carry (:func:`render`)."""
        return render(self)


def _end_of_first_term(protocol: str) -> int:
    """Where the first comma-separated term of a protocol string ends, commas inside brackets not
    counting (``y = clamp(x + N(0, σ²), 0, 1)`` is one term); its length where there is no such comma."""
    depth = 0
    for index, character in enumerate(protocol):
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif character == "," and depth == 0:
            return index
    return len(protocol)


def render(key: ProtocolKey) -> str:
    """The noise's protocol on images of ``key.channels`` channels: the model's own ``protocol`` for one
    channel; for more, " per channel" after the noise term where the model draws each channel independently
    (``per_channel``), e.g. ``y = x + N(0, σ²) per channel, not clipped, σ = 25/255``; otherwise how the
    model treats the channels after the whole protocol (``colour_handling``), e.g. jpeg's ``…, RGB encoded
    as one JPEG (YCbCr, 4:2:0 chroma subsampling)``. Real noise is not drawn: its record says instead that
    the σ told is one number over all its channels."""
    protocol = key.noise.protocol
    if key.channels == 1:
        return protocol
    if not key.per_channel:
        return f"{protocol}, {key.noise.colour_handling}"
    end = _end_of_first_term(protocol)
    return f"{protocol[:end]} per channel{protocol[end:]}"
