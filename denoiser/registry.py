"""A small registry by name: one decorated factory per entry.

Every registry (models, noise models, data sets, classical baselines) is an
instance of :class:`Registry`; an unknown name fails with the valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from denoiser.errors import ConfigurationError

T = TypeVar("T")

MAX_NAME = 100  # characters: a name is part of result file names (``<name>-<hash>.json``), which a file system caps at 255 bytes


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered factory, with the parameters it accepts and their defaults."""

    name: str
    factory: Callable[..., T]
    summary: str

    @property
    def origin(self) -> str:
        """Where the factory was defined: ``module.function`` (a plugin's module, or the package's own)."""
        return f"{self.factory.__module__}.{self.factory.__qualname__}"

    @property
    def module(self) -> str:
        return self.factory.__module__

    @property
    def parameters(self) -> dict[str, Any]:
        """Keyword parameters of the factory and their defaults (``inspect.Parameter.empty`` if required)."""
        return {
            name: parameter.default
            for name, parameter in inspect.signature(self.factory).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY or parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        }


class Registry(Generic[T]):
    """Maps names to factories; ``registry.create(name, **params)`` builds one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # e.g. "model", used in error messages
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@MODELS.register("dae")`` above a factory function."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if (
                not isinstance(name, str)
                or not name.strip()
                or not name.isprintable()
                or len(name.encode()) > MAX_NAME
                or any(character in name for character in "/\\")
            ):
                raise ConfigurationError(
                    f"{self.kind} name {str(name)[:60]!r}: must be one line of at most {MAX_NAME} "
                    "bytes (UTF-8) of printable characters, not blank, without slashes (it names result files)"
                )
            entry = Entry(name, factory, (inspect.getdoc(factory) or "").split("\n")[0])
            previous = self._entries.get(name)
            if previous is not None and previous.origin != entry.origin:  # the same module imported again replaces itself
                raise ConfigurationError(f"{self.kind} {name!r} is registered twice: by {previous.origin} and by {entry.origin}")
            self._entries[name] = entry
            return factory

        return decorate

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[name] for name in self.names())

    def get(self, name: str) -> Entry[T]:
        """The entry called ``name``; an unknown name fails with the valid ones."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise ConfigurationError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def create(self, name: str, **params: Any) -> T:
        """Build entry ``name`` with ``params``; unknown parameters fail with the valid ones."""
        entry = self.get(name)
        accepted = entry.parameters
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            valid = ", ".join(sorted(accepted)) or "none"
            raise ConfigurationError(f"{self.kind} {name!r} has no parameter {', '.join(unknown)}; valid: {valid}")
        return entry.factory(**params)
