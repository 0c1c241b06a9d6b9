import pytest

from denoiser.memory import keep_freed_memory


@pytest.fixture(scope="session", autouse=True)
def memory_settings_of_the_command_line() -> None:
    """Time both loops of every pair under the settings `python -m bench` runs with (denoiser/memory.py)."""
    keep_freed_memory()
