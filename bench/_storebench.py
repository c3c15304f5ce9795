"""Shared pieces of the store benchmarks (``store_scifact.py``, ``store_scale.py``, ``store_concurrency.py``).

- opening a collection in either store by URL (``""``: SQLite in a home folder; ``postgresql://…``);
- embedders that never embed twice: :class:`RecordingEmbedder` keeps every (text, vector) the real model produced,
  :class:`CachedEmbedder` answers from such a record (and embeds only what it has not seen), :class:`FixedVectors`
  answers queries embedded once beforehand — so a store's latency is measured without the model's;
- the cache of SciFact chunk embeddings (``bench/.cache/scifact_<model>_chunks.npz``) that ``store_scifact.py``
  writes and the others read (fitting synthetic vectors, indexing without paying for the model again);
- ``/proc/loadavg`` samples, since the 2-core machine is shared.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _common import CACHE, SCIFACT, console, read_jsonl

__all__ = [
    "RecordingEmbedder",
    "CachedEmbedder",
    "FixedVectors",
    "chunk_cache_path",
    "load_chunk_cache",
    "loadavg",
    "open_store",
    "query_vectors",
    "scifact_query_texts",
]


def loadavg() -> str:
    """``/proc/loadavg`` as it reads now (1, 5, 15-minute load, runnable/total tasks, last pid)."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def open_store(url: str, home: Path, name: str, config, *, model: str, dim: int):  # noqa: ANN001, ANN201
    """``name`` in the store ``url`` names (empty: SQLite under ``home``), created with these settings if missing."""
    from kenning.store.registry import backend, scheme_of

    location = home if scheme_of(url) == "sqlite" else url
    return backend(url).create_or_open(location, name, config, model=model, dim=dim)


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class RecordingEmbedder:
    """The real embedder, keeping every document text it embedded and its vector."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.batch_size = getattr(inner, "batch_size", 32)
        self.texts: list[str] = []
        self.vectors: list[np.ndarray] = []

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        out = self.inner.embed(texts, is_query=is_query)
        if not is_query:
            self.texts.extend(texts)
            self.vectors.append(np.asarray(out, dtype=np.float32))
        return out

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        vectors = np.concatenate(self.vectors) if self.vectors else np.zeros((0, self.dim), np.float32)
        np.savez(path, texts=np.asarray(self.texts, dtype=object), vectors=vectors, model=self.name)
        return path


class CachedEmbedder:
    """Answers document texts from a record of (text → vector); texts not in it go to ``inner`` (counted)."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, *, name: str, inner=None) -> None:  # noqa: ANN001
        self.name = name
        self.dim = int(vectors.shape[1])
        self.batch_size = 32
        self.inner = inner
        self._vectors = np.asarray(vectors, dtype=np.float32)
        self._row = {_key(t): i for i, t in enumerate(texts)}
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing = []
        for i, t in enumerate(texts):
            row = None if is_query else self._row.get(_key(t))
            if row is None:
                missing.append(i)
            else:
                out[i] = self._vectors[row]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            if self.inner is None:
                raise KeyError(f"{len(missing)} texts are not in the embedding cache and no model was given")
            out[missing] = self.inner.embed([texts[i] for i in missing], is_query=is_query)
        return out


class FixedVectors:
    """Query vectors computed once: ``embed`` looks each query up (a query not given is an error)."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, *, name: str) -> None:
        self.name = name
        self.dim = int(vectors.shape[1])
        self._by_text = {t: np.asarray(v, dtype=np.float32) for t, v in zip(texts, vectors, strict=True)}

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        return np.stack([self._by_text[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def chunk_cache_path(model: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return CACHE / f"scifact_{safe}_chunks.npz"


def load_chunk_cache(embedder_name: str = "minilm") -> tuple[list[str], np.ndarray, str]:
    """(texts, vectors, model) of every SciFact chunk as kenning indexes it with the packaged embedder.

    Written by ``store_scifact.py``; when missing, SciFact is chunked and embedded here (a few minutes on 2 cores).
    """
    from kenning.providers.embedders import get_embedder

    embedder = get_embedder(embedder_name)
    path = chunk_cache_path(embedder.name)
    if not path.is_file():
        import tempfile

        from kenning.config import KenningConfig
        from kenning.index.writer import index_paths

        console.print(f"embedding every SciFact chunk once (cached in {path}) …")
        recording = RecordingEmbedder(embedder)
        cfg = KenningConfig()
        with tempfile.TemporaryDirectory(prefix="kenning-bench-chunks-") as home:
            store = open_store("", Path(home), "scifact", cfg, model=embedder.name, dim=embedder.dim)
            with store.locked():
                index_paths(
                    store,
                    [SCIFACT / "corpus.jsonl"],
                    ingest=cfg.ingest,
                    chunking=cfg.chunking,
                    embedder=recording,
                    commit_chunks=cfg.indexing.commit_chunks,
                )
            store.close()
        recording.save(path)
    data = np.load(path, allow_pickle=True)
    return [str(t) for t in data["texts"]], data["vectors"].astype(np.float32), str(data["model"])


def scifact_query_texts(split: str = "test") -> tuple[list[str], list[str]]:
    """(query ids, texts) of a SciFact split, in file order."""
    from kenning.evaluate import load_beir

    ds = load_beir(SCIFACT, split)
    return list(ds.queries), [ds.queries[q] for q in ds.queries]


def query_vectors(texts: Sequence[str], embedder_name: str = "minilm") -> np.ndarray:
    """The packaged embedder's query vectors for ``texts``, cached by their hash."""
    from kenning.providers.embedders import get_embedder

    digest = hashlib.blake2b("\n".join(texts).encode(), digest_size=8).hexdigest()
    path = CACHE / f"queries_{embedder_name}_{len(texts)}_{digest}.npy"
    if path.is_file():
        return np.load(path)
    vectors = get_embedder(embedder_name).embed(list(texts), is_query=True).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def all_scifact_texts() -> list[str]:
    """Every SciFact abstract's text (for the text sampler)."""
    return [r.get("text", "") for r in read_jsonl(SCIFACT / "corpus.jsonl")]
