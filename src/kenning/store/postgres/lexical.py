"""Lexical search in PostgreSQL: BM25 from term statistics kept in tables (the default, ranking as bm25s does), or
PostgreSQL's own full-text search (``ts_rank_cd``), picked per process with the store URL's ``lexical=`` setting.

**bm25**: each chunk is tokenized exactly as the SQLite store's bm25s index tokenizes it (``bm25s.tokenize`` with
the collection's stop words and PyStemmer stemmer); its distinct terms and their counts are stored on the chunk, and
triggers keep ``postings`` (term, chunk, tf, chunk length), each term's document frequency and the collection's
chunk count and total length in the same transaction. A query is scored in one SQL statement: Lucene's IDF
``ln(1 + (N - df + 0.5) / (df + 0.5))`` times ``tf / (tf + k1 (1 - b + b dl / avgdl))``, summed over the query's
tokens (a repeated token counts again, as in bm25s), top ``k`` by score, ties by chunk row.

**fts**: ``to_tsvector`` of each chunk's indexed text in a ``tsvector`` column with a GIN index of the collection's
own, the query's lexemes OR-ed together, ranked by ``ts_rank_cd``. Kept only for collections that ask for it.

>>> sorted(RANKERS), sorted(IDF)
(['bm25', 'fts'], ['atire', 'lucene', 'robertson'])
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
from .filters import passes

__all__ = [
    "IDF",
    "RANKERS",
    "INDEXED_TEXT",
    "Ranker",
    "Tokenizer",
    "fts_config",
    "lexical_columns",
    "ranker",
    "rebuild_postings",
]

DEFAULT = "bm25"
# what is embedded and indexed for a chunk: its context, a blank line, its text (kenning.index.context.indexed_text)
INDEXED_TEXT = "CASE WHEN c.context = '' THEN c.text ELSE c.context || E'\\n\\n' || c.text END"

# BM25 variants that bm25s computes and SQL can: each one's IDF over n (chunks) and df, and term-frequency part
IDF = {
    "lucene": "ln(1 + (st.n - t.df + 0.5) / (t.df + 0.5))",
    "robertson": "ln(greatest(1.0, (st.n - t.df + 0.5) / (t.df + 0.5)))",
    "atire": "ln(st.n / t.df)",
}
TFC = {
    "lucene": "p.tf / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / st.avgdl))",
    "robertson": "p.tf / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / st.avgdl))",
    "atire": "p.tf * (%(k1)s + 1) / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / st.avgdl))",
}


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


class Bm25:
    """BM25 from the term tables (see the module's text)."""

    def search(self, conn: psycopg.Connection, target: Target, query: str, k: int, filters: Filters | None) -> Scored:
        method = target.config.method
        if method not in IDF:
            raise ConfigError(
                f"lexical.method {method!r}: the PostgreSQL store ranks with {', '.join(IDF)}; set one of them"
            )
        tokens = target.tokenizer([query])[0]
        if not tokens or k <= 0:
            return Scored()
        counts = Counter(tokens)
        where, fparams = passes(filters)
        scored = sql.SQL(
            "WITH st AS (SELECT n_chunks::float8 AS n, "
            "CASE WHEN n_chunks > 0 THEN greatest(sum_dl, 1)::float8 / n_chunks ELSE 1.0 END AS avgdl "
            "FROM kenning.collections WHERE id = {c}), "
            "q AS (SELECT t.id, x.qtf * " + IDF[method] + " AS w "
            "FROM unnest(%(terms)s::text[], %(qtf)s::int[]) AS x(term, qtf) "
            "JOIN kenning.terms t ON t.collection = {c} AND t.term = x.term CROSS JOIN st WHERE t.df > 0), "
            "scored AS (SELECT p.chunk, sum(q.w * " + TFC[method] + ") AS score "
            "FROM q JOIN kenning.postings p ON p.term = q.id CROSS JOIN st GROUP BY p.chunk) "
        ).format(c=sql.Literal(target.collection))
        if filters:
            # the filter decides which chunks compete, so it is applied before the top k is taken
            tail = sql.SQL(
                "SELECT c.chunk_id, s.score FROM scored s JOIN kenning.chunks c ON c.id = s.chunk "
                "WHERE s.score > 0{where} ORDER BY s.score DESC, s.chunk LIMIT %(k)s"
            ).format(where=where)
        else:
            tail = sql.SQL(
                "SELECT c.chunk_id, s.score FROM (SELECT chunk, score FROM scored WHERE score > 0 "
                "ORDER BY score DESC, chunk LIMIT %(k)s) s JOIN kenning.chunks c ON c.id = s.chunk "
                "ORDER BY s.score DESC, s.chunk"
            )
        params = {"terms": list(counts), "qtf": list(counts.values()), "k1": target.config.k1, "b": target.config.b}
        params.update({"k": k, **fparams})
        rows = conn.execute(scored + tail, params).fetchall()
        return Scored(tuple(r[0] for r in rows), tuple(float(r[1]) for r in rows))


class Fts:
    """PostgreSQL full-text search: the query's lexemes OR-ed, ranked by ``ts_rank_cd``."""

    def search(self, conn: psycopg.Connection, target: Target, query: str, k: int, filters: Filters | None) -> Scored:
        if target.fts is None:
            raise ConfigError(
                f"lexical=fts: collection {target.collection} keeps no full-text index; a writer whose store url "
                "has lexical=fts builds it at its next publish (kenning index … --store 'postgresql://…&lexical=fts')"
            )
        if k <= 0:
            return Scored()
        where, fparams = passes(filters)
        q = sql.SQL(
            "SELECT c.chunk_id, ts_rank_cd(c.tsv, q.q) AS score FROM kenning.chunks c, "
            "(SELECT (SELECT string_agg(quote_literal(l), ' | ') "
            "FROM unnest(tsvector_to_array(to_tsvector(%(cfg)s::regconfig, %(query)s))) AS l)::tsquery AS q) q "
            "WHERE c.collection = {c} AND c.tsv @@ q.q{where} ORDER BY score DESC, c.id LIMIT %(k)s"
        ).format(c=sql.Literal(target.collection), where=where)
        params = {"cfg": target.fts, "query": query, "k": k, **fparams}
        rows = conn.execute(q, params).fetchall()
        return Scored(tuple(r[0] for r in rows), tuple(float(r[1]) for r in rows))


RANKERS: dict[str, Ranker] = {"bm25": Bm25(), "fts": Fts()}


def ranker(name: str | None) -> Ranker:
    """The ranking ``name`` names (None: the default), or a :class:`ConfigError` listing the known ones."""
    name = name or DEFAULT
    if name not in RANKERS:
        raise ConfigError(f"store url: lexical={name!r} is unknown; known: {', '.join(sorted(RANKERS))}")
    return RANKERS[name]


# -- writing ---------------------------------------------------------------------------------------------------


def lexical_columns(
    conn: psycopg.Connection, collection: int, tokenizer: Tokenizer, texts: Sequence[str]
) -> list[tuple[int, list[int], list[int]]]:
    """``(n_terms, term ids, tfs)`` for each text, adding terms the collection has not seen (inside the writer's
    transaction: the postings, document frequencies and lengths follow from the chunk rows by trigger)."""
    counted = [Counter(tokens) for tokens in tokenizer(texts)]
    words: set[str] = set()
    for c in counted:
        words.update(c)
    ids = term_ids(conn, collection, words)
    return [(sum(c.values()), [ids[w] for w in c], list(c.values())) for c in counted]


def term_ids(conn: psycopg.Connection, collection: int, words: set[str]) -> dict[str, int]:
    """Each word's id in ``kenning.terms``, adding the missing ones (without spending ids on words already there)."""
    if not words:
        return {}
    wanted = sorted(words)
    q = "SELECT term, id FROM kenning.terms WHERE collection = %s AND term = ANY(%s)"
    found = dict(conn.execute(q, (collection, wanted)).fetchall())
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
            found.update(conn.execute(q, (collection, late)).fetchall())
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


def fts_config(conn: psycopg.Connection, config: LexicalConfig) -> str:
    """The text search configuration for a stemmer language (PostgreSQL's own of that name, else ``simple``)."""
    language = (config.stemmer or "").lower()
    row = conn.execute("SELECT cfgname FROM pg_ts_config WHERE cfgname = %s", (language,)).fetchone()
    return str(row[0]) if row else "simple"


def enable_fts(conn: psycopg.Connection, collection: int, config: str) -> None:
    """Fill the collection's tsvectors and mark them kept (inside a transaction; the GIN index is built after)."""
    conn.execute(
        sql.SQL("UPDATE kenning.chunks c SET tsv = to_tsvector(%s::regconfig, {text}) WHERE c.collection = %s").format(
            text=sql.SQL(INDEXED_TEXT)
        ),
        (config, collection),
    )
    conn.execute("UPDATE kenning.collections SET fts_config = %s::regconfig WHERE id = %s", (config, collection))


def fill_fts(conn: psycopg.Connection, collection: int, config: str, doc_id: str) -> None:
    """The tsvectors of one document's chunks (inside the writer's transaction)."""
    conn.execute(
        sql.SQL(
            "UPDATE kenning.chunks c SET tsv = to_tsvector(%s::regconfig, {text}) "
            "WHERE c.collection = %s AND c.doc_id = %s"
        ).format(text=sql.SQL(INDEXED_TEXT)),
        (config, collection, doc_id),
    )
