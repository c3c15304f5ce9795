"""PDF text through pypdf (the optional ``kenning[pdf]`` extra): pages joined by a blank line.

``metadata["page_starts"]`` gives the character offset where each page begins in the text, so a chunk can be
cited by page. Encrypted and unreadable PDFs raise :class:`~kenning.errors.InputError` naming the file.
"""

from __future__ import annotations

import io
import logging
import warnings

from ..errors import InputError, MissingExtraError
from ..types import Section
from .budget import check_budget
from .text import clean

__all__ = ["parse_pdf"]


def parse_pdf(data: bytes, source: str, stem: str) -> tuple[str, str, tuple[Section, ...], dict[str, object]]:
    """``(text, title, sections, extra metadata)`` of a PDF; title from its metadata, else ``stem``; no sections."""
    try:
        from pypdf import PdfReader
    except ImportError:
        raise MissingExtraError("PDF ingestion", "pdf", "pypdf") from None
    pages: list[str] = []
    quiet = logging.getLogger("pypdf")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # pypdf logs every repaired xref as a warning; a broken file is refused below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise InputError(f"{source}: encrypted PDF; decrypt it first (e.g. qpdf --decrypt)")
            for page in reader.pages:
                pages.append(clean(page.extract_text() or "").strip())
                check_budget()
            meta_title = ((reader.metadata or {}).get("/Title") or "") if reader.metadata is not None else ""
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged files; none may stop the run
        raise InputError(f"{source}: unreadable PDF ({type(exc).__name__}: {exc})") from None
    finally:
        quiet.setLevel(level)
    page_starts, parts, at = [], [], 0
    for text in pages:
        page_starts.append(at)
        parts.append(text)
        at += len(text) + 2
    text = "\n\n".join(parts)
    title = " ".join(str(meta_title).split()) or stem
    return text, title, (), {"page_starts": page_starts}
