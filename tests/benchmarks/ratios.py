"""Print the ratios that matter from a pytest-benchmark JSON file: `python tests/benchmarks/ratios.py FILE`."""

import json
import subprocess
import sys

import torch
from test_precision import matmul_gflops  # beside this script: the matmul rate in a precision

MFLOP_PER_TRAINING_IMAGE = 129  # the design's model, forward and backward


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


def training_mflop(model_name: str) -> float:
    """MFLOP of one training image (forward and backward, about 3× the forward pass's multiply-adds × 2)."""
    if model_name == "dae":
        return MFLOP_PER_TRAINING_IMAGE
    depth, width = (int(part) for part in model_name.removeprefix("dncnn-").split("x"))
    side = 40
    multiply_adds = 9 * (width + (depth - 2) * width * width + width) * side * side
    return 3 * 2 * multiply_adds / 1e6


def precision_rows(results: dict, median: dict) -> None:
    """One line per model and precision: its training rate, its ratio to float32, and the share of the
    machine's matmul rate in that precision; a precision the machine lacks is said, not guessed."""
    from denoiser.precision import unsupported
    from test_precision import MODELS, PRECISIONS

    peaks: dict[str, float] = {}
    for device in ("cpu", "cuda"):
        for model_name in MODELS:
            base = median.get(f"test_training_throughput[{device}-{model_name}-float32]")
            if base is None:
                continue
            for precision in PRECISIONS:
                key = f"test_training_throughput[{device}-{model_name}-{precision}]"
                if key not in median:
                    reason = unsupported(precision, torch.device(device)) or "not run"
                    print(f"precision: {model_name} {precision} on {device}: skipped: {reason}")
                    continue
                images = results[key]["extra_info"]["images"]
                rate = images / median[key]
                line = f"precision: {model_name} {precision} on {device}: {rate:.0f} img/s, {base / median[key]:.1f}× float32"
                if device == "cpu":
                    peak = peaks.setdefault(precision, matmul_gflops(precision))
                    achieved = rate * training_mflop(model_name) / 1e3
                    line += f", {achieved / peak:.0%} of this machine's {precision} matmul rate ({peak:.0f} GFLOP/s)"
                print(line)


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
        peak = matmul_gflops("float32")
        plain = plain_process_design_rate(images)
        print(f"training on cpu: design loop in a plain Python process {plain:.0f} img/s: the suite trains {suite_rate / plain:.2f}× as fast")
        achieved = suite_rate * MFLOP_PER_TRAINING_IMAGE / 1e3
        print(f"training on cpu: {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of this machine's float32 matmul rate ({peak:.1f} GFLOP/s, {torch.get_num_threads()} threads)")
    precision_rows(results, median)
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
