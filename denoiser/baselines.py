"""Classical denoisers: no training; their parameters follow from the known noise model and level.

Each maps (noisy batch (N, C, H, W) in [0, 1], C = 1 or 3, the noise model that made it) to an
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
| ``bm3d`` | ``bm3d.bm3d`` (optional extra; ``bm3d.bm3d_rgb`` in colour) | ``sigma_psd=σ`` |

**σ told or estimated.** Every built-in baseline but ``noisy`` takes ``sigma``: ``oracle`` (the default)
sets its strength from the noise model it is told, as above; ``estimated`` sets it, image by image, from
the noisy image alone, as in real use, where nobody hands the σ over, by the registered estimator that
``estimator`` names (:mod:`denoiser.estimators`): ``wavelet`` (the default, scikit-image's ``estimate_sigma``,
the wavelet median absolute deviation) or ``weak-texture`` (the flattest patches; it sees spatially
correlated and camera noise, which the wavelet estimate reads far too low). A family without an
equivalent σ (``jpeg``) can only be estimated: ``oracle`` refuses it in one line.

The factors were chosen on skimage-natural tiles at σ 0.1 and 0.3 (1.0 for TV was best
of 0.5–2; 0.8 for NL-means is scikit-image's own example; 2 for the bilateral colour σ
was the better of 1–3 across both levels).

Colour (C = 3): each image goes to scikit-image as (H, W, 3) with ``channel_axis=-1``, as its
documentation asks ("Make sure to set the `channel_axis` parameter appropriately for color
images", ``denoise_tv_chambolle``), and the settings say so. The wavelet baseline adds
``convert2ycbcr=True`` ("do the wavelet denoising in the YCbCr colorspace instead of the RGB
color space. This typically results in better performance for RGB images."; scikit-image
converts the given σ to YCbCr itself). NL-means keeps h = 0.8·σ, ``sigma`` and ``fast_mode``,
as scikit-image's colour example does (``plot_nonlocal_means``: astronaut, ``channel_axis=-1``).
The bilateral filter's colour distance in scikit-image is the Euclidean distance over the
channels divided by their number, so a noise-sized difference weighs √3 times less than in
grayscale: its colour σ is divided by √3 (``color_per_sigma·σ/√3``) to weigh pixels as the
grayscale filter does (measured on three 128² colour crops at σ 0.1: 23.7 dB against 21.2 dB
for 2·σ). BM3D in colour is CBM3D, ``bm3d.bm3d_rgb`` in the opponent colour space (its default,
written in the settings). Grayscale batches take exactly the calls above, unchanged.
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
from denoiser.estimators import DEFAULT_ESTIMATOR, ESTIMATORS
from denoiser.interface import Denoiser
from denoiser.noise import EstimatedNoise, NoiseModel
from denoiser.registry import Registry


class BaselineUnavailable(DenoiserError):
    """An optional baseline whose package is not installed."""


COLOUR_CHANNELS = 3  # the only channel count besides 1 that the classical baselines take (RGB)
SIGMA_MODES = ("oracle", "estimated")  # how a baseline learns the σ: told by the noise model, or estimated per image


class NoSigmaToTell(ConfigurationError):
    """A baseline in ``sigma: oracle`` mode told a noise that has no equivalent σ (jpeg)."""


def sigma_of(noise: NoiseModel) -> float:
    """The σ a baseline sets its strength from; refused in one line for a family that has none (jpeg)."""
    sigma = noise.equivalent_sigma
    if sigma is None:
        raise NoSigmaToTell(f"{noise.family} noise has no equivalent σ to tell a classical denoiser; use sigma: estimated")
    return sigma


def _sigma_mode(value: Any) -> str:
    if value not in SIGMA_MODES:
        raise ConfigurationError(f"sigma must be one of {', '.join(SIGMA_MODES)}, got {str(value)[:40]!r}")
    return str(value)


def _estimator(value: Any) -> str:
    if not isinstance(value, str) or value not in ESTIMATORS:
        raise ConfigurationError(f"estimator must be one of {', '.join(ESTIMATORS.names())}, got {str(value)[:40]!r}")
    return value


def _channels_of(noisy: torch.Tensor) -> int:
    """The channel count of a (N, C, H, W) batch: 1 (grayscale) or 3 (RGB), anything else refused."""
    if noisy.dim() != 4 or noisy.shape[1] not in (1, COLOUR_CHANNELS):
        raise DenoiserError(f"classical baselines take (N, 1, H, W) or (N, 3, H, W) batches, got {tuple(noisy.shape)}")
    return int(noisy.shape[1])


@dataclass(frozen=True)
class Baseline(Denoiser):
    """Base of the classical denoisers: ``function(channels)(image, **settings(noise, channels))`` on each
    float64 image, (H, W) in grayscale, (H, W, 3) in colour, where ``noise`` is what the image was told
    (:meth:`told`): the noise model itself (``sigma: oracle``) or the σ estimated from it (``estimated``)."""

    sigma: str = "oracle"  # oracle: the noise model's equivalent σ; estimated: each noisy image's own estimate
    estimator: str = DEFAULT_ESTIMATOR  # with sigma: estimated, the registered estimator (denoiser.estimators)

    name = "baseline"
    uses_sigma = True  # whether its strength follows from a σ (the identity's does not)
    thread_safe = True  # whether images may be denoised in parallel threads

    def settings(self, noise: NoiseModel, channels: int = 1) -> dict[str, Any]:
        """The parameters used at this noise model and level, on images of ``channels`` channels (1 or 3)."""
        return {}

    def function(self, channels: int = 1) -> Callable[..., np.ndarray]:
        raise NotImplementedError

    def skip(self, noise: NoiseModel) -> str | None:
        """Why it cannot denoise for ``noise``: only in ``sigma: oracle`` mode, for a family without an
        equivalent σ (jpeg), as there is nothing to tell it."""
        if not self.uses_sigma or self.sigma == "estimated" or noise.equivalent_sigma is not None:
            return None
        return (  # the parameter first: a config's check names its key, models.<name>.sigma
            f"sigma: oracle cannot tell {self.name} the σ of {noise.family} noise, which has none; give sigma: "
            f"estimated, or [oracle, estimated] for both (the oracle rows then leave {noise.family} out)"
        )

    def told(self, noisy: torch.Tensor, noise: NoiseModel) -> list[NoiseModel]:
        """The noise each image of ``noisy`` (N, C, H, W) is denoised for: ``noise`` itself (oracle), refused
        where it has no equivalent σ (:meth:`skip`), or the σ estimated from that image alone (estimated)."""
        if self.sigma == "estimated":
            return [EstimatedNoise.of(noisy[index : index + 1], self.estimator) for index in range(len(noisy))]
        reason = self.skip(noise)
        if reason is not None:
            raise NoSigmaToTell(f"{self.name}: {reason}")
        return [noise] * len(noisy)

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        """Denoise each image of the batch, on the CPU, in parallel over images (threads: torch's thread count)."""
        return self.denoise(noisy, self.told(noisy, noise))

    def denoise(self, noisy: torch.Tensor, told: list[NoiseModel]) -> torch.Tensor:
        """Denoise image ``i`` of ``noisy`` (N, C, H, W) with the settings for ``told[i]`` (see :meth:`told`)."""
        channels = _channels_of(noisy)
        function = self.function(channels)
        if channels == COLOUR_CHANNELS:
            images = noisy.detach().cpu().double().permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
        else:
            images = noisy.detach().cpu().double().numpy()[:, 0]  # (N, H, W)
        settings = [self.settings(noise, channels) for noise in told]

        def one(index: int) -> np.ndarray:
            return function(np.ascontiguousarray(images[index]), **settings[index])

        outputs = np.stack(self._map(one, len(images)))
        estimate = torch.from_numpy(outputs)
        estimate = estimate.permute(0, 3, 1, 2) if channels == COLOUR_CHANNELS else estimate.unsqueeze(1)
        return estimate.to(noisy.dtype).clamp(0, 1).contiguous()

    def _map(self, one: Callable[[int], np.ndarray], count: int) -> list[np.ndarray]:
        """``one`` on each image index, in threads (torch's thread count) where the method allows it."""
        threads = max(1, torch.get_num_threads()) if self.thread_safe else 1
        if threads == 1 or count == 1:
            return [one(index) for index in range(count)]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(count)))


