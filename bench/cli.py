"""The command line: ``python -m bench COMMAND …``. Bad input ends in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from rich.console import Console
from rich.logging import RichHandler

from denoiser.errors import DenoiserError

logger = logging.getLogger("bench")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(DenoiserError):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def configure_logging(quiet: bool, verbose: bool) -> None:
    """Libraries log; the CLI decides where it goes: rich on a terminal, plain lines otherwise."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    console = Console(stderr=True)
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bench",
        description="denoise-bench: train and evaluate image denoisers across noise levels and latent sizes.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="plain log lines, warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug log lines")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    sweep = commands.add_parser("sweep", help="train and evaluate every cell of a sweep (not built yet)")
    sweep.add_argument("config", nargs="?", default="configs/quick.yaml", help="sweep config (default: %(default)s)")
    sweep.set_defaults(handler=_not_built)
    return parser


def _not_built(arguments: argparse.Namespace) -> int:
    print(f"bench {arguments.command}: not built yet", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    configure_logging(arguments.quiet, arguments.verbose)
    try:
        return arguments.handler(arguments)
    except DenoiserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
