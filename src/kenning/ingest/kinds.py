"""Which files kenning reads, decided from their names alone.

A name maps to a document kind (``notes.md`` → markdown), to an archive to open (``docs.tar.gz``), to a gzip'd
document to unwrap (``guide.md.gz`` → markdown), or to nothing (``logo.png``).

>>> from kenning.ingest.kinds import classify
>>> classify("guide.md.gz")
Kind(what='markdown', ext='.md', gzip=True)
>>> classify("library/os.rst.txt").what
'rst'
>>> classify("logo.png") is None
True
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

__all__ = ["Kind", "classify", "stem", "suffix", "SUPPORTED", "ARCHIVE_SUFFIXES"]

_DOC_EXTS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".rst": "rst",
    ".rest": "rst",
    ".txt": "text",
    ".text": "text",
    ".pdf": "pdf",
    ".jsonl": "beir",
}
# Two-part suffixes that name a kind of their own: Sphinx ships reST sources as ``_sources/x.rst.txt``.
_COMPOUND_EXTS: dict[str, str] = {".rst.txt": "rst", ".rest.txt": "rst", ".md.txt": "markdown"}

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

SUPPORTED = " ".join([*_DOC_EXTS, *ARCHIVE_SUFFIXES, ".gz (around a supported file)"])

# A real extension is short and alphanumeric, not a version number: "docker-doc-20.10" has none.
_EXT = re.compile(r"\.([a-z0-9_+]{1,16})$")

What = Literal["markdown", "html", "rst", "text", "pdf", "beir", "archive"]


class Kind(NamedTuple):
    """What a file name says: ``what`` to do with it, the ``ext`` that decided it, and whether it is gzip'd."""

    what: What
    ext: str
    gzip: bool = False


def suffix(name: str) -> str:
    """The lower-case extension of the last path part, or ``""`` when it has none (``Makefile``, ``v1.2``)."""
    base = name.rsplit("/", 1)[-1].lower()
    match = _EXT.search(base)
    if match is None or match.start() == 0 or match.group(1).isdigit():
        return ""
    return match.group(0)


def classify(name: str) -> Kind | None:
    """Decide from a file name (or archive member path) what it is; ``None`` for a type kenning does not read.

    Names without an extension are read as plain text (``README``, ``NOTICE``); a binary one is refused later, by
    its content.
    """
    lower = name.rsplit("/", 1)[-1].lower()
    for ext in ARCHIVE_SUFFIXES:
        if lower.endswith(ext) and len(lower) > len(ext):
            return Kind("archive", ext)
    gz = False
    if lower.endswith(".gz") and len(lower) > 3:
        gz, lower = True, lower[:-3]
    for ext, kind in _COMPOUND_EXTS.items():
        if lower.endswith(ext) and len(lower) > len(ext):
            return Kind(kind, ext, gz)  # type: ignore[arg-type]
    ext = suffix(lower)
    if not ext:
        return Kind("text", "", gz)
    kind = _DOC_EXTS.get(ext)
    return Kind(kind, ext, gz) if kind else None  # type: ignore[arg-type]


def stem(name: str) -> str:
    """The file name without folders, ``.gz`` and the extension that gave its kind: ``a/b/os.rst.txt`` → ``os``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kind = classify(base)
    cut = len(kind.ext) + (3 if kind.gzip else 0) if kind else len(suffix(base))
    return base[: len(base) - cut] if cut and len(base) > cut else base
