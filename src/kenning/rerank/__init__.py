"""Rerankers: reorder the top hits of a first-stage search with a stronger model.

>>> from kenning.rerank import Reranker, CrossEncoderReranker, LLMReranker
>>> isinstance(LLMReranker, type)
True
"""

from __future__ import annotations

from .base import MeteredReranker, Reranked, Reranker, rerank_with_usage
from .cross_encoder import CrossEncoderReranker
from .llm import LLMReranker

__all__ = ["Reranker", "MeteredReranker", "Reranked", "rerank_with_usage", "CrossEncoderReranker", "LLMReranker"]
