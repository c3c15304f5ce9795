"""The documents of a collection, as the doors list, show and remove them (a part of :class:`kenning.Engine`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .index import Collection
from .index.catalog import DocumentRow

if TYPE_CHECKING:
    from .config import KenningConfig

__all__ = ["DocumentsMixin", "DocumentRow"]


class DocumentsMixin:
    """Listing, reading and removing documents. Removal is a write: it takes the collection's write lock (waiting
    for a running index job), commits, and publishes a new snapshot that readers switch to on their next search."""

    home: Path
    collection_name: str
    config: KenningConfig

    def collection(self) -> Collection: ...

    def documents(self, *, limit: int = 100, offset: int = 0) -> tuple[list[DocumentRow], int]:
        """A page of the collection's documents (by title) and how many there are."""
        return self.collection().catalog.documents(limit=limit, offset=offset)

    def document(self, doc_id: str) -> DocumentRow | None:
        """One document with its whole text and its chunks' character spans in it (what citations point into)."""
        return self.collection().catalog.document(doc_id)

    def remove_documents(self, doc_ids: list[str]) -> int:
        """Remove documents (and every source path that led to them); returns how many chunks went."""
        self.collection()  # raises CollectionNotFound with its hint
        writer = Collection.open(self.home, self.collection_name)
        try:
            with writer.locked(wait=True):
                _, chunks = writer.catalog.remove_documents(doc_ids)
                writer.publish()
        finally:
            writer.close()
        return chunks

    def delete_collection(self) -> None:
        """Delete the whole collection from disk."""
        col = self.collection()
        col.close()
        writer = Collection.open(self.home, self.collection_name)
        writer.delete()
