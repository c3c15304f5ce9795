"""The verbs the shells (CLI, HTTP server, MCP) need beside :class:`~kenning.Engine`: models by name, checking a
file of answers, training the offline verifier. The shells import these and ``kenning.engine``, never a stage's
internals, so a stage can change its insides without touching a door.

>>> llm_settings("openai:gpt-4o-mini")["model"]
'gpt-4o-mini'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .providers.llm.base import closing

if TYPE_CHECKING:
    from .config import LLMConfig
    from .providers.embedders import Embedder
    from .providers.llm.base import LLM
    from .rerank import Reranker
    from .train.verifier import TrainReport
    from .verify.base import Verifier
    from .verify.batch import VerifyStats

__all__ = [
    "closing",
    "cross_encoder",
    "embedder",
    "caching_embedder",
    "language_model",
    "llm_settings",
    "verify_file",
    "verifier_dir",
    "train_verifier",
    "recalibrate_verifier",
]


def cross_encoder(folder: Path | str, **options: Any) -> Reranker:
    """A reranker from a local cross-encoder folder (what ``--reranker PATH`` names)."""
    from .rerank import CrossEncoderReranker

    return CrossEncoderReranker(folder, **options)


def embedder(name: str, **options: Any) -> Embedder:
    """A registered embedder, or a local model folder, by name."""
    from .providers.embedders import get_embedder

    return get_embedder(name, **options)


def caching_embedder(inner: Embedder, path: Path) -> Embedder:
    """``inner`` with its vectors cached in the SQLite file ``path``, shared between runs."""
    from .providers.cache import CachingEmbedder

    return CachingEmbedder(inner, path)


def language_model(config: LLMConfig) -> LLM | None:
    """The model ``[llm]`` settings name (None for provider ``none``); close it with :func:`closing`."""
    from .providers.llm import get_llm

    return get_llm(config)


def llm_settings(spec: str) -> dict[str, Any]:
    """``[llm]`` settings from ``PROVIDER:MODEL`` (``openai:gpt-4o-mini``, ``local:qwen2.5-0.5b``, ``none``)."""
    from .providers.llm import parse_llm_spec

    return dict(parse_llm_spec(spec))


def verify_file(
    path: Path,
    verifier: Verifier,
    sink: IO[str],
    *,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> VerifyStats:
    """Verdicts for a JSONL file of answers made anywhere, one line out per line in (see
    :mod:`kenning.verify.batch`); ``verifier`` comes from :meth:`Engine.verifier <kenning.Engine.verifier>`."""
    from .verify.batch import verify_jsonl

    return verify_jsonl(path, verifier, sink, progress=progress)


def verifier_dir(home: Path) -> Path:
    """Where ``kenning train verifier`` keeps the offline verifier model under ``home``."""
    from .verify.offline import default_verifier_dir

    return default_verifier_dir(home)


def train_verifier(folder: Path, **options: Any) -> TrainReport:
    """Train the offline verifier into ``folder`` (options: see :func:`kenning.train.verifier.train_verifier`)."""
    from .train.verifier import train_verifier as train

    return train(folder, **options)


def recalibrate_verifier(folder: Path, **options: Any) -> dict[str, Any]:
    """Choose the thresholds of the verifier in ``folder`` again; returns its new manifest."""
    from .train.verifier import recalibrate

    return recalibrate(folder, **options)
