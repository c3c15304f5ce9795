"""Filters compiled to PostgreSQL SQL: the same rules as the SQLite store's (:mod:`kenning.index.filter_sql`).

A chunk passes when one of its document's sources, joined with the document, satisfies every clause:

- ``source=PREFIX``: the source, or the source with ``PREFIX`` made absolute (``~`` expanded), or the source's
  ``path`` metadata (its path relative to the indexed folder) starts with ``PREFIX``;
- ``source!=PREFIX``: none of those;
- ``kind=``: the document's kind is one of the values;
- any other ``key=value``: the source's or the document's top-level metadata ``key`` reads as ``value`` (a string,
  a number as JSON writes it, ``true``/``false`` — or ``1``/``0``, as SQLite reads JSON booleans).

>>> where, params = compile_filters(Filters.parse(["kind=html"]))
>>> params
{'f0': ['html']}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from psycopg import sql

from ..filters import Filters

__all__ = ["compile_filters", "passes"]


def compile_filters(filters: Filters) -> tuple[sql.Composable, dict[str, object]]:
    """A condition over ``d`` (kenning.documents) and ``s`` (kenning.sources), its parameters named ``f0``, ``f1``…"""
    clauses: list[sql.Composable] = []
    params: dict[str, object] = {}

    def value(v: object) -> sql.Composable:
        name = f"f{len(params)}"
        params[name] = v
        return sql.Placeholder(name)

    if filters.sources:
        clauses.append(_under(filters.sources, value))
    if filters.excluded:
        clauses.append(sql.SQL("NOT ") + _under(filters.excluded, value))
    if filters.kinds:
        clauses.append(sql.SQL("d.kind = ANY({})").format(value(list(filters.kinds))))
    for key, values in filters.metadata.items():
        key = key.replace('"', "")  # as SQLite's JSON path does
        clauses.append(
            sql.SQL("(kenning.meta_is(s.metadata, {k}, {v}) OR kenning.meta_is(d.metadata, {k}, {v}))").format(
                k=value(key), v=value(list(values))
            )
        )
    if not clauses:
        return sql.SQL("true"), {}
    return sql.SQL(" AND ").join(clauses), params


def passes(filters: Filters | None, chunk: str = "c") -> tuple[sql.Composable, dict[str, object]]:
    """``AND EXISTS (…)``: the chunk aliased ``chunk`` belongs to a document that passes ``filters`` (nothing when
    there are none), with its named parameters."""
    if not filters:
        return sql.SQL(""), {}
    where, params = compile_filters(filters)
    alias = sql.Identifier(chunk)
    return (
        sql.SQL(
            " AND EXISTS (SELECT 1 FROM kenning.documents d JOIN kenning.sources s "
            "ON s.collection = d.collection AND s.doc_id = d.doc_id "
            "WHERE d.collection = {c}.collection AND d.doc_id = {c}.doc_id AND ({where}))"
        ).format(c=alias, where=where),
        params,
    )


def _under(prefixes: Iterable[str], value: Callable[[object], sql.Composable]) -> sql.Composable:
    """True when the source (or its path relative to the indexed folder) starts with one of ``prefixes``."""
    ors: list[sql.Composable] = []
    for prefix in prefixes:
        for p in sorted({prefix, os.path.abspath(os.path.expanduser(prefix))}):
            ors.append(sql.SQL("starts_with(s.source, {})").format(value(p)))
        ors.append(sql.SQL("starts_with(coalesce(s.metadata ->> 'path', ''), {})").format(value(prefix)))
    return sql.SQL("(") + sql.SQL(" OR ").join(ors) + sql.SQL(")")
