"""Generated hostile inputs for every reader, and the one check they all go through (issue 14: fuzzing).

Shared by ``tests/test_fuzz_ingest.py`` (a bounded number of examples per reader) and ``bench/fuzz.py`` (thousands).
Each strategy draws the files of one input folder as ``[(name bytes, content)]``; :func:`run_input` writes them into a
fresh folder next to an ``outside/`` folder holding a secret, then discovers, parses and chunks them the way the
indexer does (each file under the per-file budget) and says what happened: documents, skipped items, an unexpected
exception with its traceback, the time taken, and whether the secret was ever read.

A content item is bytes, or a tuple for things that are not plain files: ``("symlink", target)`` and ``("fifo",)``.
Link targets may name ``{outside}`` (the secret's folder) or ``{secret}`` (its file).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import tarfile
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from kenning.chunking import Chunker
from kenning.config import ChunkingConfig, IngestConfig
from kenning.errors import InputError
from kenning.ingest import SourceFile, discover, parse
from kenning.ingest.budget import file_budget
from kenning.types import Skipped

__all__ = ["READERS", "Outcome", "run_input", "SECRET"]

SECRET = b"FUZZ-OUTSIDE-SECRET-7f3a91"
# Small limits so that "too large", bombs and member counts are reached by generated inputs.
CONFIG = IngestConfig(
    max_file_bytes=400_000, max_archive_members=40, max_archive_bytes=2_000_000, max_seconds_per_file=10.0
)
_CHUNKER = Chunker(ChunkingConfig(size=120, overlap=20))

# ------------------------------------------------------------------------------------------------ text pieces

_MD_ATOMS = [
    "#", "# ", "## ", "###### ", "\n", "\n\n", " ", "  ", "    ", "\t", ">", "> ", "- ", "* ", "+ ", "1. ", "1) ",
    "`", "```", "~~~", "*", "**", "_", "__", "[", "]", "(", ")", "![", "](", "<", ">", "<!--", "-->", "<div>",
    "</div>", "|", "---", "===", "+++", "title: x", "&amp;", "&#x0;", "\\", "word", "Title", "é", "\u200b",
    "\ufffd", "\x00", "\r", "\r\n", "日本", "😀", "\ud800",
]  # fmt: skip
_RST_ATOMS = [
    "\n", "\n\n", "   ", " ", "=====", "-----", "~~~~", "^^^^", "****", "####", "Title", "word", ".. ", "::",
    ":mod:`os`", ":ref:`x <y>`", "``lit``", "*em*", "**strong**", "`", "*", "- ", "* ", "#. ", "|", "+---+",
    ".. code-block:: python", ".. toctree::", "é", "\t", "\x0c", "\ud800",
]  # fmt: skip
_HTML_ATOMS = [
    "<html>", "</html>", "<head>", "<title>", "</title>", "<body>", "<h1>", "</h1>", "<h2>", "<h7>", "<p>", "</p>",
    "<div>", "</div>", "<span>", "<table>", "<tr><td>", "<script>", "</script>", "<style>", "<!--", "-->",
    "<![CDATA[", "]]>", "<pre>", "<br>", "<img alt='x'>", "<a href='javascript:x'>", "</a>", "<nav>", "<svg>",
    "<math>", "<template>", "<meta charset='latin-1'>", "<meta charset='x-bogus'>", "&amp;", "&#0;",
    "&#x110000;", "&nbsp;", "<", ">", "\"", "'", "=", " ", "\n", "text", "Heading", "é", "\ud800",
    "<p hidden>", "<div aria-hidden='true'>", "<h1 style='display:none'>",
]  # fmt: skip


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become bytes that are not UTF-8


def _runs(atoms: list[str]) -> st.SearchStrategy[str]:
    """One atom repeated many times: the shape that made tokenizing quadratic."""
    return st.builds(lambda a, n: a * n, st.sampled_from(atoms), st.integers(1, 20_000))


def _nested(atoms: list[str]) -> st.SearchStrategy[str]:
    """Lines indented (or prefixed) one level deeper each time, up to thousands of levels."""
    return st.builds(
        lambda prefix, depth, line: "".join(prefix * i + line for i in range(depth)),
        st.sampled_from(["  ", "   ", "\t", "> ", "- ", "* ", "1. ", "<div>", "<ul><li>"]),
        st.integers(1, 2_500),
        st.sampled_from(["- item\n", "text\n\n", "> q\n", "<b>x</b>\n", "Title\n=====\n\n"]),
    )


def _soup(atoms: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(atoms), st.text(max_size=12), _runs(atoms)), max_size=60).map("".join)


def _document(atoms: list[str]) -> st.SearchStrategy[bytes]:
    text = st.one_of(_soup(atoms), _nested(atoms), _runs(atoms), st.text(max_size=300))
    # mostly clean UTF-8, so the parsers behind the decoder get most of the inputs
    prefix = st.sampled_from([b""] * 6 + [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x1f\x8b"])
    junk = st.one_of(st.just(b""), st.just(b""), st.just(b""), st.binary(max_size=8))
    return st.builds(lambda p, t, j: p + _encode(t) + j, prefix, text, junk)


def _one_file(ext: str, content: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[tuple[bytes, object]]]:
    return content.map(lambda data: [(b"doc" + ext.encode(), data)])


# ------------------------------------------------------------------------------------------------ PDF


def _pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` with a correct cross-reference table."""
    stream = b"BT /F1 12 Tf 72 712 Td (" + text.encode("latin-1", "replace") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _mutate(data: bytes, edits: list[tuple[float, int, int]]) -> bytes:
    """Apply ``(position fraction, kind, byte)`` edits: 0 replace, 1 insert, 2 delete, 3 truncate."""
    buf = bytearray(data)
    for frac, kind, value in edits:
        if not buf:
            break
        at = min(len(buf) - 1, int(frac * len(buf)))
        if kind == 0:
            buf[at] = value
        elif kind == 1:
            buf[at:at] = bytes([value]) * (1 + value % 7)
        elif kind == 2:
            del buf[at : at + 1 + value % 16]
        else:
            del buf[at:]
    return bytes(buf)


