"""The lexical side of writing and searching a PostgreSQL collection: the tokenizer, and the BM25 statistics.

Each chunk is tokenized exactly as the SQLite store's bm25s index tokenizes it (``bm25s.tokenize`` with the
collection's stop words and PyStemmer stemmer); its distinct terms (ids in ``kenning.terms``) and their counts are
stored on the chunk row, and triggers keep ``postings`` (term, chunk, tf, chunk length), each term's document
frequency and the collection's chunk count and total length in the same transaction (:mod:`.migrations`). Ranking
from them: :mod:`.bm25`; PostgreSQL's full-text search instead: :mod:`.fts`; which one a process uses:
:mod:`.ranking`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg import sql

from ...config import LexicalConfig
from ...errors import ConfigError
from ..base import Scored
from ..filters import Filters

__all__ = [
    "INDEXED_TEXT",
    "Ranker",
    "Target",
    "Tokenizer",
    "Vocabulary",
    "lexical_columns",
    "rebuild_postings",
    "term_ids",
]

# what is embedded and indexed for a chunk: its context, a blank line, its text (kenning.index.context.indexed_text)
INDEXED_TEXT = "CASE WHEN c.context = '' THEN c.text ELSE c.context || E'\\n\\n' || c.text END"


class Tokenizer:
    """``bm25s.tokenize`` with a collection's stop words and stemmer: the SQLite store's tokens, token for token."""

    def __init__(self, config: LexicalConfig) -> None:
        self.stopwords = config.stopwords
        self.language = config.stemmer
        self._local = threading.local()  # a PyStemmer stemmer is not to be shared between threads
        if self.language:
            self._stemmer()  # an unknown language fails here, naming the known ones

    @staticmethod
    def key(config: LexicalConfig) -> str:
        """What the tokens depend on: postings made under another key must be made again."""
        return json.dumps({"stopwords": config.stopwords, "stemmer": config.stemmer}, sort_keys=True)

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        if not texts:
            return []
        import bm25s

        return bm25s.tokenize(
            list(texts),
            stopwords=self.stopwords,
            stemmer=self._stemmer(),
            return_ids=False,
            show_progress=False,
        )

    def _stemmer(self):  # noqa: ANN202 - a PyStemmer Stemmer or None
        if not self.language:
            return None
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            import Stemmer

            try:
                stemmer = Stemmer.Stemmer(self.language)
            except KeyError:
                raise ConfigError(
                    f"lexical.stemmer: unknown language {self.language!r}; known: {', '.join(Stemmer.algorithms())}"
                ) from None
            self._local.stemmer = stemmer
        return stemmer


@dataclass(frozen=True, slots=True)
class Target:
    """What a lexical search runs against: the collection, its BM25 settings, and how to tokenize a query."""

    collection: int
    config: LexicalConfig
    tokenizer: Tokenizer
    fts: str | None  # the collection's text search configuration, when it keeps tsvectors


class Ranker(Protocol):
    def search(
        self, conn: psycopg.Connection, target: Target, query: str, k: int, filters: Filters | None
    ) -> Scored: ...


# -- writing ---------------------------------------------------------------------------------------------------


class Vocabulary:
    """The term ids a writer has seen in one collection, so most chunks need no look-up: those committed, and those
    its open transaction added (forgotten if it rolls back). Only valid while the writer holds the write lock
    (nobody else can make the terms again meanwhile)."""

    _MOST = 2_000_000  # terms remembered before starting over

    def __init__(self) -> None:
        self.committed: dict[str, int] = {}
        self.pending: dict[str, int] = {}

    def ids(self, conn: psycopg.Connection, collection: int, words: set[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        missing: set[str] = set()
        for w in words:
            i = self.committed.get(w)
            if i is None:
                i = self.pending.get(w)
            if i is None:
                missing.add(w)
            else:
                out[w] = i
        if missing:
            found = term_ids(conn, collection, missing)
            self.pending.update(found)
            out.update(found)
        return out

    def commit(self) -> None:
        if len(self.committed) + len(self.pending) > self._MOST:
            self.committed.clear()
        self.committed.update(self.pending)
        self.pending.clear()

    def forget(self) -> None:
        self.committed.clear()
        self.pending.clear()


def lexical_columns(
    conn: psycopg.Connection,
    collection: int,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    vocabulary: Vocabulary | None = None,
) -> list[tuple[int, list[int], list[int]]]:
    """``(n_terms, term ids, tfs)`` for each text, adding terms the collection has not seen (inside the writer's
    transaction: the postings, document frequencies and lengths follow from the chunk rows by trigger)."""
    counted = [Counter(tokens) for tokens in tokenizer(texts)]
    words: set[str] = set()
    for c in counted:
        words.update(c)
    ids = vocabulary.ids(conn, collection, words) if vocabulary is not None else term_ids(conn, collection, words)
    return [(sum(c.values()), [ids[w] for w in c], list(c.values())) for c in counted]


def term_ids(conn: psycopg.Connection, collection: int, words: set[str]) -> dict[str, int]:
    """Each word's id in ``kenning.terms``, adding the missing ones (without spending ids on words already there)."""
    if not words:
        return {}
    wanted = sorted(words)
    # one index probe per word, whatever the statistics say (a new collection looks empty to them until ANALYZE,
    # and a join would then read all its terms for each document)
    q = (
        "SELECT w.term, (SELECT t.id FROM kenning.terms t WHERE t.collection = %s AND t.term = w.term) AS id "
        "FROM unnest(%s::text[]) AS w(term)"
    )
    found = {w: i for w, i in conn.execute(q, (collection, wanted)).fetchall() if i is not None}
    missing = [w for w in wanted if w not in found]
    if missing:
        found.update(
            conn.execute(
                "INSERT INTO kenning.terms (collection, term) SELECT %s, unnest(%s::text[]) "
                "ON CONFLICT (collection, term) DO NOTHING RETURNING term, id",
                (collection, missing),
            ).fetchall()
        )
        late = [w for w in missing if w not in found]  # added meanwhile by another transaction
        if late:
            found.update((w, i) for w, i in conn.execute(q, (collection, late)).fetchall() if i is not None)
    return found


