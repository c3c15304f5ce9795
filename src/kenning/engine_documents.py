"""A collection as a whole and its documents, as the doors list, show, repair and remove them (a part of
:class:`kenning.Engine`)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .index.catalog import DocumentRow
from .store import Store

if TYPE_CHECKING:
    from .config import KenningConfig

__all__ = ["DocumentsMixin", "DocumentRow"]


class DocumentsMixin:
    """Listing, reading and removing documents. Removal is a write: it waits for this Engine's other writers, takes
    the collection's file lock (refused while another process writes), commits, and publishes a new snapshot that
    readers switch to on their next search."""

    home: Path
    collection_name: str
    config: KenningConfig
    _writer: threading.Lock

    _stores: Any  # kenning.store.registry.Backend

    @property
    def store_location(self) -> str | Path: ...

    def store_name(self) -> str: ...

    def collection(self) -> Store: ...

    def _writing(self) -> AbstractContextManager[Store]: ...

    def _forget_collection(self) -> None: ...

    def documents(self, *, limit: int = 100, offset: int = 0) -> tuple[list[DocumentRow], int]:
        """A page of the collection's documents (by title) and how many there are."""
        return self.collection().catalog.documents(limit=limit, offset=offset)

    def document(self, doc_id: str) -> DocumentRow | None:
        """One document with its whole text and its chunks' character spans in it (what citations point into)."""
        return self.collection().catalog.document(doc_id)

    def remove_documents(self, doc_ids: list[str]) -> int:
        """Remove documents (and every source path that led to them); returns how many chunks went."""
        self.collection()  # raises CollectionNotFound with its hint
        with self._writing() as writer:
            _, chunks = writer.catalog.remove_documents(doc_ids)
            writer.publish()
        return chunks

    def delete_collection(self) -> None:
        """Delete the whole collection from disk (after any index run through this Engine has finished)."""
        self.collection()
        with self._writing() as writer:
            writer.delete()
            self._forget_collection()

    def collections(self) -> list[str]:
        return self._stores.list_collections(self.store_location)

    def repair(self) -> list[str]:
        """Rebuild what can be rebuilt of a damaged collection (see :mod:`kenning.index.repair`); returns what was
        done, one line each."""
        from .index.repair import repair_collection

        if not isinstance(self.store_location, Path):
            return [
                f"nothing to repair: {self.store_name()} keeps every write in a transaction (a killed writer's "
                "half-written documents were rolled back)"
            ]
        with self._writer:
            done = repair_collection(self.home, self.collection_name, self.config)
        self._forget_collection()
        return done

    def info(self) -> dict[str, Any]:
        """The collection's size and settings, as of its latest published snapshot."""
        col = self.collection()
        col.counts()  # reads the manifest again if a writer has published since; raises if the snapshot is damaged
        docs, chunks = col.catalog.counts()
        stale = col.is_stale()
        return {
            "collection": col.name,
            "store": self.store_name(),
            "folder": str(col.folder) if hasattr(col, "folder") else None,
            "documents": docs,
            "chunks": chunks,
            "embedder": col.manifest["embedder"],
            "chunking": col.manifest["chunking"],
            "context": col.manifest.get("context"),
            "snapshot": col.manifest.get("snapshot"),
            "reranker": col.manifest.get("reranker"),
            "stale": stale,
            **({"note": _STALE} if stale else {}),
        }


_STALE = (
    "the catalog holds changes the published snapshot does not (a writer is at work, or was interrupted); searches "
    "answer from the snapshot until the next kenning index, or kenning index --repair, publishes them"
)
