"""What a store must hold and answer for the contract suite (tests/store_contract.py), computed without any store.

Small corpora of three kinds (markdown with sections, plain text) in three folders; their documents and chunks as
kenning's chunker cuts them; BM25 as bm25s scores the same texts; exact cosine over the packaged embedder's
vectors; filters evaluated in Python over each document's kind, path and metadata; and the checks that compare a
store's answers with these (ties may break either way, nothing else may differ).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kenning.config import ChunkingConfig, KenningConfig, LexicalConfig
from kenning.store.base import Scored
from kenning.store.filters import Filters
from kenning.types import Chunk, Document

from .factories import load

CONFIG = KenningConfig(chunking=ChunkingConfig(size=60, overlap=10))
QUERIES = (
    "how does vacuum reclaim dead tuples",
    "start a container in the background",
    "table lock",
    "risotto stock rice",
    "replication standby wal",
)
TOL = 1e-4

# -- corpora ------------------------------------------------------------------------------------------------------

BANKS = {
    "postgres": [
        "VACUUM reclaims storage occupied by dead tuples in a table.",
        "An index lets the planner find table rows without scanning the whole table.",
        "The write-ahead log records every change before the table files are written.",
        "A standby server replays the WAL stream from the primary for replication.",
        "Row locks and table locks keep concurrent transactions from corrupting a table.",
        "pg_dump writes a consistent backup of one database while others keep working.",
        "Autovacuum workers vacuum each table whose dead tuples pass a threshold.",
        "A B-tree index keeps keys sorted so range scans on a column are fast.",
        "Checkpoints flush dirty pages so that crash recovery replays less WAL.",
        "ANALYZE samples each table to estimate how many rows a query returns.",
        "Logical replication publishes the changes of chosen tables to subscribers.",
        "HOT updates avoid new index entries when no indexed column changes.",
    ],
    "docker": [
        "The docker run command creates a writeable container layer over an image.",
        "Use the detached flag to start a container in the background.",
        "A Dockerfile lists the steps that build an image layer by layer.",
        "Volumes keep data outside the container so it survives a restart.",
        "Compose starts several services from one file with a single command.",
        "Port mapping publishes a container port on the host network.",
        "Images are pulled from a registry and cached on the local disk.",
        "A health check tells the engine when a service is ready for traffic.",
    ],
    "notes": [
        "A good risotto needs arborio rice and warm stock added slowly.",
        "Stir constantly so the rice releases its starch and turns creamy.",
        "Tomatoes need full sun, regular watering and support from stakes.",
        "Basil grows well beside tomatoes and keeps some pests away.",
        "Bread dough rises faster in a warm kitchen than in a cold one.",
        "Compost turns kitchen scraps into rich soil over a few months.",
        "Prune the roses in late winter before new shoots appear.",
        "Roast the vegetables at a high heat until their edges brown.",
        "Mulch keeps the soil moist and stops weeds from spreading.",
        "A sharp knife is safer than a dull one because it does not slip.",
    ],
}
TABLE_LINES = [  # one per note: they hold the query word 'table', rarely and in long chunks, so they rank low
    "Afterwards the bowls went back on the wooden table in the hall.",
    "Seedlings wait on the potting table until the frost has passed.",
    "Guests sat down at the long oak table near the window.",
    "The recipe card was left on the table beside the stove.",
    "An old garden table holds the watering cans and gloves.",
    "Fresh herbs dry on a rack above the table for a week.",
]


def corpus_files(seed: int = 0, *, n_postgres: int = 6, n_docker: int = 4, n_notes: int = 6) -> dict[str, str]:
    """Files of three kinds in three folders: markdown with sections (postgres/, docker/), plain text (notes/)."""
    rnd = random.Random(seed)
    files: dict[str, str] = {}
    for folder, n in (("postgres", n_postgres), ("docker", n_docker)):
        for i in range(n):
            bank = rnd.sample(BANKS[folder], k=min(len(BANKS[folder]), 8))
            sections = [bank[: 2 + i % 3], bank[4 : 6 + i % 2]]
            body = "\n\n".join(f"## Part {j + 1}\n\n" + " ".join(s) for j, s in enumerate(sections))
            files[f"{folder}/{folder}{i:02d}.md"] = f"# {folder.title()} page {i}\n\n{body}\n"
    for i in range(n_notes):
        lines = rnd.sample(BANKS["notes"], k=5 + i % 3)
        lines.insert(2, TABLE_LINES[i % len(TABLE_LINES)])
        files[f"notes/note{i:02d}.txt"] = f"Note {i}. " + " ".join(lines) + "\n"
    return files


def crash_files(n: int = 48) -> dict[str, str]:
    """A larger corpus: enough commits (of a few chunks each) that a kill lands between and inside them."""
    rnd = random.Random(11)
    out = {}
    for i in range(n):
        folder = ("postgres", "docker", "notes")[i % 3]
        paras = [" ".join(rnd.sample(BANKS[folder], k=4)) for _ in range(3)]
        out[f"{folder}/doc{i:03d}.md"] = f"# Document {i}\n\n" + "\n\n".join(
            f"Part {p}. {t}" for p, t in enumerate(paras)
        )
    return out


@dataclass
class Reference:
    """What a store must hold for a corpus, computed without any store: documents and their chunks."""

    docs: dict[str, Document]
    chunks: dict[str, Chunk]
    root: Path

    @classmethod
    def of(cls, root: Path, embedder) -> Reference:
        from kenning.chunking import Chunker

        docs, skipped = load([root])
        assert not skipped, skipped
        chunker = Chunker(CONFIG.chunking, embedder=embedder)
        chunks = {c.chunk_id: c for d in docs for c in chunker.chunk(d)}
        return cls({d.doc_id: d for d in docs}, chunks, root)

    @property
    def ids(self) -> set[str]:
        return set(self.chunks)

    def by_doc(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {d: set() for d in self.docs}
        for cid, c in self.chunks.items():
            out[c.doc_id].add(cid)
        return out

    def of_path(self, rel: str) -> set[str]:
        """The chunk ids of the file at ``rel`` (relative to the corpus root)."""
        return {cid for cid, c in self.chunks.items() if self.docs[c.doc_id].metadata.get("path") == rel}

    def passes(self, spec: list[str], chunk_id: str) -> bool:
        """``Filters.parse(spec)`` evaluated in Python for one chunk's document."""
        f = Filters.parse(spec)
        doc = self.docs[self.chunks[chunk_id].doc_id]
        rel = str(doc.metadata.get("path", ""))

        def under(prefixes: tuple[str, ...]) -> bool:
            return any(rel.startswith(p) or doc.source.startswith(p) for p in prefixes)

        ok = (not f.sources or under(f.sources)) and not (f.excluded and under(f.excluded))
        ok = ok and (not f.kinds or doc.kind in f.kinds)
        return ok and all(str(doc.metadata.get(k)) in vs for k, vs in f.metadata.items())

    def bm25(self, query: str, lexical: LexicalConfig = CONFIG.lexical) -> dict[str, float]:
        """bm25s's score of every chunk holding a query token (the published chunks' statistics)."""
        import bm25s
        import Stemmer

        ids = sorted(self.chunks)
        stem = Stemmer.Stemmer(lexical.stemmer) if lexical.stemmer else None
        tokenize = dict(stopwords=lexical.stopwords, stemmer=stem, show_progress=False)
        retriever = bm25s.BM25(k1=lexical.k1, b=lexical.b, method=lexical.method)
        retriever.index(bm25s.tokenize([self.chunks[i].text for i in ids], **tokenize), show_progress=False)
        q = [retriever.vocab_dict.get(t) for t in bm25s.tokenize([query], return_ids=False, **tokenize)[0]]
        q = [t for t in q if t is not None]
        if not q:
            return {}
        scores = retriever.get_scores(q)
        return {i: float(s) for i, s in zip(ids, scores, strict=True) if s > 0}

    def cosine(self, embedder, query: str) -> dict[str, float]:
        """Each chunk's exact cosine similarity to ``query`` (the embedder's vectors are normalised)."""
        ids = sorted(self.chunks)
        matrix = vectors_of(embedder, [self.chunks[i].text for i in ids])
        return dict(zip(ids, (matrix @ vectors_of(embedder, [query], query=True)[0]).tolist(), strict=True))

    def tokens(self, text: str, lexical: LexicalConfig = CONFIG.lexical) -> list[str]:
        import bm25s
        import Stemmer

        stem = Stemmer.Stemmer(lexical.stemmer) if lexical.stemmer else None
        return bm25s.tokenize([text], stopwords=lexical.stopwords, stemmer=stem, return_ids=False, show_progress=False)[
            0
        ]