def rebuild_postings(conn: psycopg.Connection, collection: int, tokenizer: Tokenizer, batch: int = 5_000) -> int:
    """Tokenize every chunk again and recompute the collection's BM25 statistics (inside a transaction; after the
    stop words or stemmer changed). Returns the number of chunks."""
    conn.execute("SET LOCAL kenning.bulk = 'on'")
    conn.execute(
        "DELETE FROM kenning.postings WHERE term IN (SELECT id FROM kenning.terms WHERE collection = %s)",
        (collection,),
    )
    conn.execute("DELETE FROM kenning.terms WHERE collection = %s", (collection,))
    conn.execute(
        "CREATE TEMP TABLE kenning_relex (id bigint, n_terms integer, terms bigint[], tfs integer[]) ON COMMIT DROP"
    )
    rows = conn.execute(
        sql.SQL("SELECT c.id, {text} FROM kenning.chunks c WHERE c.collection = %s ORDER BY c.id").format(
            text=sql.SQL(INDEXED_TEXT)
        ),
        (collection,),
    ).fetchall()
    for i in range(0, len(rows), batch):
        part = rows[i : i + batch]
        columns = lexical_columns(conn, collection, tokenizer, [r[1] for r in part])
        with conn.cursor().copy("COPY kenning_relex (id, n_terms, terms, tfs) FROM STDIN") as copy:
            for (chunk, _), (n_terms, terms, tfs) in zip(part, columns, strict=True):
                copy.write_row((chunk, n_terms, terms, tfs))
    conn.execute(
        "UPDATE kenning.chunks c SET n_terms = r.n_terms, terms = r.terms, tfs = r.tfs "
        "FROM kenning_relex r WHERE c.id = r.id"
    )
    conn.execute("DROP TABLE kenning_relex")
    conn.execute(
        "INSERT INTO kenning.postings (term, chunk, tf, dl) SELECT u.term, c.id, u.tf, c.n_terms "
        "FROM kenning.chunks c, unnest(c.terms, c.tfs) AS u(term, tf) WHERE c.collection = %s",
        (collection,),
    )
    conn.execute(
        "UPDATE kenning.terms t SET df = x.n FROM (SELECT u.term, count(*) AS n FROM kenning.chunks c, "
        "unnest(c.terms) AS u(term) WHERE c.collection = %s GROUP BY u.term) x WHERE t.id = x.term",
        (collection,),
    )
    conn.execute(
        "UPDATE kenning.collections SET n_chunks = x.n, sum_dl = x.dl FROM (SELECT count(*) AS n, "
        "coalesce(sum(n_terms), 0) AS dl FROM kenning.chunks WHERE collection = %s) x WHERE id = %s",
        (collection, collection),
    )
    conn.execute("SET LOCAL kenning.bulk = 'off'")
    return len(rows)
