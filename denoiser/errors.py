"""Errors that carry a one-line message meant for the user, never a traceback."""

MAX_MESSAGE = 400  # characters: a message quotes the user's value, which may be huge


class DenoiserError(Exception):
    """Base of every error the command line reports as one line (exit code 2); its message is made
    one line and cut to MAX_MESSAGE characters, whatever value or library message it quotes."""

    def __init__(self, message: str = "") -> None:
        message = " ".join(str(message).split())  # one line, whatever a library's text inside it holds
        super().__init__(message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…")


class ConfigurationError(DenoiserError, ValueError):
    """A name, parameter or value that cannot be used: says which and the valid choices."""


class DataError(DenoiserError):
    """A data path, file or image that cannot be read: names the file."""