_EDITS = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), st.integers(0, 255)), max_size=6)
_PDF = st.builds(lambda t, e: _mutate(_pdf(t), e), st.text(max_size=200), _EDITS)


# ------------------------------------------------------------------------------------------------ BEIR lines

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_RECORD = st.fixed_dictionaries(
    {},
    optional={
        "_id": st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none(), _JSON),
        "id": st.one_of(st.text(max_size=10), st.integers()),
        "title": st.one_of(st.text(max_size=40), st.none(), _JSON),
        "text": st.one_of(st.text(max_size=200), _runs(_MD_ATOMS), st.none(), _JSON),
    },
)


def _line(value: object, raw: bytes, kind: int) -> bytes:
    if kind == 0 and raw.startswith(b"\x00"):  # raw bytes now and then (their first byte decides)
        return raw
    return json.dumps(value, ensure_ascii=kind == 1, allow_nan=True).encode("utf-8", "surrogatepass")


_GOOD_RECORD = st.fixed_dictionaries(
    {"_id": st.text(min_size=1, max_size=10), "text": st.text(min_size=1, max_size=200)},
    optional={"title": st.text(max_size=40)},
)
_LINES = st.lists(
    st.builds(_line, st.one_of(_GOOD_RECORD, _GOOD_RECORD, _RECORD, _JSON), st.binary(max_size=60), st.integers(0, 2)),
    min_size=1,
    max_size=30,
)
_BEIR = st.builds(
    lambda lines, sep, tail: sep.join(lines) + tail, _LINES, st.sampled_from([b"\n", b"\r\n"]), st.binary(max_size=4)
)

# ------------------------------------------------------------------------------------------------ archives

