import subprocess
import sys

from tests.conftest import REPOSITORY


def bench(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *arguments], cwd=REPOSITORY, capture_output=True, text=True)


def test_help_lists_the_commands() -> None:
    result = bench("--help")
    assert result.returncode == 0
    assert "sweep" in result.stdout


def test_unknown_command_is_one_line_and_exit_2() -> None:
    result = bench("fly")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'fly'" in result.stderr
