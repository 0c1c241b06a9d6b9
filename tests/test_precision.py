"""Mixed-precision training: bf16-mixed on CPUs that have bfloat16 instructions and on CUDA, fp16-mixed on CUDA
only; refused in one line where the device lacks it; scoring stays float32; float32 cells keep their ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.config import ConfigError, load_config
from bench.grid import build_cells
from denoiser import create_model, create_noise
from denoiser import precision as precision_module
from denoiser.precision import autocast, unsupported
from denoiser.training import Step, TrainSettings, train
from tests.conftest import CI_CONFIG, bench_here, ci_sweep_here

HAS_BF16 = unsupported("bf16-mixed", torch.device("cpu")) is None
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU has neither avx512_bf16 nor amx_bf16 (/proc/cpuinfo)")


@pytest.fixture
def without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))


def test_a_cpu_without_bfloat16_refuses_bf16_in_one_line_and_writes_nothing(
    without_bf16: None, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    code, out, err = bench_here(capsys, "sweep", CI_CONFIG, "--set", "precision=bf16-mixed", "--out", str(tmp_path / "out"))
    assert code == 2 and not (tmp_path / "out").exists()
    assert err.strip().count("\n") == 0 and "avx512_bf16 or amx_bf16" in err, err


def test_onednn_capped_below_bfloat16_counts_as_a_cpu_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)  # the suite may itself run capped (AVX2 kernels)
    assert unsupported("bf16-mixed", torch.device("cpu")) is None
    for cap, refused in [("AVX2", True), ("avx512_core", True), ("AVX512_CORE_BF16", False), ("AVX512_CORE_AMX", False)]:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        reason = unsupported("bf16-mixed", torch.device("cpu"))
        assert (reason is not None) == refused, cap
        assert reason is None or "ONEDNN_MAX_CPU_ISA caps it" in reason


def test_fp16_on_a_cpu_and_an_unknown_precision_are_refused() -> None:
    with pytest.raises(ConfigError, match="precision: fp16-mixed runs on CUDA only"):
        load_config(Path(CI_CONFIG), ["precision=fp16-mixed", "device=cpu"])
    with pytest.raises(ConfigError, match="unknown precision 'bf16'; valid: float32, bf16-mixed, fp16-mixed"):
        load_config(Path(CI_CONFIG), ["precision=bf16"])


def test_float32_ids_are_unchanged_and_a_mixed_precision_is_its_own_cell() -> None:
    plain = {cell.cell_id for cell in build_cells(load_config(Path(CI_CONFIG)))}
    named = {cell.cell_id for cell in build_cells(load_config(Path(CI_CONFIG), ["precision=float32"]))}
    assert plain == named
    if HAS_BF16:
        mixed = build_cells(load_config(Path(CI_CONFIG), ["precision=bf16-mixed"]))
        learned = {cell.cell_id for cell in mixed if cell.learned}
        assert learned and not learned & plain
        assert {cell.cell_id for cell in mixed if not cell.learned} <= plain  # baselines train nothing


@needs_bf16
def test_bf16_training_follows_float32_and_scoring_stays_float32(tmp_path: Path) -> None:
    images = torch.rand(48, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    noise = create_noise("gaussian", 0.1)
    losses = {}
    for precision in ("float32", "bf16-mixed"):
        torch.manual_seed(0)
        model = create_model("dncnn", depth=4, width=16)
        settings = TrainSettings(epochs=4, patience=0, batch_size=16, precision=precision)
        result = train(model, images[:40], images[40:], noise, settings, device="cpu")
        losses[precision] = (result.train_losses, result.validation_losses)
        assert all(parameter.dtype == torch.float32 for parameter in model.parameters())  # float32 master weights
    for bf16, fp32 in zip(losses["bf16-mixed"], losses["float32"]):
        assert bf16 != fp32  # it did run in bfloat16
        assert bf16 == pytest.approx(fp32, rel=0.05)  # and follows float32 closely
    outcome = ci_sweep_here(tmp_path / "out", "precision=bf16-mixed", "models={dncnn: {depth: 3, width: 8}}")
    record = next(record for record in outcome.records if record.learned)
    assert (record.precision, record.inference_precision) == ("bf16-mixed", "float32")
    assert record.evaluations and all(torch.isfinite(torch.tensor(item.psnr)) for item in record.evaluations)


def test_scoring_runs_outside_autocast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validation loss and every evaluation call the model with float32 inputs and no autocast: only
    training steps enter :func:`autocast`."""
    entered: list[str] = []
    original = precision_module.autocast

    def recording(precision: str, device: torch.device):  # noqa: ANN202
        entered.append(precision)
        return original(precision, device)

    monkeypatch.setattr("denoiser.training.autocast", recording)
    seen: list[tuple[torch.dtype, bool]] = []
    model = create_model("dncnn", depth=3, width=4)
    model.register_forward_pre_hook(lambda module, inputs: seen.append((inputs[0].dtype, torch.is_autocast_enabled("cpu"))))
    images = torch.rand(24, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    train(model, images[:16], images[16:], create_noise("gaussian", 0.1), TrainSettings(epochs=2, batch_size=8), device="cpu")
    assert entered == ["float32"] * 4  # two steps an epoch, two epochs
    assert all(dtype == torch.float32 for dtype, _ in seen) and not any(enabled for _, enabled in seen)


def test_on_cuda_fp16_scales_the_loss_and_autocasts_to_float16(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA branch, run on the CPU with torch's calls recorded: fp16-mixed autocasts on the cuda device
    type in float16 and steps through a GradScaler; bf16-mixed autocasts in bfloat16 without one."""
    calls: list[tuple[str, torch.dtype]] = []

    class Recorded:
        def __init__(self, device_type: str, dtype: torch.dtype) -> None:
            calls.append((device_type, dtype))

        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(precision_module.torch, "autocast", Recorded)
    with autocast("fp16-mixed", torch.device("cuda")), autocast("bf16-mixed", torch.device("cuda")):
        pass
    assert calls == [("cuda", torch.float16), ("cuda", torch.bfloat16)]
    monkeypatch.setattr(precision_module.torch.amp, "GradScaler", lambda device: ("scaler", device))
    assert precision_module.grad_scaler("fp16-mixed", torch.device("cuda")) == ("scaler", "cuda")
    assert precision_module.grad_scaler("bf16-mixed", torch.device("cuda")) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert "Ampere" in unsupported("bf16-mixed", torch.device("cuda"))  # type: ignore[operator]
    assert unsupported("fp16-mixed", torch.device("cuda")) is None


def test_a_training_step_with_a_loss_scaler_updates_the_weights() -> None:
    from denoiser.training import make_optimizer, train_epoch

    torch.manual_seed(0)
    model = create_model("dncnn", depth=3, width=4)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    images = torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    scaler = torch.amp.GradScaler("cpu")
    step = Step(torch.contiguous_format, "float32", scaler)
    loss = train_epoch(model, make_optimizer(model, 1e-2), images, create_noise("gaussian", 0.1), 8,
                       torch.Generator().manual_seed(0), torch.Generator().manual_seed(1), step)  # fmt: skip
    assert torch.isfinite(loss) and scaler.get_scale() > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
