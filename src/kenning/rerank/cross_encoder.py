"""A sentence-transformers ``CrossEncoder`` loaded from a local folder (no model hub).

No cross-encoder ships in a PyPI package, so kenning trains its own (``kenning tune``); this class loads any
CrossEncoder folder, whoever made it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ProviderError, check_choice
from ..providers.embedders import import_sentence_transformers
from ..types import Hit
from .base import reordered

__all__ = ["CrossEncoderReranker", "FUSIONS"]

FUSIONS = ("none", "rrf")
"""none: order by the model's score; rrf: Reciprocal Rank Fusion of the model's rank with the first stage's."""


class CrossEncoderReranker:
    """Scores each (query, chunk text) pair jointly and reorders by that score.

    >>> reranker = CrossEncoderReranker("~/models/my-cross-encoder")   # doctest: +SKIP
    >>> reranker.rerank("vacuum full", hits, k=10)                     # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 32,
        max_length: int | None = 512,
        fusion: str = "none",
        rrf_k: float = 60.0,
    ) -> None:
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise ConfigError(f"reranker: {folder} is not a model folder (no config.json)")
        check_choice("reranker fusion", fusion, FUSIONS)
        self.path = folder
        self.batch_size = batch_size
        self.max_length = max_length
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.cache: dict[tuple[str, str], float] | None = None  # set to a dict to remember scores (evaluations)
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

    def scores(self, query: str, texts: list[str]) -> list[float]:
        """The model's score of each (query, text) pair."""
        cache = self.cache if self.cache is not None else {}
        todo = [t for t in dict.fromkeys(texts) if (query, t) not in cache]
        if todo:
            out = self.model.predict(
                [(query, t) for t in todo], batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
            )
            cache.update(((query, t), float(v)) for t, v in zip(todo, out, strict=True))
        return [cache[(query, t)] for t in texts]

    def rerank(self, query: str, hits: list[Hit], *, k: int | None = None) -> list[Hit]:
        if not hits:
            return []
        scores = self.scores(query, [h.text for h in hits])
        if self.fusion == "rrf":  # the model's rank and the first stage's, fused: a weak model can only add
            by_model = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), hits[i].rank))
            model_rank = {i: r for r, i in enumerate(by_model, start=1)}
            scores = [1 / (self.rrf_k + model_rank[i]) + 1 / (self.rrf_k + hits[i].rank) for i in range(len(hits))]
        order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), hits[i].rank))
        return reordered(hits, order, scores, k=k)
