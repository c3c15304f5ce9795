"""Which store a URL names: a plain registry of backends, imported only when used.

``[store] url`` in kenning.toml (or ``--store``) selects it: empty or ``sqlite`` keeps collections in
``<home>/collections/`` (the default); ``postgresql://user@host/db`` keeps them in one PostgreSQL database that
several kenning processes and machines can share.

>>> scheme_of(""), scheme_of("postgresql://kenning@db/kenning"), scheme_of("postgres://x")
('sqlite', 'postgresql', 'postgresql')
>>> scheme_of("mysql://x")
Traceback (most recent call last):
...
kenning.errors.ConfigError: store url 'mysql://x': unknown store 'mysql'; known: postgresql, sqlite
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from ..config import KenningConfig
    from .base import Store

__all__ = ["STORES", "Backend", "backend", "check_name", "location", "redact", "scheme_of"]


class Backend(Protocol):
    """Opens, creates, lists and deletes collections in one kind of store at ``location`` (a home folder for
    SQLite, a URL for PostgreSQL)."""

    def open(self, location: str | Path, name: str, *, write: bool = False) -> Store: ...

    def create_or_open(
        self, location: str | Path, name: str, config: KenningConfig, *, model: str, dim: int
    ) -> Store: ...

    def list_collections(self, location: str | Path) -> list[str]: ...


# scheme → (module:attribute, the extra that brings its dependencies)
STORES: dict[str, tuple[str, str | None]] = {
    "sqlite": ("kenning.index.collection:SQLITE", None),
    "postgresql": ("kenning.store.postgres:POSTGRES", "postgres"),
}
_ALIASES = {"postgres": "postgresql", "": "sqlite"}


def scheme_of(url: str | None) -> str:
    """The store a URL names (empty: SQLite)."""
    text = (url or "").strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else text.lower()
    scheme = _ALIASES.get(scheme, scheme)
    if scheme not in STORES:
        raise ConfigError(f"store url {url!r}: unknown store {scheme!r}; known: {', '.join(sorted(STORES))}")
    return scheme


def backend(url: str | None) -> Backend:
    """The backend for ``url``; a missing optional dependency names the extra to install."""
    target, extra = STORES[scheme_of(url)]
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        if extra is None:
            raise
        raise MissingExtraError(
            f"the {scheme_of(url)} store needs {exc.name or 'its driver'}: pip install 'kenning[{extra}]'"
        ) from None


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    """A collection name every store accepts (letters, digits, ``_-.``, at most 64), else :class:`ConfigError`."""
    if not _NAME.match(name):
        raise ConfigError(
            f"collection name {name!r} is not allowed: use letters, digits, '_', '-', '.', at most 64 characters"
        )
    return name


def location(url: str | None, home: Path) -> str | Path:
    """Where a backend keeps collections: the URL of a server store, else the home folder.

    >>> location("", Path("/h")), location("postgresql://db/k", Path("/h"))
    (PosixPath('/h'), 'postgresql://db/k')
    """
    text = (url or "").strip()
    return text if "://" in text else Path(home)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs.

    >>> redact("postgresql://kenning:s3cret@db:5432/rag")
    'postgresql://kenning:***@db:5432/rag'
    """
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    auth, at, host = rest.partition("@")
    user, colon, _ = auth.partition(":")
    return f"{head}://{user}{':***' if colon else ''}@{host}"
