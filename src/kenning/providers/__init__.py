"""Models kenning talks to: embedders now; LLMs and rerank models share this folder."""

from __future__ import annotations

from .embedders import Embedder, get_embedder, registered_embedders

__all__ = ["Embedder", "get_embedder", "registered_embedders"]
