"""Switching a collection to a new embedder or reranker without ever serving a half-switched index.

An embedder switch happens in steps, each safe to kill:

1. :func:`stage_vectors` embeds every chunk with the new model into the catalog under the new model's hashes, in
   committed batches (a killed run resumes where it stopped). Nothing a search reads changes.
2. :func:`adopt_embedder` points every chunk at its new vector and records the new embedder in the catalog, in one
   transaction; then the manifest's embedder and a new snapshot are published together. Until that manifest write,
   readers keep the old snapshot *and* the old embedder. If the process dies between the two, readers go on with
   both; the next writer (``kenning index`` recovers first, or ``kenning index --repair``) takes the embedder from
   the catalog when it publishes (``Collection.publish``), so the new snapshot and the new embedder again go out
   together, and a long-lived Engine switches its query embedder when it sees that manifest.
3. Vectors of the old model are dropped once the new snapshot is out.

A disk that fills during step 1 or 2 raises a clear error; the old snapshot stays current.

A reranker is a model folder and one manifest entry: copying the folder in, then one atomic manifest write.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexError_
from ..providers.embedders import Embedder, SentenceTransformerEmbedder, get_embedder
from .collection import Collection, write_manifest
from .writer import embed_hash

__all__ = [
    "stage_vectors",
    "staged_vectors",
    "adopt_embedder",
    "adopt_reranker",
    "embedder_for",
    "reranker_for",
    "EMBEDDER_STATE",
]

EMBEDDER_STATE = "embedder"
Progress = Callable[[str, int, int | None], None]


def embedder_for(collection: Collection, entry: dict[str, Any] | None = None, **options: Any) -> Embedder:
    """The embedder a manifest entry names: a registered model, or a tuned one inside the collection's folder."""
    entry = entry or collection.manifest["embedder"]
    if "path" in entry:
        return SentenceTransformerEmbedder(
            str(collection.folder / entry["path"]),
            model_id=entry["model"],
            truncate_dim=entry.get("truncate_dim"),
            query_prefix=entry.get("query_prefix", ""),
            document_prefix=entry.get("document_prefix", ""),
            **options,
        )
    return get_embedder(entry["name"], **options)


def stage_vectors(
    collection: Collection, embedder: Embedder, model_id: str, *, progress: Progress | None = None, batch: int = 256
) -> int:
    """Embed every chunk that has no vector under ``model_id`` yet; returns how many were embedded."""
    catalog = collection.catalog
    texts: dict[str, str] = {}
    for _chunk_id, text in catalog.chunk_texts():
        texts.setdefault(embed_hash(model_id, text), text)
    missing = sorted(catalog.missing_vectors(list(texts)), key=lambda h: len(texts[h]))
    for start in range(0, len(missing), batch):
        part = missing[start : start + batch]
        vectors = embedder.embed([texts[h] for h in part])
        catalog.stage_vectors(part, vectors)
        if progress:
            progress("embedding", min(start + batch, len(missing)), len(missing))
    return len(missing)


def staged_vectors(collection: Collection, model_id: str, chunk_ids: Sequence[str]) -> np.ndarray:
    """The vectors ``model_id`` staged for these chunks (by :func:`stage_vectors`), in order."""
    wanted = set(chunk_ids)
    texts = {c: t for c, t in collection.catalog.chunk_texts() if c in wanted}
    hashes = [embed_hash(model_id, texts.get(c, "")) for c in chunk_ids]
    found = collection.catalog.vectors_for(hashes)
    missing = sum(h not in found for h in hashes)
    if missing:
        raise IndexError_(f"{missing} chunks have no vector from {model_id}; stage them first")
    return np.stack([found[h] for h in hashes]) if hashes else np.zeros((0, collection.dim), dtype=np.float32)


def adopt_embedder(
    collection: Collection, entry: dict[str, Any], embedder: Embedder, *, progress: Progress | None = None
) -> int:
    """Make ``entry`` (with ``embedder`` built from it) the collection's embedder; returns the new snapshot version.

    The caller holds the write lock. See the module doc for why this is safe to kill at any point.
    """
    model = entry["model"]
    stage_vectors(collection, embedder, model, progress=progress)  # whatever was indexed since the guard ran
    with collection.catalog.transaction():
        collection.catalog.rehash_chunks(lambda text: embed_hash(model, text))
        collection.catalog.set_state(EMBEDDER_STATE, json.dumps(entry, sort_keys=True))
    collection.manifest["embedder"] = entry
    version = collection.publish(force=True)
    collection.catalog.drop_unused_vectors_now()
    return int(version or 0)


def adopt_reranker(collection: Collection, folder: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Copy the reranker in ``folder`` into the collection and make it the collection's reranker."""
    models = collection.folder / "models"
    models.mkdir(exist_ok=True)
    target = models / entry["path"].rsplit("/", 1)[-1]
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(folder, tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise IndexError_(f"cannot copy the reranker into {models} ({exc}); the collection is unchanged") from None
    previous = collection.manifest.get("reranker")
    collection.manifest["reranker"] = entry
    write_manifest(collection.folder / "manifest.json", collection.manifest)
    if previous and previous.get("path") and previous["path"] != entry["path"]:
        shutil.rmtree(collection.folder / previous["path"], ignore_errors=True)
    return entry


def reranker_for(collection: Collection, *, batch_size: int = 32):  # noqa: ANN201 - a CrossEncoderReranker or None
    """The collection's adopted reranker, or None when it has none."""
    entry = collection.manifest.get("reranker")
    if not entry:
        return None
    from ..rerank import CrossEncoderReranker

    return CrossEncoderReranker(
        collection.folder / entry["path"], batch_size=batch_size, max_length=entry.get("max_length", 256)
    )
