"""Print the ratios that matter from a pytest-benchmark JSON file: `python tests/benchmarks/ratios.py FILE`."""

import json
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


def main(path: str) -> None:
    results = {item["name"]: item for item in json.load(open(path))["benchmarks"]}
    median = {name: item["stats"]["median"] for name, item in results.items()}
    design, suite = median["test_train_epoch_design_loop"], median["test_train_epoch_suite"]
    images = results["test_train_epoch_suite"]["extra_info"]["images"]
    suite_rate = images / suite
    peak = matmul_gflops()
    print(f"training: suite {suite_rate:.0f} img/s, design loop {images / design:.0f} img/s: {design / suite:.2f}× the design's loop")
    achieved = suite_rate * MFLOP_PER_TRAINING_IMAGE / 1e3
    print(f"training: {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of this machine's float32 matmul rate ({peak:.1f} GFLOP/s, {torch.get_num_threads()} threads)")
    ssim_ratio = median["test_ssim_skimage_loop"] / median["test_ssim_batched"]
    print(f"ssim on 256 images: batched {median['test_ssim_batched'] * 1e3:.1f} ms, scikit-image loop {median['test_ssim_skimage_loop'] * 1e3:.1f} ms: {ssim_ratio:.1f}× faster")
    evaluation = results["test_evaluation_throughput"]
    print(f"evaluation: {evaluation['extra_info']['images'] / evaluation['stats']['median']:.0f} images/s")


if __name__ == "__main__":
    main(sys.argv[1])