_MEMBER_NAMES = st.one_of(
    st.sampled_from(
        [
            "a.md", "docs/b.html", "c.rst", "d.txt", "README", "e.jsonl", "f.md.gz", "nested.zip", "../escape.md",
            "../../etc/passwd", "/etc/passwd", "/abs.md", "C:\\win.md", "..\\up.md", "dir/../../x.md", ".hidden.md",
            "a/./b.md", "a//b.md", "x.pdf", "nul\x00.md", "caf\udce9.md", "\u202eevil.md", "",
        ]
    ),
    st.text(max_size=30),
)  # fmt: skip
_LINK_TARGETS = st.sampled_from(
    ["{secret}", "{outside}", "../outside/secret.md", "../../outside/secret.md", "a.md", "/etc/passwd", "."]
)
_MEMBER = st.tuples(
    _MEMBER_NAMES,
    st.sampled_from(["file", "file", "file", "symlink", "hardlink", "dir", "fifo", "chr"]),
    _document(_MD_ATOMS),
    _LINK_TARGETS,
)


def _fill(target: str, outside: Path) -> str:
    return target.replace("{secret}", str(outside / "secret.md")).replace("{outside}", str(outside))


def _tar_bytes(members: list[tuple], fmt: int, outside: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tar:
        for name, what, data, target in members:
            info = tarfile.TarInfo(name)
            types = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "dir": tarfile.DIRTYPE}
            types |= {"fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}
            if what == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = types[what]
                info.linkname = _fill(target, outside)
                tar.addfile(info)
    return buf.getvalue()


def _lie_tar_size(data: bytes, size: int) -> bytes:
    """The first header declares ``size`` bytes (checksum fixed so the header still reads)."""
    if len(data) < 512:
        return data
    header = bytearray(data[:512])
    header[124:136] = (b"%011o\0" % size) if size < 8**11 else b"\x80" + size.to_bytes(11, "big")
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + data[512:]


def _zip_bytes(members: list[tuple], outside: Path, lie: int | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, what, data, target in members:
            info = zipfile.ZipInfo(name.replace("\x00", "") or "empty")
            if what == "symlink":
                info.external_attr = (0o120777 << 16) | 0x20
                data = _fill(target, outside).encode("utf-8", "surrogatepass")
            elif what == "dir":
                info.filename += "/"
                data = b""
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # duplicate names are one of the hostile cases
                    zf.writestr(info, data)
            except (UnicodeEncodeError, ValueError):
                continue
    raw = buf.getvalue()
    if lie is not None:  # a central directory that lies about the first member's size
        at = raw.find(b"PK\x01\x02")
        if at >= 0:
            raw = raw[: at + 24] + struct.pack("<I", lie) + raw[at + 28 :]
    return raw


@st.composite
def _archive(draw) -> list[tuple[bytes, object]]:
    members = draw(st.lists(_MEMBER, max_size=8))
    kind = draw(st.sampled_from(["tar", "tar.gz", "tar.bz2", "tar.xz", "zip", "md.gz", "bomb.gz"]))
    # the outside folder's path is only known when the input is written: link targets are filled in then
    return [(b"bundle." + kind.encode(), ("archive", kind, members, draw(_EDITS), draw(st.integers(0, 2**40))))]


def _archive_data(spec: tuple, outside: Path) -> bytes:
    _, kind, members, edits, lie = spec
    if kind == "zip":
        data = _zip_bytes(members, outside, lie % 2**32 if lie % 3 == 0 else None)
    elif kind == "md.gz":
        data = gzip.compress(members[0][2] if members else b"# x\n")
    elif kind == "bomb.gz":
        data = gzip.compress(b"\0" * (1 << 21) + b"# x", 9)
    else:
        fmt = (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT)[lie % 3]
        try:
            data = _tar_bytes(members, fmt, outside)
        except (ValueError, UnicodeEncodeError):  # a name the format cannot store
            data = _tar_bytes(
                [m for m in members if m[0].isascii() and "\x00" not in m[0]], tarfile.GNU_FORMAT, outside
            )
        if lie % 4 == 0:
            data = _lie_tar_size(data, lie)
        compress = {"tar.gz": gzip.compress, "tar.bz2": _bz2, "tar.xz": _xz}.get(kind)
        data = compress(data) if compress else data
    return _mutate(data, edits)


def _bz2(data: bytes) -> bytes:
    import bz2

    return bz2.compress(data)


def _xz(data: bytes) -> bytes:
    import lzma

    return lzma.compress(data)


# ------------------------------------------------------------------------------------------------ file names

_NAME = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
_EXT = st.sampled_from([b".md", b".txt", b".html", b".rst", b"", b".rst.txt", b".md.gz", b".jsonl", b".png", b".MD"])
_ENTRY = st.tuples(
    st.lists(_NAME, max_size=2),
    _NAME,
    _EXT,
    st.one_of(
        _document(_MD_ATOMS),
        st.tuples(st.just("symlink"), _LINK_TARGETS),
        st.just(("fifo",)),
    ),
)
_NAMES = st.lists(_ENTRY, min_size=1, max_size=8).map(
    lambda entries: [(b"/".join([*dirs, name + ext]), content) for dirs, name, ext, content in entries]
)

READERS: dict[str, st.SearchStrategy[list[tuple[bytes, object]]]] = {
    "markdown": _one_file(".md", _document(_MD_ATOMS)),
    "html": _one_file(".html", _document(_HTML_ATOMS)),
    "rst": _one_file(".rst", _document(_RST_ATOMS)),
    "text": _one_file(".txt", st.one_of(st.binary(max_size=2000), _document(_MD_ATOMS))),
    "pdf": _one_file(".pdf", _PDF),
    "beir": _one_file(".jsonl", _BEIR),
    "archive": _archive(),
    "names": _NAMES,
}

# ------------------------------------------------------------------------------------------------ the check


@dataclass
class Outcome:
    documents: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str | None = None  # the traceback of an exception that is not kenning's own
    leaked: bool = False  # the secret outside the input was read


def _write(root: Path, outside: Path, name: bytes, content: object) -> None:
    path = Path(os.fsdecode(bytes(root) + b"/" + name))
    parents = [p for p in path.parents if len(p.parts) > len(root.parts)]
    if os.path.lexists(path) or any(p.is_symlink() or (p.exists() and not p.is_dir()) for p in parents):
        return  # two generated names collide: never write through a generated link or into a generated fifo
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content[0] == "symlink":
            path.symlink_to(_fill(str(content[1]), outside))
        elif content[0] == "fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(_archive_data(content, outside))
    except (FileExistsError, IsADirectoryError, NotADirectoryError, OSError):
        pass  # two generated names collided (a file where a folder goes): that entry is simply not there


def run_input(files: list[tuple[bytes, object]], *, config: IngestConfig = CONFIG) -> Outcome:
    """Write ``files`` into a fresh input folder and read it as the indexer would; never raises."""
    out = Outcome()
    with tempfile.TemporaryDirectory(prefix="kenning-fuzz-") as tmp:
        outside = Path(tmp) / "outside"
        outside.mkdir()
        (outside / "secret.md").write_bytes(b"# Secret\n\n" + SECRET + b"\n")
        root = Path(tmp) / "input"
        root.mkdir()
        for name, content in files:
            _write(root, outside, name, content)
        t0 = time.perf_counter()
        try:
            for item in discover([root], config):
                if isinstance(item, Skipped):
                    out.skipped += 1
                    continue
                assert isinstance(item, SourceFile)
                item.source.encode("utf-8")  # storable: raises on a surrogate
                out.leaked |= SECRET in item.data
                try:
                    with file_budget(item.source, config.max_seconds_per_file):
                        doc = parse(item, config)
                        _CHUNKER.chunk(doc)
                except InputError:
                    out.skipped += 1
                    continue
                out.leaked |= SECRET.decode() in doc.text
                out.documents += 1
        except Exception:  # noqa: BLE001 - the property under test: nothing but kenning's own errors escapes
            out.error = traceback.format_exc()
        out.seconds = time.perf_counter() - t0
    return out
