"""Training throughput in each precision the device runs natively: the DAE (64×64 images) and DnCNNs of
10×32 and 17×64 (40×40 patches), batches of 64, Adam, channels_last on the CPU: the suite's own
``train_epoch``, so what is timed is what a sweep runs. `make bench` prints each row's ratio to float32
(tests/benchmarks/ratios.py). A precision the device lacks is skipped with the reason."""

from __future__ import annotations

import pytest
import torch

from denoiser import create_model, create_noise, make_generator
from denoiser.precision import autocast, grad_scaler, unsupported
from denoiser.training import Step, fast_memory_format, make_optimizer, train_epoch

MODELS = {
    "dae": ("dae", {"latent_dim": 128}, 64, 640),
    "dncnn-10x32": ("dncnn", {"depth": 10, "width": 32}, 40, 512),
    "dncnn-17x64": ("dncnn", {"depth": 17, "width": 64}, 40, 256),
}  # name → (model, parameters, image side, images per timed epoch)
PRECISIONS = ("float32", "bf16-mixed", "fp16-mixed")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def epochs(model_name: str, precision: str, device: torch.device):  # noqa: ANN201 - a timed callable
    name, params, side, count = MODELS[model_name]
    torch.manual_seed(0)
    memory_format = fast_memory_format(device)
    model = create_model(name, **params).to(device).to(memory_format=memory_format)
    optimizer = make_optimizer(model, 1e-3)
    images = torch.rand(count, 1, side, side, generator=torch.Generator().manual_seed(0)).to(device)
    order, draws = torch.Generator().manual_seed(0), make_generator(1, device)
    step = Step(memory_format, precision, grad_scaler(precision, device))
    noise = create_noise("gaussian", 0.1)
    return lambda: train_epoch(model, optimizer, images, noise, 64, order, draws, step).item()


@pytest.mark.benchmark(group="precision")
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("device_name", DEVICES)
def test_training_throughput(benchmark, model_name: str, precision: str, device_name: str) -> None:
    device = torch.device(device_name)
    reason = unsupported(precision, device)
    if reason is not None:
        pytest.skip(reason)
    benchmark.extra_info.update(images=MODELS[model_name][3], model=model_name, precision=precision, device=device_name)
    benchmark.pedantic(epochs(model_name, precision, device), rounds=3, warmup_rounds=1)


def matmul_gflops(precision: str, size: int = 1024, repeats: int = 20) -> float:
    """The machine's matmul rate in ``precision`` (autocast, as training runs it) with torch's current threads."""
    import time

    device = torch.device("cpu")
    a, b = torch.rand(size, size), torch.rand(size, size)
    with autocast(precision, device):
        a @ b
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9
