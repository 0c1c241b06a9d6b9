"""How a cell's denoiser is scored: called the same way whether it was trained or is classical
(:class:`denoiser.interface.Denoiser`), on every evaluation set at every evaluation noise and level it does
not skip, with what it used at each written beside its scores (:func:`evaluate_cell`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from bench.config import SweepConfig, data_channels
from bench.record import Evaluation
from bench.sweep_data import SweepData
from denoiser.baselines import Baseline
from denoiser.estimators import describe as describe_estimator
from denoiser.evaluation import evaluate, evaluate_pairs, evaluate_whole, evaluation_seed
from denoiser.interface import Denoiser
from denoiser.noise import NoiseModel, RealNoise


class Scoring(Denoiser):
    """A cell's denoiser as it is scored: ``denoiser`` called as it is, on ``device`` (where it is timed), and
    what it used at each evaluation (:meth:`settings`: nothing to say for a trained model)."""

    def __init__(self, denoiser: Denoiser, device: torch.device, tiling: str | None = None) -> None:
        self.denoiser, self.device, self.tiling = denoiser, device, tiling

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        return self.denoiser(noisy, noise)

    def skip(self, noise: NoiseModel) -> str | None:
        return self.denoiser.skip(noise)

    def settings(self, noise: NoiseModel, channels: int) -> dict[str, Any] | None:
        """What it used on the evaluation just scored, for the record."""
        return None

    def pair_settings(self, noise: RealNoise, channels: int, truths: list[float]) -> dict[str, Any]:
        """The same on real pairs, with the truth each pair knows (the std of its noisy − clean)."""
        return {"sigma_true_per_image": [round(sigma, 6) for sigma in truths]}


class BaselineRun(Scoring):
    """A classical baseline as a cell scores it, on the CPU: each call notes the σ every image was told (the
    noise model's, or the one estimated from the image), so that the record can say which settings it used."""

    def __init__(self, baseline: Baseline) -> None:
        super().__init__(baseline, torch.device("cpu"))
        self.baseline = baseline
        self._sigmas: list[float | None] = []

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        told = self.baseline.told(noisy, noise)
        self._sigmas += [item.equivalent_sigma for item in told]
        return self.baseline.denoise(noisy, told)

    def settings(self, noise: NoiseModel, channels: int) -> dict[str, Any]:
        """What it used on the evaluation just scored: its settings at the σ told (oracle); the estimator, the
        σ estimated for each image, in image order, and the true one where the family has one (estimated)."""
        sigmas, self._sigmas = self._sigmas, []
        if not self.baseline.uses_sigma:
            return self.baseline.settings(noise, channels)
        if self.baseline.sigma == "oracle":
            return {"sigma_mode": "oracle"} | self.baseline.settings(noise, channels)
        return {
            "sigma_mode": "estimated",
            "estimator": self.baseline.estimator,
            "sigma_estimator": describe_estimator(self.baseline.estimator),
            "sigma_per_image": [round(float(sigma), 6) for sigma in sigmas if sigma is not None],
            "sigma_true": noise.equivalent_sigma,
        }

    def pair_settings(self, noise: RealNoise, channels: int, truths: list[float]) -> dict[str, Any]:
        """The same on real pairs, where the truth is each image's own (the std of noisy − clean): the σ
        told each image (oracle: that truth) beside it."""
        told = [round(float(sigma), 6) for sigma in self._sigmas if sigma is not None]
        settings = self.settings(noise, channels)
        settings.pop("sigma_true", None)
        if self.baseline.uses_sigma:
            settings["sigma_per_image"] = told
        return settings | super().pair_settings(noise, channels, truths)


def evaluate_cell(config: SweepConfig, data: SweepData, scoring: Scoring) -> list[Evaluation]:
    """Every evaluation of one cell: each data set scored (the test split, whole images) at every evaluation
    noise and level the denoiser does not skip (a baseline told the σ skips jpeg, which its ``sigma: estimated``
    rows score), then each set of real-noise pairs once, unless it skips real noise (the truth each pair knows
    told to a baseline in ``sigma: oracle`` mode); what the denoiser used (a baseline's colour options, the σ it was told or
    estimated) is recorded beside its scores."""
    channels = data_channels(config)
    evaluations = []
    sets = ([(config.data.label, None)] if config.evaluation.test_split else []) + list(data.whole.items())
    for dataset, whole in sets:
        for family, levels in config.eval_noise.items():
            for level in levels:
                noise = config.make_noise(family, level)
                if scoring.skip(noise) is not None:
                    continue
                seed = evaluation_seed(config.evaluation.seed, noise)
                if whole is None:
                    scores = evaluate(scoring, data.test.images, noise, seed)
                else:
                    scores = evaluate_whole(scoring, whole, noise, seed)
                tiled = scoring.tiling if whole is not None else None
                settings = scoring.settings(noise, channels)
                evaluations.append(
                    dataclasses.replace(scores, noise=family, level=level, dataset=dataset, tiled=tiled, settings=settings)
                )
    for dataset, pairs in data.pairs.items():
        if scoring.skip(RealNoise.of(*pairs[0][1:])) is not None:  # asked as of any noise: real noise, the first pair's σ
            continue
        scores, truths = evaluate_pairs(scoring, pairs)
        noise = RealNoise(scores.level)
        settings = scoring.pair_settings(noise, channels, truths)
        key = noise.protocol_key(channels)
        evaluations.append(
            dataclasses.replace(
                scores, protocol=key.text, protocol_key=key.identity, dataset=dataset, tiled=scoring.tiling, settings=settings
            )
        )
    return evaluations