BASELINES: Registry[Baseline] = Registry("baseline")


@dataclass(frozen=True)
class FunctionBaseline(Baseline):
    """A classical method given as a callable ``method(noisy, noise, **params) -> estimate`` on a batch
    (N, C, H, W) in [0, 1], as it is (grayscale or colour), with the noise model (``noise.equivalent_sigma``
    is its σ, None for a family that has none). It is always told the noise model itself: a method that
    wants to estimate σ calls :meth:`denoiser.noise.EstimatedNoise.of` on the image."""

    method: Callable[..., Any] = None  # type: ignore[assignment]
    params: dict[str, Any] = None  # type: ignore[assignment]
    uses_sigma = False  # told the noise model as it is, whatever its σ

    def settings(self, noise: NoiseModel, channels: int = 1) -> dict[str, Any]:
        return {**self.params, "sigma": noise.equivalent_sigma}

    def function(self, channels: int = 1) -> Callable[..., Any]:
        return self.method

    def told(self, noisy: torch.Tensor, noise: NoiseModel) -> list[NoiseModel]:
        return [noise] * len(noisy)

    def denoise(self, noisy: torch.Tensor, told: list[NoiseModel]) -> torch.Tensor:
        estimate = self.method(noisy, told[0], **self.params)
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

    def function(self, channels: int = 1) -> Callable[..., np.ndarray]:
        return lambda image: image

    uses_sigma = False

    def told(self, noisy: torch.Tensor, noise: NoiseModel) -> list[NoiseModel]:
        return [noise] * len(noisy)  # it uses no σ: any noise, with an equivalent σ or not

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        return noisy

    def denoise(self, noisy: torch.Tensor, told: list[NoiseModel]) -> torch.Tensor:
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

    def settings(self, noise: NoiseModel, channels: int = 1) -> dict[str, Any]:
        settings: dict[str, Any] = {"weight": self.weight_per_sigma * sigma_of(noise)}
        return settings if channels == 1 else {**settings, "channel_axis": -1}

    def function(self, channels: int = 1) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_tv_chambolle

        return denoise_tv_chambolle


