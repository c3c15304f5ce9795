"""kenning's one exception tree.

Messages say what happened and what to do next. Only the CLI (and later the server) turn these into exit codes.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = [
    "KenningError",
    "ConfigError",
    "MissingExtraError",
    "InputError",
    "IndexError_",
    "CollectionNotFound",
    "IndexLockedError",
    "ProviderError",
    "check_choice",
]


class KenningError(Exception):
    """Base of every error kenning raises on purpose."""


class ConfigError(KenningError):
    """A setting has a value kenning cannot use; the message names the setting and the value."""


def check_choice(setting: str, value: object, choices: Collection[str]) -> None:
    """Raise a :class:`ConfigError` naming ``setting``, the choices and ``value`` unless ``value`` is one of them.

    >>> check_choice("fusion", "max", ("none", "rrf"))
    Traceback (most recent call last):
    kenning.errors.ConfigError: fusion must be one of none, rrf, got 'max'
    """
    if value not in choices:
        raise ConfigError(f"{setting} must be one of {', '.join(choices)}, got {value!r}")


class MissingExtraError(KenningError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'kenning[{extra}]'"
        )
        self.extra = extra
        self.package = package


class InputError(KenningError):
    """An input file or record cannot be used; the message names it."""


class IndexError_(KenningError):
    """The on-disk index is missing, incompatible or damaged."""


class CollectionNotFound(IndexError_):
    """No collection of that name exists in the index home."""


class IndexLockedError(IndexError_):
    """Another process is writing to this collection."""


class ProviderError(KenningError):
    """A model provider (embedder, LLM, reranker) failed or could not be loaded."""
