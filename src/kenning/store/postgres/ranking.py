"""Which lexical ranking a process uses: ``lexical=`` in the store URL picks one from this registry (default
``bm25``: BM25 from the term tables, ranking as the SQLite store's bm25s does; ``fts``: PostgreSQL's full-text
search). Both are measured on SciFact by ``bench/store_scifact.py``.

>>> sorted(RANKERS)
['bm25', 'fts']
"""

from __future__ import annotations

from ...errors import ConfigError
from .bm25 import Bm25
from .fts import Fts
from .lexical import Ranker

__all__ = ["DEFAULT", "RANKERS", "ranker"]

DEFAULT = "bm25"
RANKERS: dict[str, Ranker] = {"bm25": Bm25(), "fts": Fts()}


def ranker(name: str | None) -> Ranker:
    """The ranking ``name`` names (None: the default), or a :class:`ConfigError` listing the known ones."""
    name = name or DEFAULT
    if name not in RANKERS:
        raise ConfigError(f"store url: lexical={name!r} is unknown; known: {', '.join(sorted(RANKERS))}")
    return RANKERS[name]
