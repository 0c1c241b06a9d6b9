"""Errors that carry a one-line message meant for the user, never a traceback."""


class DenoiserError(Exception):
    """Base of every error the command line reports as one line (exit code 2)."""


class ConfigurationError(DenoiserError, ValueError):
    """A name, parameter or value that cannot be used: says which and the valid choices."""


class DataError(DenoiserError):
    """A data path, file or image that cannot be read: names the file."""
