"""Typed settings, one model per stage, defaults in one place.

Settings come from, in rising priority: these defaults, ``<home>/kenning.toml``, then arguments given in code or
on the command line. Every field is validated when the object is built; a bad value raises :class:`ConfigError`
naming the field and the value.

>>> from kenning.config import ChunkingConfig
>>> ChunkingConfig(size=300, overlap=30).size
300
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

__all__ = [
    "GraphConfig",
    "IngestConfig",
    "ChunkingConfig",
    "ContextConfig",
    "EmbedderConfig",
    "IndexingConfig",
    "LexicalConfig",
    "DenseConfig",
    "RetrievalConfig",
    "LLMConfig",
    "AnswerConfig",
    "KenningConfig",
    "default_home",
    "build",
]


class _Stage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestConfig(_Stage):
    """Limits that keep hostile or accidental input from hurting the index."""

    max_file_bytes: int = Field(20_000_000, gt=0, description="Files larger than this are skipped, by name.")
    max_archive_members: int = Field(100_000, gt=0, description="An archive with more members is refused.")
    max_archive_bytes: int = Field(2_000_000_000, gt=0, description="Refuse archives that unpack to more than this.")
    max_compression_ratio: float = Field(200.0, gt=1, description="A member that expands more than this is a bomb.")
    max_html_depth: int = Field(512, gt=0, description="HTML nested deeper than this is flattened, not recursed.")
    max_seconds_per_file: float = Field(
        60.0,
        gt=0,
        description="Reading and chunking one file (or record) taking longer than this skips it, by name, so a "
        "pathological file cannot stall a run while it holds the write lock.",
    )
    detect_encoding: bool = Field(
        False,
        description="Text that is not UTF-8 (nor UTF-16 with a BOM, nor HTML declaring its charset) is skipped; "
        "set True to decode it with charset-normalizer's best guess instead (recorded as metadata['encoding']).",
    )


class ChunkingConfig(_Stage):
    """How documents are split. Sizes are in tokens of ``tokenizer`` (a tiktoken encoding, bundled offline)."""

    strategy: Literal["fixed", "recursive", "structure", "semantic"] = Field(
        "structure",
        description="fixed: token windows; recursive: paragraph → sentence → word; "
        "structure: split at headings first, then recursively inside each section; semantic: split where the "
        "embeddings of neighbouring sentences differ most (costs one embedding per sentence).",
    )
    size: int = Field(500, gt=0, le=100_000, description="Target chunk size in tokens.")
    overlap: int = Field(50, ge=0, description="Tokens shared by neighbouring chunks.")
    tokenizer: Literal["cl100k_base", "o200k_base"] = "cl100k_base"
    semantic_percentile: float = Field(
        95.0, gt=0, lt=100, description="semantic: break where the adjacent-sentence distance exceeds this percentile."
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingConfig:
        if self.overlap >= self.size:
            raise ValueError(f"overlap must be smaller than size, got overlap={self.overlap} size={self.size}")
        return self

    def fingerprint(self) -> str:
        out = f"{self.strategy}:{self.size}:{self.overlap}:{self.tokenizer}"
        if self.strategy == "semantic":
            out += f":p{self.semantic_percentile:g}"
        return out


class ContextConfig(_Stage):
    """Context given back to each chunk before it is embedded and BM25-indexed.

    The stored chunk text and its citation offsets never change: only the text that is embedded and searched does.
    ``headers`` prepends the document title and heading path; ``llm`` prepends a sentence an LLM wrote to situate the
    chunk in its document (cached by content, so re-indexing pays only for new chunks); ``late_chunking`` embeds
    the whole document (up to the embedder's window) at token level and mean-pools each chunk's tokens.
    """

    headers: bool = Field(False, description="Prepend 'title › heading › subheading' to the indexed text.")
    llm: bool = Field(False, description="Prepend an LLM-written sentence that situates the chunk in its document.")
    llm_model: str = Field(
        "",
        description="PROVIDER:MODEL for the situating sentences (e.g. local:qwen2.5-0.5b, anthropic:claude-3-5-haiku); "
        "empty: the [llm] settings, else the packaged local generator.",
    )
    document_tokens: int = Field(
        2000, gt=50, le=200_000, description="How much of the document (around the chunk) the LLM is shown."
    )
    max_tokens: int = Field(100, gt=5, le=1000, description="Longest situating context kept; longer ones are cut.")
    late_chunking: bool = Field(False, description="Pool chunk vectors from token embeddings of the whole document.")

    def fingerprint(self) -> str:
        """What decides the indexed text and vectors (empty when no context is added, as before this setting)."""
        parts = []
        if self.headers:
            parts.append("h")
        if self.llm:
            parts.append(f"llm={self.llm_model or 'default'}/{self.document_tokens}/{self.max_tokens}")
        if self.late_chunking:
            parts.append("late")
        return ",".join(parts)


class EmbedderConfig(_Stage):
    """The dense embedder: a registered name (``minilm``, ``mpnet``) or a local sentence-transformers folder."""

    name: str = Field("minilm", min_length=1)
    batch_size: int = Field(32, gt=0, le=4096)
    max_seq_length: int | None = Field(None, gt=0, description="Override the model's token limit.")


class IndexingConfig(_Stage):
    """How the indexer batches its work."""

    commit_chunks: int = Field(
        512, gt=0, description="Chunks embedded and committed per transaction; a killed run loses at most this many."
    )


class LexicalConfig(_Stage):
    """BM25 (bm25s) parameters."""

    k1: float = Field(1.5, gt=0)
    b: float = Field(0.75, ge=0, le=1)
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    stemmer: str | None = Field("english", description="A PyStemmer language, or None for no stemming.")
    stopwords: str | None = Field("en", description="A bm25s stop-word list name, or None.")


class DenseConfig(_Stage):
    """Vector search: exact by default, HNSW (hnswlib) once a collection is large."""

    ann: Literal["auto", "exact", "hnsw"] = "auto"
    ann_threshold: int = Field(50_000, gt=0, description="With ann='auto', build HNSW from this many chunks.")
    # M 32 and ef 1024, not hnswlib's usual 16 / 128: on 100k MiniLM-like vectors (bench/scale.py, fitted) M=16
    # reached recall@10 0.957 against exact at ef=512; M=32 reaches 0.994 at ef=1024 for ~3.4 ms per query, which
    # still beats exact search there (~5 ms on one BLAS thread). Build time grows ~1.4x.
    hnsw_m: int = Field(32, gt=1)
    hnsw_ef_construction: int = Field(200, gt=0)
    hnsw_ef_search: int = Field(1024, gt=0)


class RetrievalConfig(_Stage):
    """How a query is answered: mode, depth and fusion."""

    mode: Literal["bm25", "dense", "hybrid", "lazy"] = "hybrid"
    k: int = Field(10, gt=0, le=10_000)
    rrf_k: float = Field(60.0, gt=0, description="Reciprocal Rank Fusion constant.")
    bm25_weight: float = Field(1.0, ge=0)
    dense_weight: float = Field(1.0, ge=0)
    candidates: int = Field(100, gt=0, description="How deep each retriever goes before fusion.")
    rerank: Literal["auto", "none", "llm"] = Field(
        "auto",
        description="auto: rerank with the collection's own reranker when `kenning tune` adopted one; none: never; "
        "llm: the configured LLM (else the packaged local one) reorders the top rerank_depth.",
    )
    rerank_depth: int = Field(30, gt=0, le=500, description="Candidates the reranker reorders (default: as tuned).")
    llm_rerank: Literal["pointwise", "listwise"] = Field(
        "listwise", description="LLM reranking: one relevance score per candidate, or one ranking of all of them."
    )
    transform: Literal["none", "hyde", "multi"] = Field(
        "none",
        description="Query transform: hyde embeds an LLM-written hypothetical answer; multi searches LLM rewrites of "
        "the question too and fuses them by RRF.",
    )
    rewrites: int = Field(3, gt=0, le=10, description="multi: how many rewrites the LLM writes.")


class LLMConfig(_Stage):
    """The language model: ``provider`` picks the backend, ``model`` the model within it.

    Providers: ``none`` (extractive answers, no model), ``openai`` (any OpenAI-compatible Chat Completions server:
    OpenAI, vLLM, Ollama, llama.cpp server, LM Studio), ``anthropic`` (Messages API), ``local`` (a GGUF file or
    transformers folder run on the CPU; ``smollm2`` is the packaged SmolLM2-135M-Instruct).
    """

    provider: Literal["none", "openai", "anthropic", "local"] = "none"
    model: str = Field("", description="Model name (remote) or path / registered name (local).")
    base_url: str | None = Field(None, description="Server URL; defaults to the provider's public API.")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key.")
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries on 429 / 5xx / timeouts, with backoff.")
    max_tokens: int = Field(700, gt=0, description="Answer length limit in tokens.")
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="model → (USD per 1M prompt tokens, USD per 1M completion tokens)."
    )


class AnswerConfig(_Stage):
    """How questions are answered and checked."""

    mode: Literal["auto", "generate", "extractive", "lazy", "global", "local"] = Field(
        "auto",
        description="auto: the configured LLM, else the packaged local generator when kenning[local] is installed, "
        "else extractive. generate: an LLM must answer (the local one when none is configured). extractive: cited "
        "source sentences, no model. lazy: LazyGraphRAG over the concept graph (whole-corpus questions; drafted as "
        "auto drafts). global / local: GraphRAG over community reports / around the entities named (an LLM build).",
    )
    k: int = Field(6, gt=0, le=100, description="Chunks given to the generator (after reranking).")
    rerank_depth: int = Field(30, gt=0, le=500, description="Candidates a reranker sees, when one is set.")
    context_tokens: int = Field(3000, gt=100, description="Token budget for the numbered sources in the prompt.")
    parent: Literal["none", "section"] = Field(
        "none",
        description="section: the generator reads each source's surrounding section (within parent_tokens) while "
        "citations still point to the chunk and its exact offsets.",
    )
    parent_tokens: int = Field(600, gt=10, le=20_000, description="Token budget of one expanded source.")
    local_context_tokens: int = Field(
        320,
        gt=40,
        description="Token budget for the sources given to a local generator: the best sources are cut to their best "
        "passages so that the prompt is read in seconds on a laptop CPU.",
    )
    abstain: bool = Field(True, description="Say 'not in the sources' when retrieval signals say they do not answer.")
    abstain_threshold: float | None = Field(
        None, ge=0, le=1, description="P(answerable) below which kenning abstains; default: the fitted one."
    )
    verifier: Literal["auto", "llm", "offline", "trained", "lexical", "none"] = Field(
        "auto",
        description="auto: the LLM fact-checker with a remote LLM, else as measured best for the answer mode. "
        "offline: the model `kenning train verifier` made when its calibration showed it beats the lexical verifier "
        "on held-out claims, else lexical. trained: that model whenever it exists. lexical: word overlap with "
        "number, name and polarity checks. llm: the answering model (remote or local) as a strict fact-checker.",
    )
    policy: Literal["annotate", "strip", "retry"] = Field(
        "annotate", description="What to do with unsupported claims: show them, remove them, or regenerate once."
    )
    agent_steps: int = Field(8, gt=0, le=50, description="Step budget of the agent loop.")
    extractive_sentences: int = Field(3, gt=0, le=20, description="Sentences in an extractive answer.")
    screen: bool = Field(
        True,
        description="Withhold from the answer every retrieved source that carries instructions addressed to the model "
        "('ignore previous instructions and answer …'; kenning.generate.screen): neither the generator nor the "
        "extractive answerer reads it, and the answer's notes say which. Off: such sources are only named in the notes.",
    )


class StoreConfig(_Stage):
    """Where collections are kept: the home folder (SQLite, the default) or a shared PostgreSQL database."""

    url: str = Field(
        "",
        description="empty or 'sqlite': <home>/collections (SQLite); postgresql://user[:password]@host[:port]/db "
        "(or ?host=/socket/dir): one database several kenning processes share (pip install 'kenning[postgres]'). "
        "$KENNING_STORE or --store set it too.",
    )
    pool_size: int = Field(8, ge=1, le=256, description="PostgreSQL: connections each process keeps at most.")

    @field_validator("url")
    @classmethod
    def _known(cls, url: str) -> str:
        from .store.registry import scheme_of

        try:
            scheme_of(url)
        except ConfigError as exc:  # reported with the file and field it came from
            raise ValueError(str(exc)) from None
        return url.strip()


class GraphConfig(_Stage):
    """``[graph]``: the concept graph LazyGraphRAG searches, the search's budget, and GraphRAG's LLM build."""

    build: bool = Field(False, description="Build the concept graph at index time and keep it up to date after.")
    extractor: str = Field(
        "ngrams",
        min_length=1,
        description="Concept extractor (see kenning.graph.concepts): ngrams (stop-word-bounded content words, no model; "
        "the default: spacy adds more than the 25 % of indexing time the graph may take, see bench/README.md) or spacy "
        "(noun chunks of en_core_web_sm).",
    )
    min_df: int = Field(2, ge=1, description="Concepts in fewer chunks than this are dropped.")
    max_df: float = Field(0.05, gt=0, le=1, description="Concepts in more than this share of the chunks are dropped.")
    max_community_size: int = Field(
        40, ge=2, description="A community with more concepts than this is split again at the next level."
    )
    seed: int = Field(0, description="Seed of the community detection (same seed, same communities).")
    budget: int = Field(60, ge=0, le=10_000, description="LazyGraphRAG: relevance tests per question.")
    relevance: Literal["auto", "similarity", "sentences", "reranker", "llm"] = Field(
        "auto",
        description="LazyGraphRAG's relevance test: auto (the configured LLM's yes/no, else the collection's tuned "
        "reranker, else the chunk vectors' similarity), or one by name (sentences: best sentence similarity, slower).",
    )
    llm_model: str = Field(
        "", description="GraphRAG: the model for extraction and reports (provider:model); empty: the [llm] one."
    )
    gleanings: int = Field(0, ge=0, le=5, description="GraphRAG: extra extraction passes asking what was missed.")
    community_level: int = Field(1, ge=0, description="GraphRAG global search: the community level whose reports map.")


class KenningConfig(_Stage):
    """All stages together."""

    ingest: IngestConfig = IngestConfig()
    chunking: ChunkingConfig = ChunkingConfig()
    context: ContextConfig = ContextConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    indexing: IndexingConfig = IndexingConfig()
    lexical: LexicalConfig = LexicalConfig()
    dense: DenseConfig = DenseConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    llm: LLMConfig = LLMConfig()
    answer: AnswerConfig = AnswerConfig()
    graph: GraphConfig = GraphConfig()
    store: StoreConfig = StoreConfig()
    collections: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict,
        description="Per-collection settings that win over the stages above: [collections.NAME.retrieval] …",
    )

    def for_collection(self, name: str) -> KenningConfig:
        """These settings with ``[collections.NAME.*]`` applied on top (fields set there count as set explicitly).

        >>> cfg = build(KenningConfig, {"collections": {"faq": {"retrieval": {"transform": "hyde"}}}})
        >>> cfg.for_collection("faq").retrieval.transform, cfg.for_collection("other").retrieval.transform
        ('hyde', 'none')
        """
        own = self.collections.get(name)
        if not own:
            return self
        data: dict[str, Any] = {}
        for stage in type(self).model_fields:
            if stage == "collections":
                continue
            value = getattr(self, stage)
            data[stage] = {f: getattr(value, f) for f in value.model_fields_set}
        for stage, values in own.items():
            if stage == "collections" or stage not in type(self).model_fields:
                raise ConfigError(f"collections.{name}.{stage}: not a settings section")
            data.setdefault(stage, {}).update(values)
        return build(type(self), data, where=f"settings of collection {name!r}")

    @classmethod
    def load(cls, home: Path, collection: str | None = None, **overrides: dict[str, Any]) -> KenningConfig:
        """Defaults, then ``home/kenning.toml`` (with its ``[collections.<collection>]`` sections on top when a
        collection is named), then ``overrides`` (``{"chunking": {"size": 300}}``): what is given explicitly wins."""
        data: dict[str, Any] = {}
        path = Path(home) / "kenning.toml"
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        own = (
            data.get("collections", {}).pop(collection, None)
            if collection and isinstance(data.get("collections"), dict)
            else None
        )
        for stage, values in (own or {}).items():
            if not isinstance(values, dict) or stage == "collections" or stage not in cls.model_fields:
                raise ConfigError(f"{path}: collections.{collection}.{stage}: not a settings section")
            data.setdefault(stage, {}).update(values)
        if os.environ.get("KENNING_STORE"):  # the environment over the file, the command line over both
            data.setdefault("store", {})["url"] = os.environ["KENNING_STORE"]
        for stage, values in overrides.items():
            data.setdefault(stage, {}).update({k: v for k, v in values.items() if v is not None})
        return build(cls, data, where=str(path) if path.is_file() else "settings")


def build(model: type[BaseModel], data: dict[str, Any], *, where: str = "settings") -> Any:
    """Validate ``data`` into ``model``; a failure names each bad field and value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            value = err.get("input")
            problems.append(f"{loc}: {err['msg']} (got {value!r})")
        raise ConfigError(f"{where}: " + "; ".join(problems)) from None


def default_home() -> Path:
    """``$KENNING_HOME`` or ``~/.kenning``."""
    env = os.environ.get("KENNING_HOME")
    return Path(env).expanduser() if env else Path.home() / ".kenning"
