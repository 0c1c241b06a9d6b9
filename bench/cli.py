"""The command line: ``python -m bench COMMAND …``. Bad input ends in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from denoiser import errors
from denoiser.errors import DenoiserError

logger = logging.getLogger("bench")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def configure_logging(quiet: bool, verbose: bool) -> bool:
    """Libraries log; the CLI decides where it goes. Returns whether a live display fits (a terminal, not --quiet)."""
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    console = Console(stderr=True)
    if console.is_terminal and not quiet:
        handler: logging.Handler = RichHandler(console=console, show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return console.is_terminal and not quiet


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no live display; warnings and errors only")
    common.add_argument("-v", "--verbose", action="store_true", help="debug log lines")
    common.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first: it registers models, baselines, data sets or noise models "
        "(repeatable; also a config's plugins: list, and installed entry points)",
    )

    parser = _Parser(
        prog="python -m bench",
        description="denoise-bench: train and evaluate image denoisers across noise levels and latent sizes.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_sweep(commands, common)
    _add_report_and_leaderboard(commands, common)
    _add_check_denoise_and_list(commands, common)
    return parser


COMMANDS = {  # name: (the line of --help, the description of COMMAND --help)
    "sweep": (
        "train and evaluate every cell of a sweep; resumes where it stopped",
        "Train and evaluate every cell of a sweep config and write results/<name>/. "
        "Cells with a finished record are skipped, so running the same command again resumes.",
    ),
    "report": (
        "(re)write the leaderboard, plots and report.html of a sweep",
        "Rewrite leaderboard.md, plots/*.png and report.html from a sweep's stored records.",
    ),
    "leaderboard": (
        "rank every model of every sweep",
        "Rank every model of every sweep under RESULTS_DIR per data set, noise "
        "family and evaluation level (mean ± std over seeds; a cell found in several sweeps counts once). "
        "Each entry has a 1 − ALPHA Student-t interval of its mean PSNR and SSIM (over seeds; over images "
        "with one seed) and says whether a paired bootstrap over the same noisy images tells it from the "
        "next entry (json: distinct_from_next, false for the last of a ranking); tables show a run of "
        "ties as one shared rank, e.g. 2=.",
    ),
    "check": (
        "the regression gate: compare a run with a baseline",
        "Compare a sweep's quality (PSNR/SSIM per cell and level) and speed (training "
        "throughput over the design loop's, measured in the same run) with a baseline; exit 1 on any regression.",
    ),
    "denoise": (
        "apply a trained model to image files",
        "Denoise image files with a checkpoint from a sweep (results/<name>/checkpoints/*.pt); "
        "writes <name>_denoised.png into --out, all or nothing (the DAE runs on overlapping 64×64 windows "
        "of larger images). Checkpoints load with weights_only=True.",
    ),
    "list": (
        "registered models, noise models, data sets, baselines and metrics",
        "Every registered model, noise model, data set, classical baseline and metric, with its parameters.",
    ),
}


def _command(commands: Any, common: argparse.ArgumentParser, name: str, handler: Any) -> Any:
    """Subcommand ``name`` (:data:`COMMANDS` says what it does) with the common options, run by ``handler``."""
    summary, description = COMMANDS[name]
    parser = commands.add_parser(name, parents=[common], help=summary, description=description)
    parser.set_defaults(handler=handler)
    return parser


def _add_sweep(commands: Any, common: argparse.ArgumentParser) -> None:
    """``sweep``: its options stand for config keys, held to the schema's choices and bounds (bench/schema.py)."""
    from bench.config import EXECUTORS

    sweep = _command(commands, common, "sweep", command_sweep)
    sweep.add_argument("config", nargs="?", default="configs/quick.yaml", type=Path, help="sweep config (default: %(default)s)")
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, value parsed as YAML (e.g. train.epochs=3); repeatable",
    )
    sweep.add_argument("--out", type=Path, help="results folder (default: results/<name>)")
    sweep.add_argument(
        "--workers", type=int, default=0, help="cells run in parallel (default: one per CPU core, one thread each)"
    )
    sweep.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="local: a process pool (default); submitit: a Slurm job array (pip install 'denoise-bench[slurm]')",
    )
    sweep.add_argument(
        "--cell-timeout",
        type=float,
        metavar="SECONDS",
        help='fail a cell that runs longer ("timed out after N s") and go on; overrides the config\'s '
        "cell_timeout (default: no limit)",
    )
    sweep.add_argument(
        "--fresh", action="store_true", help="start over: move the folder's previous results into previous-<time>/ first"
    )
    sweep.add_argument(
        "--force",
        action="store_true",
        help="write into an --out folder that holds other files, or another sweep's results "
        "(its config.yaml, report.html … are replaced; refused without it)",
    )


