"""The documents of a collection, as the doors list, show and remove them (a part of :class:`kenning.Engine`)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from .index import Collection
from .index.catalog import DocumentRow

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

    def collection(self) -> Collection: ...

    def _writing(self) -> AbstractContextManager[Collection]: ...

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
