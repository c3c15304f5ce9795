"""Files, folders, archives and BEIR corpora → :class:`~kenning.types.Document`.

Reading is split in two so that re-indexing an unchanged corpus does no parsing:

1. :func:`discover` walks the inputs and yields a :class:`SourceFile` (name, kind, raw bytes and their hash) for
   each indexable item, or a :class:`~kenning.types.Skipped` naming an item that cannot be used and why.
2. :func:`parse` turns one ``SourceFile`` into a ``Document`` (clean text, title, headings), raising
   :class:`~kenning.errors.InputError` when the content turns out to be unusable (badly encoded, empty…).

The indexer compares ``SourceFile.raw_hash`` with what the catalog holds and only parses what changed.
"""

from __future__ import annotations

from .discover import SourceFile, discover
from .parse import parse

__all__ = ["SourceFile", "discover", "parse"]
