"""Entity and relationship extraction, one chunk at a time, with ``gleanings`` extra passes asking what was missed.

>>> normalise_name('  "The  VACUUM command." ')
'the vacuum command'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .calls import CachedCaller
from .prompts import EXTRACT, GLEAN, Entity, ExtractInput, Extraction, GleanInput, Relationship

__all__ = ["ChunkExtraction", "extract_chunk", "normalise_name"]

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def normalise_name(name: str) -> str:
    """The key entities merge on: case-folded, spaces collapsed, punctuation trimmed from both ends."""
    return _EDGES.sub("", " ".join(name.split()).casefold())


@dataclass(frozen=True, slots=True)
class ChunkExtraction:
    """What the model found in one chunk (``ok=False``: the first pass failed; nothing from this chunk is used)."""

    chunk_id: str
    entities: tuple[Entity, ...]
    relationships: tuple[Relationship, ...]
    ok: bool = True


def extract_chunk(caller: CachedCaller, chunk_id: str, text: str, *, gleanings: int = 0) -> ChunkExtraction:
    """Extract from ``text``; each gleaning pass is told the names found so far and adds what it finds new. A
    malformed reply on the first pass fails the chunk (recorded by the caller); on a gleaning pass it ends gleaning
    and keeps what the passes before found."""
    first = caller.call(EXTRACT, ExtractInput(text=text), item=chunk_id)
    if first is None:
        return ChunkExtraction(chunk_id, (), (), ok=False)
    found: Extraction = first
    for n in range(gleanings):
        names = sorted({e.name for e in found.entities})
        more = caller.call(GLEAN, GleanInput(text=text, found=names), item=f"{chunk_id} (gleaning {n + 1})")
        if more is None or not (more.entities or more.relationships):
            break
        known = {normalise_name(e.name) for e in found.entities}
        new = [e for e in more.entities if normalise_name(e.name) not in known]
        found = Extraction(entities=[*found.entities, *new], relationships=[*found.relationships, *more.relationships])
    entities = tuple(e for e in found.entities if normalise_name(e.name))
    relationships = tuple(
        r
        for r in found.relationships
        if normalise_name(r.source)
        and normalise_name(r.target)
        and normalise_name(r.source) != normalise_name(r.target)
    )
    return ChunkExtraction(chunk_id, entities, relationships)
