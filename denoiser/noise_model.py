"""The base of the noise models, their registry, and what each family declares about itself.

A noise model maps (clean batch in [0, 1], torch.Generator) to a noisy batch in [0, 1]; a family is a
registered factory taking a severity level (and options). A family declares, at registration, its
documented ladder of severities and how a plot words its level (:func:`register_noise`), which every
table, plot and test reads from here (:func:`ladder`, :func:`level_label`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from denoiser.errors import ConfigurationError
from denoiser.protocol import ProtocolKey
from denoiser.registry import Registry

# The five σ of gaussian's ladder (on mid-grey, [0, 1] scale), which poisson-gaussian, correlated-gaussian and
# camera share: the same noise power on mid-grey at each severity, so that a row of results differs from
# gaussian's only by the signal dependence, the spatial correlation or the camera's pipeline.
SIGMA_LADDER = (0.04, 0.08, 0.12, 0.15, 0.18)


@dataclass(frozen=True)
class NoiseModel:
    """Base of the noise models: a family name and its severity level."""

    level: float

    family = "none"
    level_name = "level"
    per_channel: ClassVar[bool] = True  # each channel of a colour image gets its own independent draw

    @property
    def equivalent_sigma(self) -> float | None:
        """Standard deviation of the noise on a mid-grey (0.5) image, before clamping: how the
        classical baselines set their strength for any family. None where the family has no
        meaningful equivalent σ (``jpeg``: compression artefacts depend on the image, not on its grey level)."""
        raise NotImplementedError

    @property
    def colour_handling(self) -> str:
        """How a model that is not ``per_channel`` treats the channels of a colour image, for records."""
        return "channels not drawn independently"

    @property
    def protocol(self) -> str:
        """Exactly what this noise does, for records, e.g. ``y = clamp(x + N(0, σ²), 0, 1), σ = 0.1``."""
        return f"{self.family} {self.level_name} {self.level:g}"

    def protocol_key(self, channels: int) -> ProtocolKey:
        """This noise on images of ``channels`` channels, as records and published figures identify it."""
        return ProtocolKey(self, channels)

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


NOISE: Registry[NoiseModel] = Registry("noise model")


def register_noise(
    name: str, *, ladder: Sequence[float] = (), level_label: str | None = None
) -> Callable[[Callable[..., NoiseModel]], Callable[..., NoiseModel]]:
    """Decorator: register a noise model, a factory taking level (and options) and returning a NoiseModel:
    ``@register_noise("name", ladder=(0.04, 0.08, 0.12, 0.15, 0.18), level_label="σ ([0, 1] scale)")``.

    ``ladder``: the family's documented severities, mild → severe (five, as CIFAR-10-C and ImageNet-C grade
    their corruptions; for a family where a lower level is more severe, decreasing); ``level_label``: how a
    plot's axis words the level (default ``"<name> severity"``)."""
    if isinstance(ladder, (str, bytes)) or not all(
        isinstance(level, (int, float)) and not isinstance(level, bool) for level in ladder
    ):
        raise ConfigurationError(f"noise model {name!r}: ladder must be a list of numbers, got {str(ladder)[:60]!r}")
    if level_label is not None and (not isinstance(level_label, str) or not level_label.strip()):
        raise ConfigurationError(f"noise model {name!r}: level_label must be a non-blank string, got {level_label!r}")
    metadata = {"ladder": tuple(ladder)} | ({"level_label": level_label} if level_label is not None else {})
    return NOISE.register(name, **metadata)


def ladder(family: str) -> tuple[float, ...]:
    """The documented severities of registered family ``family``, mild → severe; empty where it gave none."""
    return tuple(NOISE.get(family).metadata.get("ladder", ()))


def level_label(family: str) -> str:
    """How a plot's axis words ``family``'s level: as the family registered it, else ``"<family> severity"``
    (so too for a family that is not registered, such as the ``real`` noise already in pairs)."""
    label = NOISE.get(family).metadata.get("level_label") if family in NOISE else None
    return label if isinstance(label, str) else f"{family} severity"


def protocol_for(noise: NoiseModel, channels: int) -> str:
    """The sentence a record carries for ``noise`` on images of ``channels`` channels, rendered from its key
    by the one renderer (:func:`denoiser.protocol.render`), e.g. ``y = x + N(0, σ²) per channel, not
    clipped, σ = 25/255``."""
    return noise.protocol_key(channels).text


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
