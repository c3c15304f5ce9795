"""Metadata filters, applied before any retriever runs; each store compiles them for its own engine
(:func:`kenning.index.filter_sql.compile_filters` for SQLite).

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

    def key(self) -> tuple:
        """A hashable form: equal filters, equal keys (stores cache what a filter selects by it)."""
        return (self.sources, self.kinds, tuple(sorted(self.metadata.items())), self.excluded)
