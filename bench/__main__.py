"""``python -m bench``: the command line."""

from bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
