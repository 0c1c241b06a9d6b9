"""The one interface every denoiser is scored through, learned or classical: ``denoiser(noisy, noise)``
returns the estimate, and ``denoiser.skip(noise)`` says, before any work, which noise it cannot score.

In the spirit of deepinv's ``Denoiser.forward(y, sigma)`` (the noisy batch and what is known of its noise)
and benchopt's ``Solver.skip`` (a method states itself where it does not apply, rather than the harness
deciding by its name). The classical baselines (:class:`denoiser.baselines.Baseline`) and the trained models
(:class:`denoiser.inference.LearnedDenoiser`) both are one; so is any plain callable ``(noisy, noise) ->
estimate``, which skips nothing (:func:`skip_reason`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from denoiser.errors import DenoiserError

if TYPE_CHECKING:
    import torch

    from denoiser.noise import NoiseModel


class Denoiser:
    """A denoiser as scoring calls it: ``(N, C, H, W)`` noisy images in [0, 1] (more or less, where unclipped
    noise leaves them outside) and the noise model that made them (its ``equivalent_sigma``: the σ a
    non-blind method may be told) → an estimate of the same shape."""

    def __call__(self, noisy: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
        raise NotImplementedError

    def skip(self, noise: NoiseModel) -> str | None:
        """Why this denoiser cannot score ``noise``, in one line, or None when it can. Asked by the config's
        checks before any work (a model none of whose variants can score a family is refused) and by the
        scoring, which leaves such a noise out of this denoiser's rows."""
        return None


def skip_reason(method: Any, noise: NoiseModel) -> str | None:
    """``method.skip(noise)`` for a method whose class defines it (a :class:`Denoiser`, or a plugin's model with a
    ``skip`` method), else None: a plain callable scores every noise. Only a method of the class counts: a
    model's layer that happens to be called ``skip`` (a residual connection) is not asked. A reason is one
    line of text; anything else is refused, naming the class."""
    skip = getattr(type(method), "skip", None)
    if not callable(skip):
        return None
    reason = skip(method, noise)
    if reason is not None and not isinstance(reason, str):
        raise DenoiserError(f"{type(method).__name__}.skip returned {type(reason).__name__}: expected a reason (text) or None")
    return reason
