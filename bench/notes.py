"""What the marks and columns of a results table mean, each worded once: the leaderboard (Markdown, HTML,
the terminal), the report and the summary at the end of a sweep all say it in these words.

An entry's marks follow its name: `` [bf16]`` (trained in mixed precision), `` [leaky]`` (its test images, or
augmented copies of them, were trained on or chose its epoch) and `` [not converged]`` (its validation loss
was still falling when training ended)."""

from __future__ import annotations

from denoiser.training import CONVERGENCE_WINDOW

LEAKY = " [leaky]"
NOT_CONVERGED = " [not converged]"


def precision_mark(precision: str | None) -> str:
    """`` [bf16]`` for an entry trained in mixed precision; nothing for float32 (or a baseline, which trains nothing)."""
    from denoiser.precision import SHORT

    return "" if precision in (None, "float32") else f" [{SHORT.get(precision, precision)}]"


def marks(precision: str | None, leaky: bool, converged: bool | None = None) -> str:
    """Every mark of one cell or entry, in the order the tables show them."""
    return precision_mark(precision) + LEAKY * leaky + NOT_CONVERGED * (converged is False)


LEAKY_NOTE = (
    "[leaky]: trained on augmented copies of its test images, or chose its epoch on them (split: augmented-copies, "
    "train.select_on: test): its scores are inflated and not comparable with the others."
)
NOT_CONVERGED_NOTE = (
    "[not converged]: the validation loss was still falling when training ended (by 1 % or more over the last "
    f"{CONVERGENCE_WINDOW} epochs): the score understates the model."
)
COST_NOTE = (
    "Cost: parameters (0 for a classical method); ms/MP, inference time per megapixel, the median of 5 warmed, "
    "synchronised runs on one 256×256 image on the device the cell ran on (the DAE's tiling included; classical "
    "methods on the CPU); train s, the training's wall time; peak MB, the memory the cell added at its peak "
    "(CUDA: max allocated; CPU: the rise of the process's resident memory)."
)
ROBUSTNESS_NOTE = (
    "Mean PSNR over every evaluation noise and level, the worst one, and the drop to it from the PSNR at "
    "the model's own training level (blind: trained over a range of levels, so it has none). An entry "
    "scored on fewer evaluations (a baseline told σ skips jpeg) is listed after the ranked ones, unranked."
)
NOTHING_TO_RANK = "Nothing to rank: no cell has finished with finite metrics."


def uncertainty_note(alpha: float) -> str:
    """What the interval column and a rank like ``2=`` mean, at the level ``alpha`` the ranking was made with."""
    return (
        f"PSNR interval: the {100 * (1 - alpha):g} % Student-t interval of the mean PSNR, over seeds "
        "(over the images where there is one seed). A rank like 2= marks a tie: each entry of such a run "
        "cannot be told from the next by a paired bootstrap over the same noisy images, seeds paired "
        f"where shared (α = {alpha:g})."
    )


def mark_notes(leaky: bool, not_converged: bool) -> list[str]:
    """The notes of the marks some shown entry carries (``leaky``: one is leaky; ``not_converged``: one had not
    finished training): none for a mark no entry has."""
    return [note for carried, note in ((leaky, LEAKY_NOTE), (not_converged, NOT_CONVERGED_NOTE)) if carried]
