"""BM25 over chunk texts with bm25s: English stemming (PyStemmer) and stop words by default."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import LexicalConfig

__all__ = ["LexicalIndex"]


class LexicalIndex:
    """A bm25s index over the rows of one snapshot; positions are row positions in that snapshot."""

    def __init__(self, retriever, config: LexicalConfig, n_rows: int) -> None:  # noqa: ANN001 - bm25s.BM25
        self._retriever = retriever
        self.config = config
        self.n_rows = n_rows
        self._stemmer = _stemmer(config.stemmer)

    # -- building -----------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, texts: Sequence[str], config: LexicalConfig) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
        if texts:
            tokens = bm25s.tokenize(
                list(texts), stopwords=config.stopwords, stemmer=_stemmer(config.stemmer), show_progress=False
            )
            retriever.index(tokens, show_progress=False)
        return cls(retriever, config, len(texts))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.n_rows:
            self._retriever.save(str(folder), show_progress=False)
        (folder / "kenning_lexical.json").write_text(
            json.dumps({"n_rows": self.n_rows, "config": self.config.model_dump()})
        )

    @classmethod
    def load(cls, folder: Path, config: LexicalConfig) -> LexicalIndex:
        import bm25s

        meta = json.loads((folder / "kenning_lexical.json").read_text())
        if meta["n_rows"]:
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        else:
            retriever = bm25s.BM25()
        return cls(retriever, config, int(meta["n_rows"]))

    # -- searching ----------------------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """``text`` as this index sees it: lower-cased, stop words removed, stemmed."""
        import bm25s

        return bm25s.tokenize(
            [text], stopwords=self.config.stopwords, stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]

    def idf(self, query: str) -> dict[str, float]:
        """Each query token's inverse document frequency over the chunks (BM25's, Lucene form); a token no chunk
        has gets the highest possible value."""
        n = max(self.n_rows, 1)
        vocab = self._retriever.vocab_dict if self.n_rows else {}
        indptr = self._retriever.scores["indptr"] if self.n_rows else None
        out = {}
        for token in self.tokens(query):
            tid = vocab.get(token)
            df = 0 if tid is None or indptr is None else int(indptr[tid + 1] - indptr[tid])
            out[token] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out

    def postings(self, word: str) -> np.ndarray | None:
        """The positions of the chunks that hold ``word`` (all its tokens); None when the index sees no token in it
        (a stop word)."""
        tokens = self.tokens(word)
        if not tokens:
            return None
        if not self.n_rows:
            return np.zeros(0, dtype=np.int64)
        vocab = self._retriever.vocab_dict
        indptr, indices = self._retriever.scores["indptr"], self._retriever.scores["indices"]
        out: np.ndarray | None = None
        for token in tokens:
            tid = vocab.get(token)
            found = np.zeros(0, dtype=np.int64) if tid is None else np.asarray(indices[indptr[tid] : indptr[tid + 1]])
            out = found if out is None else np.intersect1d(out, found)
        return out

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` ``(positions, scores)`` with score > 0, only among positions where ``mask`` is true."""
        if not self.n_rows or k <= 0:
            return _empty()
        tokens = self.tokens(query)
        vocab = self._retriever.vocab_dict
        ids = [vocab[t] for t in tokens if t in vocab]
        if not ids:
            return _empty()
        scores = self._retriever.get_scores(ids)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        keep = scores[top] > 0
        return top[keep].astype(np.int64), scores[top][keep].astype(np.float32)


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


def _stemmer(language: str | None):  # noqa: ANN202 - a PyStemmer Stemmer (bm25s calls its stemWords) or None
    if not language:
        return None
    import Stemmer

    try:
        return Stemmer.Stemmer(language)
    except KeyError:
        from ..errors import ConfigError

        raise ConfigError(
            f"lexical.stemmer: unknown language {language!r}; known: {', '.join(Stemmer.algorithms())}"
        ) from None
