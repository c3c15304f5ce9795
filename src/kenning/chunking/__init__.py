"""Document → Chunk: fixed, recursive and structure-aware splitting with real token counts and exact offsets."""

from __future__ import annotations

from .chunker import Chunker, section_ranges
from .tokens import Tokenizer, get_tokenizer

__all__ = ["Chunker", "Tokenizer", "get_tokenizer", "section_ranges"]
