"""Each registered noise estimator's mean estimate / truth, on synthetic noise of known σ and on real pairs:
the README's estimator table.

    python -m bench.estimator_table [--images ../shared/data/Set12] [--pairs ../shared/data/PolyU]

Synthetic rows: every image of ``--images`` (grayscale, native size) under each family at σ 25/255, not
clipped, one seeded draw per image; the truth is the σ the family would tell a baseline. The ``real`` row:
every pair of ``--pairs`` (PolyU's layout, in colour); the truth is each pair's residual std.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from denoiser.data import load_native, load_pairs
from denoiser.estimators import ESTIMATORS, estimate
from denoiser.noise import RealNoise, create_noise, make_generator

SIGMA = 25 / 255
FAMILIES: tuple[tuple[str, dict[str, float]], ...] = (
    ("gaussian", {}),
    ("correlated-gaussian", {"width": 0.5}),
    ("correlated-gaussian", {"width": 1.0}),
    ("correlated-gaussian", {"width": 2.0}),
    ("poisson-gaussian", {}),
)


def synthetic_ratios(images: list[torch.Tensor]) -> dict[str, dict[str, float]]:
    """Row label → estimator → mean estimate / true σ over the images."""
    rows = {}
    for family, options in FAMILIES:
        noise = create_noise(family, SIGMA, clip=False, **options)
        noisy = [noise(image.clone(), make_generator(index)) for index, image in enumerate(images)]
        label = family + "".join(f" {key} {value:g}" for key, value in options.items())
        rows[label] = {name: sum(estimate(name, image) for image in noisy) / (len(noisy) * SIGMA) for name in ESTIMATORS.names()}
    return rows


def pair_ratios(pairs: list[tuple[str, torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Estimator → mean over the pairs of estimate / residual std."""
    truths = [RealNoise.of(clean, noisy).level for _, clean, noisy in pairs]
    return {
        name: sum(estimate(name, noisy) / truth for (_, _, noisy), truth in zip(pairs, truths)) / len(pairs)
        for name in ESTIMATORS.names()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/data/Set12"))
    parser.add_argument("--pairs", type=Path, default=Path("../shared/data/PolyU"))
    arguments = parser.parse_args()
    rows = synthetic_ratios([image for _, image in load_native("folder", path=str(arguments.images))])
    rows[f"real ({arguments.pairs.name} pairs)"] = pair_ratios(load_pairs(str(arguments.pairs), color=True, layout="polyu"))
    names = ESTIMATORS.names()
    print("| noise | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, ratios in rows.items():
        print(f"| {label} | " + " | ".join(f"{ratios[name]:.3f}" for name in names) + " |")


if __name__ == "__main__":
    main()