def _add_report_and_leaderboard(commands: Any, common: argparse.ArgumentParser) -> None:
    report = _command(commands, common, "report", command_report)
    report.add_argument("run_dir", type=Path, help="a sweep's results folder, e.g. results/quick")

    board = _command(commands, common, "leaderboard", command_leaderboard)
    board.add_argument("results_dir", nargs="?", type=Path, default=Path("results"), help="default: %(default)s")
    board.add_argument(
        "--metric",
        default="psnr",
        metavar="NAME",
        help="rank by any metric the records hold (psnr, ssim, mse, a plugin's), or delta_psnr (default: psnr)",
    )
    board.add_argument("--dataset", help="only this data set")
    board.add_argument("--noise", help="only this evaluation noise family")
    board.add_argument("--level", type=float, help="only this evaluation level")
    board.add_argument("--format", choices=["table", "md", "csv", "json"], default="table", help="default: table")
    board.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="level of the comparisons between adjacent entries; intervals are 1 − ALPHA (default: %(default)s)",
    )


def _add_check_denoise_and_list(commands: Any, common: argparse.ArgumentParser) -> None:
    check = _command(commands, common, "check", command_check)
    check.add_argument("run_dir", type=Path, help="a sweep's results folder, e.g. results/ci")
    check.add_argument("--baseline", type=Path, required=True, help="baseline file, e.g. results/baselines/ci.json")
    check.add_argument("--update", action="store_true", help="rewrite the baseline from this run (deliberately)")

    apply = _command(commands, common, "denoise", command_denoise)
    apply.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="PNG/JPEG/TIFF/BMP files")
    apply.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint file (.pt) written by bench sweep")
    apply.add_argument("--out", type=Path, required=True, help="folder for the denoised images")

    _command(commands, common, "list", command_list)


def command_check(arguments: argparse.Namespace, live: bool) -> int:
    from bench import check
    from bench.results import read_folder
    from bench.summary import print_gate, summary_console

    run = read_folder(arguments.run_dir)  # the run's records, read once
    if arguments.update:
        previous = check.read_baseline(arguments.baseline).get("tolerances") if arguments.baseline.is_file() else None
        document = check.baseline_from_run(run, previous)
        check.write_baseline(arguments.baseline, document)
        ratio = document["speed_ratio"]
        speed = "no speed ratio (speed_reference off)" if ratio is None else f"speed ratio {ratio:.3f}"
        print(f"baseline written: {arguments.baseline} ({len(document['cells'])} cells, {speed})")
        return EXIT_OK
    figures = check.compare(run, check.read_baseline(arguments.baseline))
    regressions = print_gate(figures, f"{arguments.run_dir} against {arguments.baseline}", summary_console())
    return EXIT_FAILED if regressions else EXIT_OK


def command_denoise(arguments: argparse.Namespace, live: bool) -> int:
    from bench.apply import denoise_files

    for path in denoise_files(arguments.checkpoint, arguments.images, arguments.out):
        print(path)
    return EXIT_OK


def command_list(arguments: argparse.Namespace, live: bool) -> int:
    import inspect

    from rich.table import Table

    from bench.summary import summary_console
    from denoiser.baselines import BASELINES
    from denoiser.data import DATASETS
    from denoiser.estimators import ESTIMATORS
    from denoiser.metrics import METRICS
    from denoiser.models import MODELS
    from denoiser.noise import NOISE
    from denoiser.registry import Registry

    console = summary_console()
    registries: list[tuple[str, Registry[Any]]] = [
        ("models (learned)", MODELS),
        ("classical baselines", BASELINES),
        ("noise models (one severity level each)", NOISE),
        ("data sets", DATASETS),
        ("metrics (every cell is scored with each)", METRICS),
        ("noise estimators (sigma: estimated, estimator: NAME)", ESTIMATORS),
    ]
    for title, registry in registries:
        table = Table(title=title, title_justify="left")
        for header in ("name", "parameters (defaults)", "description", "from"):
            table.add_column(header)
        for entry in registry:
            parameters = ", ".join(
                name if default is inspect.Parameter.empty else f"{name}={default!r}"
                for name, default in entry.parameters.items()
            )
            table.add_row(entry.name, parameters or "-", entry.summary, entry.origin)
        console.print(table)
    return EXIT_OK