@BASELINES.register("tv")
def tv(weight_per_sigma: float = 1.0, sigma: str = "oracle", estimator: str = DEFAULT_ESTIMATOR) -> Baseline:
    """Total-variation denoising (Chambolle), weight = weight_per_sigma·σ; σ told (oracle) or estimated."""
    return TotalVariation(
        _sigma_mode(sigma), _estimator(estimator), weight_per_sigma=_within("weight_per_sigma", weight_per_sigma, 100.0)
    )


@dataclass(frozen=True)
class Wavelet(Baseline):
    name = "wavelet"

    def settings(self, noise: NoiseModel, channels: int = 1) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "sigma": sigma_of(noise),
            "method": "BayesShrink",
            "mode": "soft",
            "rescale_sigma": True,
        }
        # colour: denoised in YCbCr, scikit-image's advice for RGB images; it converts σ to YCbCr itself
        return settings if channels == 1 else {**settings, "channel_axis": -1, "convert2ycbcr": True}

    def function(self, channels: int = 1) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_wavelet

        return denoise_wavelet


@BASELINES.register("wavelet")
def wavelet(sigma: str = "oracle", estimator: str = DEFAULT_ESTIMATOR) -> Baseline:
    """Wavelet shrinkage with BayesShrink thresholds, soft, at the σ told (oracle) or estimated."""
    return Wavelet(_sigma_mode(sigma), _estimator(estimator))


