"""API keys: stored hashed, each with scopes on named collections.

A key is shown once, when it is made; the server keeps only its SHA-256 (keys are 256-bit random tokens, so a fast
hash is enough: there is nothing to guess). Scopes nest: ``admin`` ⊃ ``write`` ⊃ ``read``.

>>> import tempfile, pathlib
>>> store = KeyStore(pathlib.Path(tempfile.mkdtemp()) / "keys.json")
>>> secret = store.add("reader", scope="read", collections=["docs"])
>>> key = store.find(secret)
>>> key.name, key.allows("read", "docs"), key.allows("read", "other"), key.allows("write", "docs")
('reader', True, False, False)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError
from ..store.registry import check_name

__all__ = ["ApiKey", "KeyStore", "SCOPES", "LOCAL"]

SCOPES = ("read", "write", "admin")
_PREFIX = "kn_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """Who a request acts as: a stored key, or :data:`LOCAL` (a loopback client that sent none)."""

    name: str
    scope: str  # read, write or admin
    collections: tuple[str, ...]  # the collections it reaches; ("*",) for all
    hash: str = ""
    created: float = 0.0

    def allows(self, scope: str, collection: str | None = None) -> bool:
        """Whether this key may do ``scope`` on ``collection`` (None: on the server as a whole)."""
        if SCOPES.index(self.scope) < SCOPES.index(scope):
            return False
        if collection is None or "*" in self.collections:
            return True
        return collection in self.collections

    def sees(self, collection: str) -> bool:
        return "*" in self.collections or collection in self.collections


LOCAL = ApiKey("local", "admin", ("*",))
"""A loopback client without a key: the person at this machine, who could read the files anyway."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    """Keys in one JSON file (mode 0600), re-read when it changes on disk, so ``kenning keys`` affects a running
    server at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ApiKey] = {}

    def _load(self) -> dict[str, ApiKey]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._keys = None, {}
            return self._keys
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                keys = [ApiKey(k["name"], k["scope"], tuple(k["collections"]), k["hash"], k["created"]) for k in data]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{self.path}: cannot read the API keys ({exc})") from None
            self._keys, self._stamp = {k.hash: k for k in keys}, stamp
        return self._keys

    def _save(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump([asdict(k) for k in keys], f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def keys(self) -> list[ApiKey]:
        with self._lock:
            return sorted(self._load().values(), key=lambda k: k.name)

    def __bool__(self) -> bool:
        return bool(self.keys())

    def add(self, name: str, *, scope: str = "read", collections: list[str] | tuple[str, ...] = ("*",)) -> str:
        """Make a key and return its secret (the only time it is shown)."""
        if scope not in SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"key name {name!r}: use letters, digits, '-' and '_'")
        wanted = tuple(collections) or ("*",)
        for c in wanted:
            if c != "*":
                check_name(c)
        secret = _PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            keys = list(self._load().values())
            if any(k.name == name for k in keys):
                raise ConfigError(f"a key named {name!r} exists; revoke it first or pick another name")
            keys.append(ApiKey(name, scope, wanted, _digest(secret), time.time()))
            self._save(keys)
        return secret

    def revoke(self, name: str) -> bool:
        with self._lock:
            keys = list(self._load().values())
            kept = [k for k in keys if k.name != name]
            if len(kept) == len(keys):
                return False
            self._save(kept)
            return True

    def find(self, secret: str) -> ApiKey | None:
        """The key whose secret this is, or None."""
        if not secret.startswith(_PREFIX):
            return None
        with self._lock:
            return self._load().get(_digest(secret))