_VECTORS: dict[tuple[str, bool, str], np.ndarray] = {}


def vectors_of(embedder, texts: list[str], *, query: bool = False) -> np.ndarray:
    """The embedder's vectors of ``texts``, each text embedded once per session."""
    missing = [t for t in dict.fromkeys(texts) if (embedder.name, query, t) not in _VECTORS]
    if missing:
        for text, vec in zip(missing, embedder.embed(missing, is_query=query), strict=True):
            _VECTORS[(embedder.name, query, text)] = vec
    return np.stack([_VECTORS[(embedder.name, query, t)] for t in texts])


def ranked(scores: dict[str, float], keep: set[str] | None = None) -> list[tuple[str, float]]:
    return sorted(((i, s) for i, s in scores.items() if keep is None or i in keep), key=lambda x: -x[1])


def assert_ranking(got: Scored, expected: list[tuple[str, float]], k: int, what: str, rel: float = TOL) -> None:
    """``got`` is a correct top ``k`` of ``expected`` (ids best first with their reference scores): as many results,
    each id scored as the reference scores it, and the scores those of the reference's top ``k``. Ties may break
    either way; nothing else may differ."""
    want = expected[:k]
    assert len(got.ids) == len(got.scores) == len(want), f"{what}: {len(got.ids)} results, expected {len(want)}"
    assert len(set(got.ids)) == len(got.ids), f"{what}: an id returned twice: {got.ids}"
    truth = dict(expected)
    for cid, score in zip(got.ids, got.scores, strict=True):
        assert cid in truth, f"{what}: {cid} is not among the reference results"
        assert score == pytest.approx(truth[cid], rel=rel, abs=rel), f"{what}: {cid} scored {score}, not {truth[cid]}"
    assert list(got.scores) == pytest.approx([s for _, s in want], rel=rel, abs=rel), f"{what}: not the top {k}"


def doc_of(chunk_id: str) -> str:
    return chunk_id.rsplit("::", 1)[0]


def whole_documents(ids: list[str], *refs: Reference) -> dict[str, set[str]]:
    """Group ``ids`` by document and check each document is whole: exactly its chunks in one of ``refs``."""
    assert len(ids) == len(set(ids)), "a chunk id is held twice"
    found: dict[str, set[str]] = {}
    for cid in ids:
        found.setdefault(doc_of(cid), set()).add(cid)
    known = {d: c for ref in refs for d, c in ref.by_doc().items()}
    for doc, chunks in found.items():
        assert doc in known, f"document {doc} is in none of the expected states"
        assert chunks == known[doc], f"document {doc} is not whole: {len(chunks)} of its {len(known[doc])} chunks"
    return found
