"""Classical denoisers: no training; their parameters follow from the known noise model and level.

Each maps (noisy batch (N, 1, H, W) in [0, 1], the noise model that made it) to an
estimate of the same shape, and says which parameters it used (written in the cell record).
The strength of every filter is set from the noise's ``equivalent_sigma`` (its standard
deviation on a mid-grey image: σ itself for Gaussian noise), times a documented factor:

| baseline | call (scikit-image unless said) | parameters |
| --- | --- | --- |
| ``noisy`` | identity | none |
| ``tv`` | ``denoise_tv_chambolle`` | ``weight = 1.0·σ`` |
| ``wavelet`` | ``denoise_wavelet`` | ``method="BayesShrink", mode="soft", sigma=σ, rescale_sigma=True`` |
| ``nl-means`` | ``denoise_nl_means`` | ``h = 0.8·σ, sigma=σ, patch_size=5, patch_distance=6, fast_mode=True`` |
| ``bilateral`` | ``denoise_bilateral`` | ``sigma_color = 2·σ, sigma_spatial=1.5`` |
| ``bm3d`` | ``bm3d.bm3d`` (optional extra) | ``sigma_psd=σ`` |

The factors were chosen on skimage-natural tiles at σ 0.1 and 0.3 (1.0 for TV was best
of 0.5–2; 0.8 for NL-means is scikit-image's own example; 2 for the bilateral colour σ
was the better of 1–3 across both levels).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from denoiser.errors import ConfigurationError, DenoiserError
from denoiser.noise import NoiseModel
from denoiser.registry import Registry


class BaselineUnavailable(DenoiserError):
    """An optional baseline whose package is not installed."""


@dataclass(frozen=True)
class Baseline:
    """Base of the classical denoisers: ``function(image, **settings(noise))`` on each (H, W) float64 image."""

    name = "baseline"

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        """The parameters used at this noise model and level."""
        return {}

    def function(self) -> Callable[..., np.ndarray]:
        raise NotImplementedError

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        """Denoise each image of the batch, on the CPU, in parallel over images (threads: torch's thread count)."""
        function, settings = self.function(), self.settings(noise)
        images = noisy.detach().cpu().double().numpy()[:, 0]  # (N, H, W)

        def one(image: np.ndarray) -> np.ndarray:
            return function(image, **settings)

        threads = max(1, torch.get_num_threads())
        if threads == 1 or len(images) == 1:
            outputs = [one(image) for image in images]
        else:
            with ThreadPoolExecutor(threads) as pool:
                outputs = list(pool.map(one, images))
        return torch.from_numpy(np.stack(outputs)).unsqueeze(1).to(noisy.dtype).clamp(0, 1)


BASELINES: Registry[Baseline] = Registry("baseline")


@dataclass(frozen=True)
class FunctionBaseline(Baseline):
    """A classical method given as a callable ``method(noisy, noise, **params) -> estimate`` on a batch
    (N, 1, H, W) in [0, 1], with the noise model (``noise.equivalent_sigma`` is its σ)."""

    method: Callable[..., Any] = None  # type: ignore[assignment]
    params: dict[str, Any] = None  # type: ignore[assignment]

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        return {**self.params, "sigma": noise.equivalent_sigma}

    def function(self) -> Callable[..., Any]:
        return self.method

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        estimate = self.method(noisy, noise, **self.params)
        estimate = torch.as_tensor(np.asarray(estimate) if not isinstance(estimate, torch.Tensor) else estimate)
        if tuple(estimate.shape) != tuple(noisy.shape):
            raise DenoiserError(f"baseline returned shape {tuple(estimate.shape)} for input {tuple(noisy.shape)}")
        return estimate.to(noisy.dtype).cpu()


def register_baseline(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a classical method, any callable ``(noisy, noise, **params) -> estimate``.

    Its keyword parameters after the first two become the baseline's parameters (a sweep axis when
    given as a list), checked against their defaults' types as the built-in ones are."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        parameters = list(inspect.signature(method).parameters.values())
        if len(parameters) < 2:
            raise ConfigurationError(f"baseline {name!r}: a classical method takes (noisy, noise, **params)")

        def factory(**params: Any) -> Baseline:
            return FunctionBaseline(method=method, params=params)

        factory.__signature__ = inspect.Signature(parameters[2:])  # type: ignore[attr-defined]
        factory.__module__, factory.__qualname__, factory.__doc__ = method.__module__, method.__qualname__, method.__doc__
        BASELINES.register(name)(factory)
        return method

    return decorate


def create_baseline(name: str, **params: Any) -> Baseline:
    """Build the registered classical denoiser ``name``."""
    return BASELINES.create(name, **params)


@dataclass(frozen=True)
class Identity(Baseline):
    name = "noisy"

    def function(self) -> Callable[..., np.ndarray]:
        return lambda image: image

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        return noisy


def _within(name: str, value: float, upper: float) -> float:
    """A strength parameter: a number in (0, upper]; beyond it scikit-image overflows or runs for ever."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= upper:
        raise ConfigurationError(f"{name} must be a number in (0, {upper:g}], got {str(value)[:40]}")
    return float(value)


@BASELINES.register("noisy")
def noisy() -> Baseline:
    """The noisy input itself: the floor every denoiser must beat (ΔPSNR is measured against it)."""
    return Identity()


@dataclass(frozen=True)
class TotalVariation(Baseline):
    weight_per_sigma: float = 1.0
    name = "tv"

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        return {"weight": self.weight_per_sigma * noise.equivalent_sigma}

    def function(self) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_tv_chambolle

        return denoise_tv_chambolle


@BASELINES.register("tv")
def tv(weight_per_sigma: float = 1.0) -> Baseline:
    """Total-variation denoising (Chambolle), weight = weight_per_sigma·σ."""
    return TotalVariation(_within("weight_per_sigma", weight_per_sigma, 100.0))


@dataclass(frozen=True)
class Wavelet(Baseline):
    name = "wavelet"

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        return {"sigma": noise.equivalent_sigma, "method": "BayesShrink", "mode": "soft", "rescale_sigma": True}

    def function(self) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_wavelet

        return denoise_wavelet


@BASELINES.register("wavelet")
def wavelet() -> Baseline:
    """Wavelet shrinkage with BayesShrink thresholds, soft, at the known σ."""
    return Wavelet()


@dataclass(frozen=True)
class NonLocalMeans(Baseline):
    h_per_sigma: float = 0.8
    name = "nl-means"

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        sigma = noise.equivalent_sigma
        return {"h": self.h_per_sigma * sigma, "sigma": sigma, "patch_size": 5, "patch_distance": 6, "fast_mode": True}

    def function(self) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_nl_means

        return denoise_nl_means


@BASELINES.register("nl-means")
def nl_means(h_per_sigma: float = 0.8) -> Baseline:
    """Non-local means, h = h_per_sigma·σ, 5×5 patches, search distance 6."""
    return NonLocalMeans(_within("h_per_sigma", h_per_sigma, 100.0))


@dataclass(frozen=True)
class Bilateral(Baseline):
    color_per_sigma: float = 2.0
    sigma_spatial: float = 1.5
    name = "bilateral"

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        # a σ of 0 would divide by zero inside scikit-image: keep a tiny positive colour σ
        return {"sigma_color": max(self.color_per_sigma * noise.equivalent_sigma, 1e-6), "sigma_spatial": self.sigma_spatial}

    def function(self) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_bilateral

        return denoise_bilateral


@BASELINES.register("bilateral")
def bilateral(color_per_sigma: float = 2.0, sigma_spatial: float = 1.5) -> Baseline:
    """Bilateral filter, colour σ = color_per_sigma·σ, spatial σ 1.5 pixels."""
    return Bilateral(_within("color_per_sigma", color_per_sigma, 100.0), _within("sigma_spatial", sigma_spatial, 10.0))


@dataclass(frozen=True)
class BM3D(Baseline):
    name = "bm3d"

    def settings(self, noise: NoiseModel) -> dict[str, Any]:
        return {"sigma_psd": noise.equivalent_sigma}

    def function(self) -> Callable[..., np.ndarray]:
        try:
            import bm3d
        except ImportError:
            raise BaselineUnavailable(
                "bm3d is not installed (pip install 'denoise-bench[bm3d]'; free for non-commercial use only)"
            ) from None
        return bm3d.bm3d


@BASELINES.register("bm3d")
def bm3d() -> Baseline:
    """BM3D (optional extra `bm3d`, non-commercial licence; about 0.8 s per 64×64 image on one core)."""
    return BM3D()
