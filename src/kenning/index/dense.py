"""Dense vectors of one snapshot: exact inner-product search over a float32 matrix, HNSW (hnswlib) when large.

Vectors are L2-normalised, so inner product is cosine similarity. Exact search reads a memory-mapped ``.npy``;
the HNSW graph is a plain file next to it. A filter (a boolean mask over rows) always runs exactly over the allowed
rows, so filtered-out chunks can never appear and recall under a filter is 1.0.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..config import DenseConfig
from ..errors import MissingExtraError

__all__ = ["DenseIndex"]

_VECTORS = "vectors.npy"
_HNSW = "hnsw.bin"
_META = "dense.json"


class DenseIndex:
    """Exact (and optionally HNSW) search over the rows of one snapshot."""

    def __init__(self, vectors: np.ndarray, hnsw=None, ef_search: int = 1024) -> None:  # noqa: ANN001
        self.vectors = vectors
        self._hnsw = hnsw
        self._ef = ef_search
        if hnsw is not None:
            hnsw.set_ef(ef_search)

    @property
    def n_rows(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def ann(self) -> str:
        return "hnsw" if self._hnsw is not None else "exact"

    # -- building -----------------------------------------------------------------------------------------------

    @staticmethod
    def wants_ann(n_rows: int, config: DenseConfig) -> bool:
        return config.ann == "hnsw" or (config.ann == "auto" and n_rows >= config.ann_threshold)

    @staticmethod
    def save(folder: Path, vectors: np.ndarray, config: DenseConfig) -> str:
        """Write the matrix (and an HNSW graph when ``config`` asks for one); returns ``"hnsw"`` or ``"exact"``."""
        folder.mkdir(parents=True, exist_ok=True)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        np.save(folder / _VECTORS, vectors)
        ann = "exact"
        if vectors.shape[0] and DenseIndex.wants_ann(vectors.shape[0], config):
            index = _new_hnsw(vectors.shape[1], vectors.shape[0], config)
            index.add_items(vectors, np.arange(vectors.shape[0]), num_threads=-1)
            index.save_index(str(folder / _HNSW))
            ann = "hnsw"
        (folder / _META).write_text(json.dumps({"ann": ann, "shape": list(vectors.shape)}))
        return ann

    @classmethod
    def load(cls, folder: Path, config: DenseConfig) -> DenseIndex:
        meta = json.loads((folder / _META).read_text())
        vectors = np.load(folder / _VECTORS, mmap_mode="r")
        hnsw = None
        if meta["ann"] == "hnsw" and config.ann != "exact":
            hnsw = _new_hnsw(vectors.shape[1], vectors.shape[0], config, create=False)
            hnsw.load_index(str(folder / _HNSW), max_elements=vectors.shape[0])
        return cls(vectors, hnsw, config.hnsw_ef_search)

    # -- searching ----------------------------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` ``(positions, cosine scores)``, only among positions where ``mask`` is true."""
        n = self.n_rows
        if not n or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if mask is None and self._hnsw is not None:
            k = min(k, n)
            if k > self._ef:  # hnswlib needs ef >= k
                self._hnsw.set_ef(k)
                self._ef = k
            labels, dists = self._hnsw.knn_query(q, k=k)
            return labels[0].astype(np.int64), (1.0 - dists[0]).astype(np.float32)
        candidates = None if mask is None else np.flatnonzero(mask)
        if candidates is not None and not candidates.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # One BLAS thread: OpenBLAS worker threads left spinning after a product starve the query embedder's
        # threads on a 2-core machine (measured: 61 ms → 8 ms per query embedding).
        with _blas_controller().limit(limits=1, user_api="blas"):
            scores = self.vectors @ q if candidates is None else self.vectors[candidates] @ q
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        positions = top if candidates is None else candidates[top]
        return positions.astype(np.int64), scores[top].astype(np.float32)


@functools.cache
def _blas_controller():  # noqa: ANN202 - threadpoolctl.ThreadpoolController
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _new_hnsw(dim: int, n: int, config: DenseConfig, *, create: bool = True):  # noqa: ANN202
    try:
        import hnswlib
    except ImportError:
        raise MissingExtraError("Approximate vector search", "ann", "hnswlib") from None
    index = hnswlib.Index(space="ip", dim=dim)
    if create:
        index.init_index(max_elements=max(n, 1), ef_construction=config.hnsw_ef_construction, M=config.hnsw_m)
    return index
