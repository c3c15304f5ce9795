"""BM25 from the term tables, scoring as bm25s scores: the default lexical ranking of the PostgreSQL store.

A chunk's score is the sum over the query's tokens (a repeated token counts again, as in bm25s) of
``w(t) * tf / (tf + k1 (1 - b + b dl / avgdl))``, where ``w(t)`` is the token's IDF (Lucene's by default,
``ln(1 + (N - df + 0.5) / (df + 0.5))``; Robertson's and ATIRE's too) and N, avgdl, df come from the statistics the
chunk triggers keep. Ties go to the older chunk row, as bm25s's go to the earlier position.

Scoring every chunk that holds a query token costs a row per posting, and a common token's postings are a good part
of the collection. So the top ``k`` is found with MaxScore, exactly (no approximation): no chunk gets more than
``w(t)`` from a token (the term-frequency part is below 1), so once ``k`` chunks scoring at least ``θ`` are known,
the commonest tokens whose ``w`` sum to less than ``θ`` cannot lift a chunk holding none of the others into the top
``k``. ``θ`` comes from the ``k`` chunks the rarest tokens score best (the ``k``-th best of their full scores, a
lower bound of the final ``k``-th best); then only the postings of the other ("essential") tokens are scanned, chunks that cannot reach
``θ`` even with every common token are dropped, and the survivors get the common tokens' contributions by looking
them up in the postings' primary key. All statements of a search read one snapshot (``REPEATABLE READ``).

>>> sorted(IDF)
['atire', 'lucene', 'robertson']
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import psycopg
from psycopg import sql

from ...errors import ConfigError
from ..base import Scored
from ..filters import Filters
from .filters import passes
from .lexical import Target

__all__ = ["IDF", "Bm25"]


def _lucene(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _robertson(df: int, n: int) -> float:
    return math.log(max(1.0, (n - df + 0.5) / (df + 0.5)))


def _atire(df: int, n: int) -> float:
    return math.log(n / df)


# bm25s's variants whose term-frequency part is tf / (tf + K(dl)) times a constant: (IDF, the constant over k1)
IDF = {
    "lucene": (_lucene, lambda k1: 1.0),
    "robertson": (_robertson, lambda k1: 1.0),
    "atire": (_atire, lambda k1: k1 + 1.0),
}
# the term-frequency part over a posting p, with K(dl) = kk + kb * dl precomputed
_TF = "p.tf / (p.tf + %(kk)s + %(kb)s * p.dl)"
_WORK_MEM = "64MB"  # a common token's postings aggregate in memory instead of spilling to disk


@dataclass(frozen=True, slots=True)
class _Term:
    id: int
    df: int
    w: float  # qtf * idf * constant: the most the token adds to any chunk's score


class Bm25:
    """BM25 from the term tables (see the module's text)."""

    def search(self, conn: psycopg.Connection, target: Target, query: str, k: int, filters: Filters | None) -> Scored:
        method = target.config.method
        if method not in IDF:
            raise ConfigError(
                f"lexical.method {method!r}: the PostgreSQL store ranks with {', '.join(IDF)}; set one of them"
            )
        counts = Counter(target.tokenizer([query])[0])
        if not counts or k <= 0:
            return Scored()
        with conn.transaction():
            conn.execute(
                f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL work_mem = '{_WORK_MEM}'"
            )
            stats = conn.execute(
                "SELECT n_chunks, sum_dl FROM kenning.collections WHERE id = %s", (target.collection,)
            ).fetchone()
            if not stats or not stats[0]:
                return Scored()
            n, avgdl = int(stats[0]), max(int(stats[1]), 1) / int(stats[0])
            idf, factor = IDF[method]
            k1, b = target.config.k1, target.config.b
            rows = conn.execute(
                "SELECT term, id, df FROM kenning.terms WHERE collection = %s AND term = ANY(%s) AND df > 0",
                (target.collection, list(counts)),
            ).fetchall()
            terms = sorted(
                (_Term(int(i), int(df), counts[t] * idf(int(df), n) * factor(k1)) for t, i, df in rows),
                key=lambda t: (-t.w, t.id),
            )
            terms = [t for t in terms if t.w > 0]
            if not terms:
                return Scored()
            params = {"kk": k1 * (1 - b), "kb": k1 * b / avgdl, "k": k}
            where, fparams = passes(filters)
            params.update(fparams)
            theta = _threshold(conn, target.collection, terms, k, where, params)
            essential, common = _split(terms, theta)
            final, extra = _final(target.collection, essential, common, theta, where)
            rows = conn.execute(final, {**params, **extra}).fetchall()
        return Scored(tuple(r[0] for r in rows), tuple(float(r[1]) for r in rows))


def _threshold(
    conn: psycopg.Connection, collection: int, terms: list[_Term], k: int, where: sql.Composable, params: dict
) -> float:
    """A lower bound of the ``k``-th best score (0 when there is nothing to prune): the rarest tokens' postings
    name ``k`` chunks that score well on them, and the ``k``-th best of those chunks' full scores (the other tokens
    looked up) is a score that ``k`` real chunks reach."""
    seed, total = [], 0
    for t in terms:
        seed.append(t)
        total += t.df
        if total >= k:
            break
    if total < k or len(seed) == len(terms):
        return 0.0
    others = terms[len(seed) :]
    q = sql.SQL(
        "WITH seed AS (SELECT p.chunk, sum(q.w * " + _TF + ") AS partial "
        "FROM unnest(%(sid)s::int8[], %(sw)s::float8[]) AS q(id, w) JOIN kenning.postings p ON p.term = q.id "
        "GROUP BY p.chunk), "
        "best AS (SELECT s.chunk, s.partial FROM seed s{join} ORDER BY s.partial DESC LIMIT %(k)s) "
        "SELECT b.partial + coalesce((SELECT sum(x.w * " + _TF + ") FROM unnest(%(oid)s::int8[], %(ow)s::float8[]) "
        "AS x(id, w) JOIN kenning.postings p ON p.term = x.id AND p.chunk = b.chunk), 0) AS score "
        "FROM best b ORDER BY score DESC LIMIT 1 OFFSET %(k)s - 1"
    ).format(join=_filtered(collection, where))
    row = conn.execute(
        q,
        {
            **params,
            "sid": [t.id for t in seed],
            "sw": [t.w for t in seed],
            "oid": [t.id for t in others],
            "ow": [t.w for t in others],
        },
    ).fetchone()
    return float(row[0]) if row else 0.0


def _split(terms: list[_Term], theta: float) -> tuple[list[_Term], list[_Term]]:
    """(essential, common): the commonest tokens whose most they can add sums to less than ``theta``, and the rest."""
    budget = theta * (1 - 1e-9) - 1e-12  # float sums in Python and SQL may differ in the last bits: stay safe
    common: list[_Term] = []
    total = 0.0
    for t in reversed(terms):  # lowest weight first
        if total + t.w >= budget:
            break
        total += t.w
        common.append(t)
    return terms[: len(terms) - len(common)], common


def _filtered(collection: int, where: sql.Composable) -> sql.Composable:
    """The join that keeps only chunks passing the filter (nothing without one)."""
    if not _has(where):
        return sql.SQL("")
    return sql.SQL(" JOIN kenning.chunks c ON c.id = s.chunk AND c.collection = {c} WHERE true{where}").format(
        c=sql.Literal(collection), where=where
    )


def _final(
    collection: int, essential: list[_Term], common: list[_Term], theta: float, where: sql.Composable
) -> tuple[sql.Composable, dict]:
    """The top ``k`` and its parameters: the essential tokens' postings scanned and summed; then the common tokens,
    heaviest first, each looked up only for the chunks that can still reach ``θ`` with what the tokens left could
    add (MaxScore's early termination)."""
    common = sorted(common, key=lambda t: -t.w)
    left = [sum(t.w for t in common[i:]) for i in range(len(common) + 1)]  # left[i]: what tokens i… can add
    params: dict = {"eid": [t.id for t in essential], "ew": [t.w for t in essential], "theta": theta}
    cut = sql.SQL("")
    if common:
        params["left0"] = left[0]
        cut = sql.SQL(" AND " if _has(where) else " WHERE ") + sql.SQL("s.partial + %(left0)s >= %(theta)s")
    ctes = [
        sql.SQL(
            "ess AS (SELECT p.chunk, sum(e.w * " + _TF + ") AS partial "
            "FROM unnest(%(eid)s::int8[], %(ew)s::float8[]) AS e(id, w) JOIN kenning.postings p ON p.term = e.id "
            "GROUP BY p.chunk)"
        ),
        sql.SQL("s0 AS MATERIALIZED (SELECT s.chunk, s.partial FROM ess s{join}{cut})").format(
            join=_filtered(collection, where), cut=cut
        ),
    ]
    for i, t in enumerate(common, 1):
        params.update({f"c{i}": t.id, f"w{i}": t.w, f"left{i - 1}": left[i - 1]})
        keep = f" WHERE s.partial + %(left{i - 1})s >= %(theta)s" if i > 1 else ""  # s0 was cut already
        ctes.append(
            sql.SQL(
                f"s{i} AS MATERIALIZED (SELECT s.chunk, s.partial + coalesce((SELECT %(w{i})s * {_TF} "
                f"FROM kenning.postings p WHERE p.term = %(c{i})s AND p.chunk = s.chunk), 0) AS partial FROM s{i - 1} s{keep})"
            )
        )
    top = sql.SQL(
        f"SELECT c.chunk_id, t.score FROM (SELECT chunk, partial AS score FROM s{len(common)} WHERE partial > 0 "
        "ORDER BY partial DESC, chunk LIMIT %(k)s) t JOIN kenning.chunks c ON c.id = t.chunk "
        "ORDER BY t.score DESC, t.chunk"
    )
    return sql.SQL("WITH ") + sql.SQL(", ").join(ctes) + sql.SQL(" ") + top, params


def _has(where: sql.Composable) -> bool:
    return not (isinstance(where, sql.SQL) and where.as_string(None) == "")
