"""Print the ratios that matter from a pytest-benchmark JSON file: `python tests/benchmarks/ratios.py FILE`."""

import json
import subprocess
import sys

import torch

MFLOP_PER_TRAINING_IMAGE = 129  # the design's model, forward and backward


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """The machine's float32 matmul rate with torch's current threads (best of a few runs)."""
    import time

    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


PLAIN_DESIGN_LOOP = """
import torch
from denoiser import load_dataset
from denoiser.design_loop import design_throughput
torch.set_num_threads({threads})
images = load_dataset("skimage-natural").images
images = images.repeat({images} // len(images) + 1, 1, 1, 1)[:{images}].contiguous()
print(design_throughput(images, min_seconds=8.0))
"""


def plain_process_design_rate(images: int) -> float:
    """Images/s of the design's loop in a fresh Python process with glibc's default malloc
    settings: the loop as someone's own script runs it, outside `python -m bench`."""
    code = PLAIN_DESIGN_LOOP.format(threads=torch.get_num_threads(), images=images)
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main(path: str) -> None:
    results = {item["name"]: item for item in json.load(open(path))["benchmarks"]}
    median = {name: item["stats"]["median"] for name, item in results.items()}
    for device in ("cpu", "cuda"):
        design, suite = median.get(f"test_train_epoch_design_loop[{device}]"), median.get(f"test_train_epoch_suite[{device}]")
        if design is None or suite is None:
            continue
        info = results[f"test_train_epoch_suite[{device}]"]["extra_info"]
        images = info["images"]
        print(f"training on {info['device']}: suite {images / suite:.0f} img/s, design loop {images / design:.0f} img/s: "
              f"{design / suite:.2f}× the design's loop (same process)")
    if "test_train_epoch_suite[cpu]" in median:
        images = results["test_train_epoch_suite[cpu]"]["extra_info"]["images"]
        suite_rate = images / median["test_train_epoch_suite[cpu]"]
        peak = matmul_gflops()
        plain = plain_process_design_rate(images)
        print(f"training on cpu: design loop in a plain Python process {plain:.0f} img/s: the suite trains {suite_rate / plain:.2f}× as fast")
        achieved = suite_rate * MFLOP_PER_TRAINING_IMAGE / 1e3
        print(f"training on cpu: {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of this machine's float32 matmul rate ({peak:.1f} GFLOP/s, {torch.get_num_threads()} threads)")
    ssim_ratio = median["test_ssim_skimage_loop"] / median["test_ssim_batched"]
    print(f"ssim on 256 images: batched {median['test_ssim_batched'] * 1e3:.1f} ms, scikit-image loop {median['test_ssim_skimage_loop'] * 1e3:.1f} ms: {ssim_ratio:.1f}× faster")
    evaluation = results["test_evaluation_throughput"]
    print(f"evaluation: {evaluation['extra_info']['images'] / evaluation['stats']['median']:.0f} images/s")
    seed = results.get("test_seed_protocol_wall_time")
    if seed is not None:
        info = seed["extra_info"]
        print(f"seed protocol ({info['cells']} cells) on {info['device']}: {seed['stats']['median']:.1f} s with "
              f"{info['workers']} workers ({info['workers_reason']})")


if __name__ == "__main__":
    main(sys.argv[1])
