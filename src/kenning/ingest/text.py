"""Bytes → clean text: binary sniffing, encodings, newlines, and the content hash that names a document.

Text must be UTF-8 (a BOM is fine) or UTF-16/32 with a BOM. HTML may declare another charset with ``<meta charset>``.
Anything else is refused with the offending byte and its offset, unless ``ingest.detect_encoding`` asks for
charset-normalizer's best guess.

>>> from kenning.ingest.text import decode, doc_id
>>> decode(b"\\xef\\xbb\\xbfhi\\r\\nthere", "x.txt")
('hi\\nthere', 'utf-8')
>>> len(doc_id("text", "hello"))
16
"""

from __future__ import annotations

import codecs
import hashlib
import re

from ..errors import InputError

__all__ = ["looks_binary", "decode", "clean", "doc_id", "raw_hash", "html_declared_charset"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Formats that are never text, whatever the file is called. Most also hold NUL bytes early; some need not.
_MAGIC: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n",
    b"\x7fELF",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b",  # gzip
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",  # JPEG
    b"%PDF-",
    b"\x00asm",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\xfd7zXZ\x00",
    b"SQLite format 3\x00",
    b"\xca\xfe\xba\xbe",  # Java class / Mach-O fat
    b"\xcf\xfa\xed\xfe",  # Mach-O
    b"MZ\x90\x00",  # Windows PE
    b"BZh91AY&SY",
)

_SNIFF_BYTES = 8192

_HTML_CHARSET = re.compile(
    rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})"""
    rb"""|<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})""",
    re.IGNORECASE,
)
# What browsers do (WHATWG Encoding): these labels all mean windows-1252.
_WHATWG_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
}


def looks_binary(data: bytes) -> bool:
    """True for bytes that are not text: a known binary signature, or NUL bytes in the first 8 KB (no UTF-16 BOM)."""
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return False
    if data.startswith(_MAGIC):
        return True
    return b"\x00" in data[:_SNIFF_BYTES]


def html_declared_charset(data: bytes) -> str | None:
    """The charset an HTML/XHTML page declares in its first 4 KB, if Python knows it; ``None`` otherwise."""
    match = _HTML_CHARSET.search(data[:4096])
    if match is None:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode(data: bytes, source: str, *, declared: str | None = None, detect: bool = False) -> tuple[str, str]:
    """Decode ``data`` to clean text; return ``(text, encoding)``.

    Order: a BOM; strict UTF-8; the ``declared`` charset (HTML); charset-normalizer when ``detect``. Otherwise raise
    :class:`InputError` naming the first bad byte and its offset.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return clean(data.decode(encoding)), encoding.removesuffix("-sig")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{source}: not valid {encoding.upper()} despite its byte-order mark "
                    f"(bad bytes at offset {exc.start})"
                ) from None
    try:
        return clean(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError as exc:
        error = exc
    if declared and declared != "utf-8":
        return clean(data.decode(declared, errors="replace")), declared
    if detect:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            return clean(str(best)), best.encoding
        raise InputError(f"{source}: not valid UTF-8 and no encoding could be detected")
    bad = data[error.start]
    raise InputError(
        f"{source}: not valid UTF-8 (byte 0x{bad:02x} at offset {error.start}); "
        "convert it to UTF-8, or set ingest.detect_encoding = true to guess its encoding"
    )


def clean(text: str) -> str:
    """Unix newlines, no NUL characters, no BOM."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.removeprefix("\ufeff")


def doc_id(kind: str, text: str) -> str:
    """The content id of a parsed document: equal text of the same kind gets one id, wherever it was found.

    The title is not part of it: two files with the same text under different names are one document.
    """
    return hashlib.blake2b(f"{kind}\0{text}".encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def raw_hash(data: bytes) -> str:
    """The hash of a source's raw bytes: unchanged bytes need no parsing on re-index."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
