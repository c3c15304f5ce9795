"""A sentence-transformers ``CrossEncoder`` loaded from a local folder (no model hub).

No cross-encoder ships in a PyPI package, so kenning trains its own (``kenning train``, later); this class loads any
CrossEncoder folder, whoever made it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import ConfigError, ProviderError
from ..providers.embedders import import_sentence_transformers
from ..types import Hit

__all__ = ["CrossEncoderReranker"]


class CrossEncoderReranker:
    """Scores each (query, chunk text) pair jointly and reorders by that score.

    >>> reranker = CrossEncoderReranker("~/models/my-cross-encoder")   # doctest: +SKIP
    >>> reranker.rerank("vacuum full", hits, k=10)                     # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, batch_size: int = 32, max_length: int | None = 512) -> None:
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise ConfigError(f"reranker: {folder} is not a model folder (no config.json)")
        self.path = folder
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None

    @property
    def model(self):  # noqa: ANN201
        if self._model is None:
            CrossEncoder = import_sentence_transformers("Cross-encoder reranking").CrossEncoder
            try:
                self._model = CrossEncoder(str(self.path), device="cpu", max_length=self.max_length)
            except Exception as exc:  # the library raises many kinds; all mean "not a usable model"
                raise ProviderError(f"cannot load the cross-encoder at {self.path}: {exc}") from exc
        return self._model

    def rerank(self, query: str, hits: list[Hit], *, k: int | None = None) -> list[Hit]:
        if not hits:
            return []
        scores = self.model.predict(
            [(query, h.text) for h in hits], batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), hits[i].rank))
        if k is not None:
            order = order[:k]
        return [
            dataclasses.replace(
                hits[i], rank=new, score=float(scores[i]), ranks={**hits[i].ranks, "first_stage": hits[i].rank}
            )
            for new, i in enumerate(order, start=1)
        ]
