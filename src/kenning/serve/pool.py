"""One :class:`~kenning.Engine` per collection, shared by every request of a server process.

An Engine is safe to call from many threads: searches and answers run concurrently, while index runs on one
collection take its write lock one at a time (another process writing the same collection is waited for or
refused, see :meth:`kenning.Engine.index`). Readers keep answering from the last published snapshot while a writer
works, and see the new one as soon as it is published.

>>> engines = Engines("/tmp/kenning-home")          # doctest: +SKIP
>>> engines.get("docs").search("vacuum", k=3)       # doctest: +SKIP
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..config import KenningConfig, default_home
from ..engine import Engine
from ..store.registry import backend, check_name, location

__all__ = ["Engines"]


class Engines:
    """The engines of one kenning home, built on first use and kept until :meth:`close`."""

    def __init__(self, home: str | Path | None = None, *, config: KenningConfig | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.config = config or KenningConfig.load(self.home)
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """The collections that exist in this home, sorted."""
        return backend(self.config.store.url).list_collections(location(self.config.store.url, self.home))

    def get(self, name: str) -> Engine:
        """The engine of collection ``name`` (which need not exist yet: indexing creates it)."""
        check_name(name)
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = self._engines[name] = Engine(self.home, collection=name, config=self.config)
            return engine

    def forget(self, name: str) -> None:
        """Close and drop the engine of ``name`` (after the collection was deleted)."""
        with self._lock:
            engine = self._engines.pop(name, None)
        if engine is not None:
            engine.close()

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()
