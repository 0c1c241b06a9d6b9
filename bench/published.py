"""Published figures that a sweep's numbers can be checked against, with their sources.

A figure applies to a leaderboard group when the data set's name and the noise match: the noise by its
protocol key (:class:`denoiser.protocol.ProtocolKey`: the family, its level and options, the channels),
which the group's protocol text is compared with through the one renderer that wrote it. The literature's
Gaussian noise is N(0, σ²) on the [0, 1] scale, **not clipped**, with σ given on the 0–255 scale
(``noise_options: {gaussian: {clip: false, scale: 255}}``), drawn per channel on a colour set.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from bench.schema import COLOUR_MARK
from denoiser.protocol import ProtocolKey


@dataclass(frozen=True)
class Published:
    method: str  # as the source names it
    model: str  # the registry name it corresponds to
    dataset: str  # lower case
    sigma: int  # on the 0–255 scale
    psnr: float
    source: str
    depth: int | None = None  # for a network: the depth (layers) the figure was obtained with; width 64 throughout
    blind: bool = False  # trained over a range of levels (DnCNN-B: σ uniform in [0, 55]) rather than at the σ scored

    @property
    def key(self) -> ProtocolKey:
        """The noise the figure was measured under: the literature's Gaussian noise at σ/255, per channel in colour."""
        return literature_key(self.sigma, colour=self.dataset in COLOUR_SETS)


# DnCNN's paper: Table II is BSD68's averages, Table III the twelve Set12 images and their average
# (its Table I lists effective patch sizes). DnCNN-B's figures are in the same tables; the authors' README
# (github.com/cszn/DnCNN, "Gaussian Denoising") repeats the BSD68 row: 31.61, 29.16, 26.23.
_BM3D = "Dabov et al., IEEE TIP 2007, as tabulated in Zhang et al., IEEE TIP 2017 (DnCNN), Table III"
_DNCNN = "Zhang et al., IEEE TIP 2017 (DnCNN), Table III (DnCNN-S: 17 layers, 64 channels, trained at the σ scored)"
_BSD68 = "Zhang et al., IEEE TIP 2017 (DnCNN), Table II"
_DNCNN_B = (
    "Zhang et al., IEEE TIP 2017 (DnCNN), {table} (DnCNN-B: 20 layers, 64 channels, one model trained with σ uniform in [0, 55])"
)
# CBM3D, CDnCNN-B and FFDNet, as the FFDNet paper tabulates them
_COLOUR = "Zhang, Zuo and Zhang, IEEE TIP 2018 (FFDNet), colour denoising results"
_DRUNET = "Zhang et al., IEEE TPAMI 2022 (DPIR), colour denoising results"


def _figures(
    method: str,
    model: str,
    dataset: str,
    psnrs: tuple[float, float, float],
    source: str,
    depth: int | None = None,
    blind: bool = False,
) -> list[Published]:
    return [Published(method, model, dataset, sigma, psnr, source, depth, blind) for sigma, psnr in zip((15, 25, 50), psnrs)]


PUBLISHED = [
    Published("BM3D", "bm3d", "set12", 15, 32.37, _BM3D),
    Published("BM3D", "bm3d", "set12", 25, 29.97, _BM3D),
    Published("BM3D", "bm3d", "set12", 50, 26.72, _BM3D),
    *_figures("DnCNN-S", "dncnn", "set12", (32.86, 30.44, 27.18), _DNCNN, depth=17),
    *_figures("DnCNN-B", "dncnn", "set12", (32.68, 30.36, 27.21), _DNCNN_B.format(table="Table III"), depth=20, blind=True),
    *_figures("BM3D", "bm3d", "bsd68", (31.07, 28.57, 25.62), _BSD68),
    *_figures("DnCNN-S", "dncnn", "bsd68", (31.73, 29.23, 26.23), _BSD68, depth=17),
    *_figures("DnCNN-B", "dncnn", "bsd68", (31.61, 29.16, 26.23), _DNCNN_B.format(table="Table II"), depth=20, blind=True),
    # colour: the noise drawn independently in each channel
    *_figures("CBM3D", "bm3d", "cbsd68", (33.52, 30.71, 27.38), _COLOUR),
    *_figures("CBM3D", "bm3d", "kodak24", (34.28, 31.68, 28.46), _COLOUR),
    *_figures("CBM3D", "bm3d", "mcmaster", (34.06, 31.66, 28.51), _COLOUR),
    *_figures("CDnCNN-B", "dncnn", "cbsd68", (33.89, 31.23, 27.92), _COLOUR),
    *_figures("CDnCNN-B", "dncnn", "kodak24", (34.48, 32.03, 28.85), _COLOUR),
    *_figures("CDnCNN-B", "dncnn", "mcmaster", (33.44, 31.51, 28.61), _COLOUR),
    *_figures("FFDNet", "ffdnet", "cbsd68", (33.87, 31.21, 27.96), _COLOUR),
    *_figures("FFDNet", "ffdnet", "kodak24", (34.63, 32.13, 28.98), _COLOUR),
    *_figures("FFDNet", "ffdnet", "mcmaster", (34.66, 32.35, 29.18), _COLOUR),
    *_figures("DRUNet", "drunet", "cbsd68", (34.30, 31.69, 28.51), _DRUNET),
    *_figures("DRUNet", "drunet", "kodak24", (35.31, 32.89, 29.86), _DRUNET),
    *_figures("DRUNet", "drunet", "mcmaster", (35.40, 33.14, 30.08), _DRUNET),
]
COLOUR_SETS = ("cbsd68", "kodak24", "mcmaster")


@functools.cache
def literature_key(sigma: float, colour: bool = False) -> ProtocolKey:
    """The literature's Gaussian noise at σ/255, not clipped, as the noise model identifies it (drawn
    independently in each channel of a colour image)."""
    from denoiser.noise import create_noise  # torch: only when a figure is matched

    return create_noise("gaussian", sigma, clip=False, scale=255).protocol_key(3 if colour else 1)


def published_for(dataset: str, noise: str, protocol: object, key: object = None) -> list[Published]:
    """The published figures for one leaderboard group (data set, noise family, protocol as records carry it):
    those of the data set whose protocol key is the group's, compared as data (``key``: the records'
    ``noise_key``, :attr:`denoiser.protocol.ProtocolKey.identity` as sorted JSON), so that rewording the protocol
    keeps them matched; for records older than the key, their text against the figure's key rendered by the one
    renderer. Data-set names match case-insensitively, so a user's own copy of CBSD68 named ``CBSD68`` gets the
    figures beside it."""
    name = str(dataset).removesuffix(COLOUR_MARK).lower()
    colour = str(dataset).endswith(COLOUR_MARK) or name in COLOUR_SETS
    candidates = [figure for figure in PUBLISHED if figure.dataset == name and colour == (figure.dataset in COLOUR_SETS)]
    candidates = [figure for figure in candidates if figure.key.family == noise]
    if isinstance(key, str):
        return [figure for figure in candidates if json.dumps(figure.key.identity, sort_keys=True) == key]
    return [figure for figure in candidates if isinstance(protocol, str) and figure.key.text == protocol]


def describe_published(figures: list[Published]) -> str:
    """One line: ``Published: BM3D 29.97 dB (source); DnCNN-S 30.44 dB (source).``"""
    return "Published: " + "; ".join(f"{figure.method} {figure.psnr:.2f} dB ({figure.source})" for figure in figures) + "."
