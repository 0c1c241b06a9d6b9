"""Published figures that a sweep's numbers can be checked against, with their sources.

A figure applies to a leaderboard group when the data set's name, the noise family and the
exact noise protocol match: the literature's Gaussian noise is N(0, σ²) on the [0, 1] scale,
**not clipped**, with σ given on the 0–255 scale (``noise_options: {gaussian: {clip: false, scale: 255}}``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    method: str  # as the source names it
    model: str  # the registry name it corresponds to
    dataset: str  # lower case
    sigma: int  # on the 0–255 scale
    psnr: float
    source: str


_BM3D = "Dabov et al., IEEE TIP 2007, as tabulated in Zhang et al., IEEE TIP 2017 (DnCNN), Table II"
_DNCNN = "Zhang et al., IEEE TIP 2017 (DnCNN), Table II (DnCNN-S: 17 layers, 64 channels, fully trained)"

PUBLISHED = [
    Published("BM3D", "bm3d", "set12", 15, 32.37, _BM3D),
    Published("BM3D", "bm3d", "set12", 25, 29.97, _BM3D),
    Published("BM3D", "bm3d", "set12", 50, 26.72, _BM3D),
    Published("DnCNN-S", "dncnn", "set12", 15, 32.86, _DNCNN),
    Published("DnCNN-S", "dncnn", "set12", 25, 30.44, _DNCNN),
    Published("DnCNN-S", "dncnn", "set12", 50, 27.18, _DNCNN),
]


def literature_protocol(sigma: int) -> str:
    """The noise protocol string a record carries for the literature's Gaussian noise at σ/255."""
    return f"y = x + N(0, σ²), not clipped, σ = {sigma:g}/255"


def published_for(dataset: str, noise: str, protocol: object) -> list[Published]:
    """The published figures for one leaderboard group (data set, noise family, protocol)."""
    if noise != "gaussian" or not isinstance(protocol, str):
        return []
    return [
        figure for figure in PUBLISHED if figure.dataset == str(dataset).lower() and protocol == literature_protocol(figure.sigma)
    ]


def describe_published(figures: list[Published]) -> str:
    """One line: ``Published: BM3D 29.97 dB (source); DnCNN-S 30.44 dB (source).``"""
    return "Published: " + "; ".join(f"{figure.method} {figure.psnr:.2f} dB ({figure.source})" for figure in figures) + "."
