"""An embedding cache: any :class:`Embedder` wrapped so that each distinct text is embedded once, ever.

Vectors live in one SQLite file (WAL) keyed by a content hash of the model name and the text, the same key the
catalog uses for its ``vectors`` table. Many collections, sweep cells or processes can share one cache: identical
chunk text produced by two chunker settings is embedded by the first and read back by the second.

>>> from kenning.providers import get_embedder
>>> cache = CachingEmbedder(get_embedder("minilm"), "/tmp/kenning-embeddings.sqlite")   # doctest: +SKIP
>>> cache.embed(["hello", "hello", "world"]).shape                                  # doctest: +SKIP
(3, 384)
>>> cache.stats                                                                      # doctest: +SKIP
CacheStats(hits=1, misses=2, inner_calls=1, inner_seconds=0.02)
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ProviderError
from .embedders import Embedder

__all__ = ["CachingEmbedder", "CacheStats", "content_hash"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key TEXT PRIMARY KEY,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS models (
    model TEXT PRIMARY KEY,
    dim INTEGER NOT NULL
);
"""


def content_hash(model: str, text: str, *, is_query: bool = False) -> str:
    """The cache key: ``blake2b(model NUL text)``, as ``kenning.index.writer.embed_hash``; queries get their own
    namespace because some models embed a query differently from a passage."""
    name = f"{model}\0query" if is_query else model
    return hashlib.blake2b(f"{name}\0{text}".encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Texts answered from the cache (``hits``), texts the inner embedder computed (``misses``), how many times the
    inner embedder was called and the seconds spent in it."""

    hits: int = 0
    misses: int = 0
    inner_calls: int = 0
    inner_seconds: float = 0.0


class CachingEmbedder:
    """Wraps ``inner`` with a persistent cache in the SQLite file ``path``; implements the Embedder Protocol.

    Within one call, duplicate texts are embedded once. Safe to share between threads (one connection behind a
    lock) and processes (WAL, a busy timeout, ``INSERT OR IGNORE``: two writers of the same key store the same
    vector). ``name`` is the inner model's, so a collection built through the cache records the real model.
    """

    def __init__(self, inner: Embedder, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._hits = self._misses = self._calls = 0
        self._seconds = 0.0
        self._dim: int | None = None
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ProviderError(f"{self.path}: cannot open the embedding cache ({exc}); delete the file") from None

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        """The model's dimension, from the cache when it has seen the model, so a run that finds every vector
        cached never loads the model at all."""
        if self._dim is None:
            with self._lock:
                row = self._conn.execute("SELECT dim FROM models WHERE model = ?", (self.inner.name,)).fetchone()
            if row is None:
                dim = int(self.inner.dim)
                with self._lock, self._conn:
                    self._conn.execute("INSERT OR IGNORE INTO models VALUES (?, ?)", (self.inner.name, dim))
                row = (dim,)
            self._dim = int(row[0])
        return self._dim

    @property
    def stats(self) -> CacheStats:
        return CacheStats(self._hits, self._misses, self._calls, self._seconds)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def embed_late(self, text: str, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        """Late chunking, passed to the inner embedder (not cached here: the catalog keys those vectors itself)."""
        late = getattr(self.inner, "embed_late", None)
        if late is None:
            raise ProviderError(f"embedder {self.name} cannot do late chunking")
        return late(text, spans)

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.inner.name
        keys = [content_hash(model, t, is_query=is_query) for t in texts]
        found = self._lookup(sorted(set(keys)))
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found:
                todo.setdefault(key, text)
        spent = 0.0
        if todo:
            t0 = time.perf_counter()
            new = np.ascontiguousarray(self.inner.embed(list(todo.values()), is_query=is_query), dtype=np.float32)
            spent = time.perf_counter() - t0
            if new.ndim != 2 or new.shape[0] != len(todo) or new.shape[1] != self.dim:
                raise ProviderError(
                    f"embedder {model} returned vectors of shape {new.shape} for {len(todo)} texts of dimension "
                    f"{self.dim}; a cache file serves one dimension per model name"
                )
            rows = [(key, int(new.shape[1]), new[i].astype("<f4").tobytes()) for i, key in enumerate(todo)]
            with self._lock, self._conn:
                self._conn.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", rows)
            found.update({key: new[i] for i, key in enumerate(todo)})
        with self._lock:
            self._calls += 1 if todo else 0
            self._seconds += spent
            self._misses += len(todo)
            self._hits += len(texts) - len(todo)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 900):
                part = keys[i : i + 900]
                q = f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})"
                for key, blob in self._conn.execute(q, part):
                    out[key] = np.frombuffer(blob, dtype="<f4")
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()
