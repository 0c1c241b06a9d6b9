"""A small registry by name: one decorated factory per entry, with what it declares about itself.

Every registry (models, noise models, data sets, classical baselines) is an
instance of :class:`Registry`; an unknown name fails with the valid ones. An
entry may carry keyword metadata (``@DATASETS.register("folder", whole="images")``)
that the code reads instead of dispatching on the name, so that a plugin's entry
is treated as a built-in one. The rule for a name that becomes part of file names
(:func:`name_problem`) lives here, for registered names and configured ones alike.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from denoiser.errors import ConfigurationError

T = TypeVar("T")

MAX_NAME = 100  # bytes (UTF-8): a name is part of result file names (``<name>-<hash>.json``), which a file system caps at 255


def name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a name that labels results and becomes part of file names, or None:
    it must be one line of printable characters, not blank, at most MAX_NAME bytes (UTF-8), without slashes."""
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        return "must be one line of printable characters, not blank"
    if len(name.encode()) > MAX_NAME:
        return f"must be at most {MAX_NAME} bytes (UTF-8), not {len(name.encode())}, as it names files"
    if any(character in name for character in "/\\"):
        return "must have no slashes, as it names files"
    return None


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered factory, with the parameters it accepts and their defaults."""

    name: str
    factory: Callable[..., T]
    summary: str
    # what the entry declares about itself at registration (``register(name, **metadata)``); read-only
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

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
        return keyword_parameters(self.factory)


def keyword_parameters(function: Callable[..., Any]) -> dict[str, Any]:
    """The parameters ``function`` takes by keyword, in order, and their defaults (``inspect.Parameter.empty``
    where one is required)."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY or parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    }


class Registry(Generic[T]):
    """Maps names to factories; ``registry.create(name, **params)`` builds one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # e.g. "model", used in error messages
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **metadata: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@MODELS.register("dae")`` above a factory function; keyword ``metadata`` is kept,
        read-only, on the entry (``registry.get(name).metadata``)."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            problem = name_problem(name)
            if problem is not None:
                raise ConfigurationError(f"{self.kind} name {str(name)[:60]!r}: {problem}")
            summary = (inspect.getdoc(factory) or "").split("\n")[0]
            entry = Entry(name, factory, summary, MappingProxyType(dict(metadata)))
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