def command_report(arguments: argparse.Namespace, live: bool) -> int:
    from bench.report import write_report

    if not arguments.run_dir.is_dir():
        raise DenoiserError(f"{arguments.run_dir}: no such folder")
    for path in write_report(arguments.run_dir):
        print(path)
    return EXIT_OK


def command_leaderboard(arguments: argparse.Namespace, live: bool) -> int:
    import json

    from bench import ranking
    from bench.results import find_results
    from bench.tables import build_board

    rows = ranking.read_results(find_results(arguments.results_dir))
    rows = ranking.filter_rows(rows, arguments.dataset, arguments.noise, arguments.level)
    robust = ranking.robustness(rows) if arguments.format in ("md", "table") else None  # json and csv: the entries only
    board = build_board(ranking.rank(rows, arguments.metric, arguments.alpha), arguments.metric, robust)
    if arguments.format == "md":
        from bench.leaderboard import to_markdown

        print(to_markdown(board))
    elif arguments.format == "json":  # strict JSON: the board's entries hold null for NaN and ±inf
        print(json.dumps(board.entries, indent=1, allow_nan=False))
    elif arguments.format == "csv":
        import pandas as pd

        print(pd.DataFrame(board.entries).to_csv(index=False), end="")
    else:
        from bench.summary import print_board, summary_console

        print_board(board, summary_console())
    return EXIT_OK


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def resume_command(arguments: list[str]) -> str:
    """The command that resumes a sweep, quoted for a POSIX shell: pasted back, it is the same command."""
    return shlex.join(["python", "-m", "bench", *arguments])


def command_sweep(arguments: argparse.Namespace, live: bool) -> int:
    from rich.console import Console

    from bench.config import check_option, load_config
    from bench.summary import print_summary, summary_console
    from bench.sweep import default_output, run_sweep

    check_option("--workers", "workers", arguments.workers)  # the config key's declared bounds
    overrides = arguments.overrides + ([f"executor={arguments.executor}"] if arguments.executor else [])
    if arguments.cell_timeout is not None:
        overrides.append(f"cell_timeout={arguments.cell_timeout!r}")
    config = load_config(arguments.config, overrides, plugins=arguments.plugins)  # the workers import them too
    root = arguments.out or default_output(config)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops a sweep as Ctrl-C does
    try:
        outcome = run_sweep(
            config,
            root,
            workers=arguments.workers,
            fresh=arguments.fresh,
            force=arguments.force,
            console=Console(stderr=True),
            live=live,
        )
    except KeyboardInterrupt:
        command = resume_command(sys.argv[1:]) if sys.argv[1:] else "the same command"
        print(f"interrupted: finished cells are saved in {root}; run `{command}` again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    print_summary(outcome, summary_console())
    from bench.report import write_report

    started = time.perf_counter()
    written = write_report(root, outcome.results, config=config, data=outcome.data)  # what the sweep holds, not read again
    plots = sum(path.suffix == ".png" for path in written)
    logger.info("report: %s (%d plots, %.1f s)", root / "report.html", plots, time.perf_counter() - started)
    return EXIT_FAILED if outcome.failed else EXIT_OK


MAX_MESSAGE = errors.MAX_MESSAGE  # characters of an error message printed: a message never floods a terminal


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    from denoiser.memory import keep_freed_memory

    keep_freed_memory()  # before any tensor work: see denoiser/memory.py
    arguments = build_parser().parse_args(argv)
    live = configure_logging(arguments.quiet, arguments.verbose)
    try:
        from denoiser.plugins import load_plugins

        load_plugins(arguments.plugins)
        return arguments.handler(arguments, live)
    except DenoiserError as error:
        print(f"error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a full disk, a folder that became unwritable: the file and the reason, in one line
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {_one_line(where + (error.strerror or str(error)))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
