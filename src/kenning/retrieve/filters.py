"""Metadata filters, turned into SQL over the catalog and applied before any retriever runs.

A filter is ``field=value``:

- ``source=PREFIX``: the document's source (absolute path, ``archive!/member`` or ``corpus#id``) or its path
  relative to the indexed folder starts with PREFIX;
- ``kind=html`` (markdown, html, rst, text, pdf, beir), ``ext=.md``;
- any other ``key=value``: equality on a metadata key of the source or the document;
- ``source!=PREFIX``: leave out the sources under PREFIX (to ask as if a document were not indexed, or to skip a
  folder).

Several filters must all hold; repeating one field (``kind=html --filter kind=markdown``) means any of those values.

>>> Filters.parse(["kind=html", "source=docs/"]).kinds
('html',)
>>> Filters.parse(["source!=docs/old/"]).excluded
('docs/old/',)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["Filters"]


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    metadata: dict[str, tuple[str, ...]] = field(default_factory=dict)
    excluded: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources or self.kinds or self.metadata or self.excluded)

    @classmethod
    def parse(cls, specs: Iterable[str] | None) -> Filters:
        sources: list[str] = []
        kinds: list[str] = []
        meta: dict[str, list[str]] = {}
        excluded: list[str] = []
        for spec in specs or ():
            key, sep, value = spec.partition("=")
            key = key.strip()
            if not sep or not key or not value:
                raise ConfigError(f"filter {spec!r}: write it as field=value, e.g. kind=html or source=docs/")
            if key.endswith("!"):
                if key != "source!":
                    raise ConfigError(f"filter {spec!r}: only source!=PREFIX can exclude")
                excluded.append(value)
            elif key == "source":
                sources.append(value)
            elif key == "kind":
                kinds.append(value)
            else:
                meta.setdefault(key, []).append(value)
        return cls(tuple(sources), tuple(kinds), {k: tuple(v) for k, v in meta.items()}, tuple(excluded))

    def sql(self) -> tuple[str, list[object]]:
        """A WHERE clause over ``d`` (documents) and ``s`` (sources), with its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.sources:
            clauses.append(_under(self.sources, params))
        if self.excluded:
            clauses.append("NOT " + _under(self.excluded, params))
        if self.kinds:
            clauses.append(f"d.kind IN ({','.join('?' * len(self.kinds))})")
            params += list(self.kinds)
        for key, values in self.metadata.items():
            path = "$." + '"' + key.replace('"', "") + '"'
            ors = []
            for v in values:
                ors.append(
                    "CAST(json_extract(s.metadata, ?) AS TEXT) = ? OR CAST(json_extract(d.metadata, ?) AS TEXT) = ?"
                )
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
