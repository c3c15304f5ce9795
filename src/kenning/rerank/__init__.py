"""Rerankers: reorder the top hits of a first-stage search with a stronger model.

>>> from kenning.rerank import Reranker, CrossEncoderReranker, LLMReranker
>>> isinstance(LLMReranker, type)
True
"""

from __future__ import annotations

from .base import Reranker
from .cross_encoder import CrossEncoderReranker
from .llm import LLMReranker

__all__ = ["Reranker", "CrossEncoderReranker", "LLMReranker"]
