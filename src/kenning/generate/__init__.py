"""Answers from retrieved chunks: context packing, visible prompts, cited LLM answers and extractive answers."""

from __future__ import annotations

from .citations import CITATION, NOT_IN_SOURCES, cited_numbers, resolve_citations
from .packing import citations_for, lost_in_the_middle_order, pack

__all__ = [
    "CITATION",
    "NOT_IN_SOURCES",
    "cited_numbers",
    "resolve_citations",
    "citations_for",
    "lost_in_the_middle_order",
    "pack",
]