@dataclass(frozen=True)
class NonLocalMeans(Baseline):
    h_per_sigma: float = 0.8
    name = "nl-means"

    def settings(self, noise: NoiseModel, channels: int = 1) -> dict[str, Any]:
        sigma = sigma_of(noise)
        settings: dict[str, Any] = {
            "h": self.h_per_sigma * sigma, "sigma": sigma, "patch_size": 5, "patch_distance": 6, "fast_mode": True
        }  # fmt: skip
        return settings if channels == 1 else {**settings, "channel_axis": -1}

    def function(self, channels: int = 1) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_nl_means

        return denoise_nl_means


@BASELINES.register("nl-means")
def nl_means(h_per_sigma: float = 0.8, sigma: str = "oracle", estimator: str = DEFAULT_ESTIMATOR) -> Baseline:
    """Non-local means, h = h_per_sigma·σ, 5×5 patches, search distance 6; σ told (oracle) or estimated."""
    return NonLocalMeans(_sigma_mode(sigma), _estimator(estimator), h_per_sigma=_within("h_per_sigma", h_per_sigma, 100.0))


@dataclass(frozen=True)
class Bilateral(Baseline):
    color_per_sigma: float = 2.0
    sigma_spatial: float = 1.5
    name = "bilateral"

    def settings(self, noise: NoiseModel, channels: int = 1) -> dict[str, Any]:
        if channels == 1:
            # a σ of 0 would divide by zero inside scikit-image: keep a tiny positive colour σ
            return {"sigma_color": max(self.color_per_sigma * sigma_of(noise), 1e-6), "sigma_spatial": self.sigma_spatial}
        # scikit-image divides the Euclidean distance over the C channels by C, so equal noise in each
        # channel looks √C times smaller than in grayscale: σ/√C weighs pixels as the grayscale filter does
        sigma_color = max(self.color_per_sigma * sigma_of(noise) / channels**0.5, 1e-6)
        return {"sigma_color": sigma_color, "sigma_spatial": self.sigma_spatial, "channel_axis": -1}

    def function(self, channels: int = 1) -> Callable[..., np.ndarray]:
        from skimage.restoration import denoise_bilateral

        return denoise_bilateral


@BASELINES.register("bilateral")
def bilateral(
    color_per_sigma: float = 2.0, sigma_spatial: float = 1.5, sigma: str = "oracle", estimator: str = DEFAULT_ESTIMATOR
) -> Baseline:
    """Bilateral filter, colour σ = color_per_sigma·σ, spatial σ 1.5 pixels; σ told (oracle) or estimated."""
    return Bilateral(
        _sigma_mode(sigma),
        _estimator(estimator),
        color_per_sigma=_within("color_per_sigma", color_per_sigma, 100.0),
        sigma_spatial=_within("sigma_spatial", sigma_spatial, 10.0),
    )


@dataclass(frozen=True)
class BM3D(Baseline):
    name = "bm3d"
    # two bm3d calls at once abort the process (its thread pool: "ThreadPool::launchPool: Assertion
    # `_threads.empty()' failed", bm3d 4.0.3); it already uses every core on one image
    thread_safe = False

    def settings(self, noise: NoiseModel, channels: int = 1) -> dict[str, Any]:
        settings: dict[str, Any] = {"sigma_psd": sigma_of(noise)}
        # colour: CBM3D, block matching on the luminance of the opponent colour transform (bm3d_rgb's default)
        return settings if channels == 1 else {**settings, "colorspace": "opp"}

    def function(self, channels: int = 1) -> Callable[..., np.ndarray]:
        try:
            import bm3d
        except ImportError:
            raise BaselineUnavailable(
                "bm3d is not installed (pip install 'denoise-bench[bm3d]'; free for non-commercial use only)"
            ) from None
        return bm3d.bm3d if channels == 1 else bm3d.bm3d_rgb


@BASELINES.register("bm3d")
def bm3d(sigma: str = "oracle", estimator: str = DEFAULT_ESTIMATOR) -> Baseline:
    """BM3D (optional extra `bm3d`, non-commercial licence; about 0.8 s per 64×64 image on one core); σ told or estimated."""
    return BM3D(_sigma_mode(sigma), _estimator(estimator))
