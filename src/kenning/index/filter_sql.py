"""Filters compiled to SQLite SQL over ``d`` (documents) and ``s`` (sources): the SQLite store's own dialect.

>>> compile_filters(Filters.parse(["kind=html"]))
('d.kind IN (?)', ['html'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..store.filters import Filters

__all__ = ["compile_filters"]


def compile_filters(filters: Filters) -> tuple[str, list[object]]:
    """A WHERE clause over ``d`` (documents) and ``s`` (sources), with its parameters."""
    clauses: list[str] = []
    params: list[object] = []
    if filters.sources:
        clauses.append(_under(filters.sources, params))
    if filters.excluded:
        clauses.append("NOT " + _under(filters.excluded, params))
    if filters.kinds:
        clauses.append(f"d.kind IN ({','.join('?' * len(filters.kinds))})")
        params += list(filters.kinds)
    for key, values in filters.metadata.items():
        path = "$." + '"' + key.replace('"', "") + '"'
        ors = []
        for v in values:
            ors.append("CAST(json_extract(s.metadata, ?) AS TEXT) = ? OR CAST(json_extract(d.metadata, ?) AS TEXT) = ?")
            params += [path, v, path, v]
        clauses.append("(" + " OR ".join(ors) + ")")
    return " AND ".join(clauses) or "1", params


def _under(prefixes: Iterable[str], params: list[object]) -> str:
    """SQL true when the source (or its path relative to the indexed folder) starts with one of ``prefixes``."""
    ors = []
    for prefix in prefixes:
        for p in {prefix, os.path.abspath(os.path.expanduser(prefix))}:
            ors.append("substr(s.source, 1, ?) = ?")
            params += [len(p), p]
        ors.append("substr(coalesce(json_extract(s.metadata, '$.path'), ''), 1, ?) = ?")
        params += [len(prefix), prefix]
    return "(" + " OR ".join(ors) + ")"
