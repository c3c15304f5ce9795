"""Document → Chunk: fixed, recursive, structure-aware and semantic splitting with real token counts and exact offsets."""

from __future__ import annotations

from .chunker import STRATEGIES, Chunker, ChunkerStats, section_ranges
from .tokens import Tokenizer, get_tokenizer

__all__ = ["STRATEGIES", "Chunker", "ChunkerStats", "Tokenizer", "get_tokenizer", "section_ranges"]
