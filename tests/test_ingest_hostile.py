"""Hostile and broken input: every bad item is a Skipped naming it, nothing escapes to disk, the good files survive."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from kenning.config import IngestConfig
from kenning.errors import InputError
from kenning.ingest import SourceFile, discover, parse
from kenning.types import Skipped

from .factories import load

GOOD = {
    "good.md": "# Good markdown\n\nIndexed despite the mess around it.\n",
    "good.html": "<html><head><title>Good page</title></head><body><h1>Good</h1><p>fine</p></body></html>",
    "good.txt": "Plain good text.\n",
    "good.rst": "Good reST\n=========\n\nFine.\n",
    "sub/also-good.md": "# Also good\n",
}
MB = 1 << 20


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def add_member(tar: tarfile.TarFile, name: str, data: bytes = b"# member\n", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def gzip_bomb(total: int) -> bytes:
    """``total`` bytes of zeros as concatenated gzip members, built from one compressed 16 MB block."""
    block = 16 * MB
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = compressor.compress(b"\0" * block) + compressor.flush()
    return member * (total // block)


def reasons(skipped: list[Skipped]) -> dict[str, str]:
    return {s.source: s.reason for s in skipped}


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for name, text in GOOD.items():
        write(root / name, text)
    write(root / "blob.md", b"\x00\x01\x02binary" * 100)
    write(root / "program.txt", b"\x7fELF" + b"x" * 200)  # binary signature, no NUL byte
    write(root / "disguised.md", b"PK\x03\x04" + b"y" * 200)  # a zip pretending to be Markdown
    write(root / "latin1.txt", "caf\xe9 au lait\n".encode("latin-1"))
    write(root / "empty.md", b"")
    write(root / "spaces.txt", b"  \n\t\n   ")
    write(root / "scripts-only.html", "<html><body><script>alert(1)</script></body></html>")
    with open(root / "huge.txt", "wb") as fh:
        fh.truncate(200 * MB)  # sparse: costs no disk
    write(root / "deep.html", "<div>" * 100_000 + "deep hello" + "</div>" * 100_000)
    write(root / "bomb.md.gz", gzip_bomb(10 * 1024 * MB))  # 10 GB of zeros in about 10 MB

    with zipfile.ZipFile(root / "bombs.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("inside-zip.md", "# Inside zip\n\ngood member\n")
        with zf.open("huge-member.md", "w", force_zip64=True) as member:
            chunk = b"\0" * (4 * MB)
            for _ in range(125):  # 500 MB of zeros, streamed
                member.write(chunk)
        zf.writestr("ratio.md", b"\0" * (5 * MB), compresslevel=9)  # small enough, but expands 1,000 times
        zf.writestr("../evil.md", "# evil\n")
        zf.writestr("/abs-zip.md", "# evil\n")
        link = zipfile.ZipInfo("zip-link.md")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("inner.tar.gz", b"\x1f\x8b")

    with tarfile.open(root / "unsafe.tar.gz", "w:gz") as tar:
        add_member(tar, "docs/inside-tar.md", b"# Inside tar\n\ngood member\n")
        add_member(tar, "../evil.md", b"# evil\n")
        add_member(tar, "/abs-tar.md", b"# evil\n")
        add_member(tar, "sneaky.md", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add_member(tar, "hard.md", type=tarfile.LNKTYPE, linkname="docs/inside-tar.md")
        add_member(tar, "device.md", type=tarfile.CHRTYPE)
        add_member(tar, "small.md.gz", gzip_bomb(64 * MB))
    return root


def test_hostile_corpus(hostile: Path, tmp_path: Path) -> None:
    before = set(os.listdir("/"))
    start = time.perf_counter()
    docs, skipped = load([hostile])
    elapsed = time.perf_counter() - start
    assert elapsed < 15, elapsed

    titles = {d.title for d in docs}
    assert {"Good markdown", "Good page", "good", "Good reST", "Also good", "Inside zip", "Inside tar"} <= titles
    deep = next(d for d in docs if d.source.endswith("deep.html"))
    assert deep.text == "deep hello"

    why = reasons(skipped)
    root = str(hostile)
    expected = {
        f"{root}/blob.md": "binary file, not text",
        f"{root}/program.txt": "binary file, not text",
        f"{root}/disguised.md": "binary file, not text",
        f"{root}/empty.md": "empty file",
        f"{root}/spaces.txt": "empty file",
        f"{root}/latin1.txt": "not valid UTF-8 (byte 0xe9 at offset 3)",
        f"{root}/scripts-only.html": "empty",
        f"{root}/huge.txt": "larger than ingest.max_file_bytes",
        f"{root}/bomb.md.gz": "decompresses to more than",
        f"{root}/bombs.zip!/huge-member.md": "larger than ingest.max_file_bytes",
        f"{root}/bombs.zip!/ratio.md": "decompression bomb",
        f"{root}/bombs.zip!/../evil.md": "unsafe path in archive: ../evil.md",
        f"{root}/bombs.zip!//abs-zip.md": "unsafe path in archive: /abs-zip.md",
        f"{root}/bombs.zip!/zip-link.md": "symlink",
        f"{root}/bombs.zip!/inner.tar.gz": "nested archive not indexed",
        f"{root}/unsafe.tar.gz!/../evil.md": "unsafe path in archive: ../evil.md",
        f"{root}/unsafe.tar.gz!//abs-tar.md": "unsafe path in archive: /abs-tar.md",
        f"{root}/unsafe.tar.gz!/sneaky.md": "symlink",
        f"{root}/unsafe.tar.gz!/hard.md": "hard link",
        f"{root}/unsafe.tar.gz!/device.md": "device or fifo",
        f"{root}/unsafe.tar.gz!/small.md.gz": "decompresses to more than",
    }
    for source, fragment in expected.items():
        assert source in why, (source, sorted(why))
        assert fragment in why[source], (source, why[source])
    assert len(skipped) == len(expected), sorted(set(why) - set(expected))
    assert "evil" not in " ".join(d.text for d in docs)

    # Nothing was extracted anywhere: no evil.md next to or above the corpus, no /abs*.md at the root.
    assert not list(tmp_path.parent.rglob("evil.md"))
    assert not list(tmp_path.parent.rglob("abs-*.md"))
    assert set(os.listdir("/")) == before


def test_oversized_file_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    huge = tmp_path / "huge.md"
    with open(huge, "wb") as fh:
        fh.truncate(200 * MB)
    real_open = os.fdopen
    opened: list[int] = []

    def tracking_fdopen(fd: int, *args: object, **kwargs: object):  # noqa: ANN202
        handle = real_open(fd, *args, **kwargs)
        real_read = handle.read

        def read(size: int = -1) -> bytes:
            opened.append(size)
            return real_read(size)

        handle.read = read  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(os, "fdopen", tracking_fdopen)
    items = list(discover([huge], IngestConfig()))
    assert items == [Skipped(str(huge), "file is 209,715,200 bytes, larger than ingest.max_file_bytes=20,000,000")]
    assert opened == []


def test_lower_limits_stop_archives_part_way(tmp_path: Path) -> None:
    many = tmp_path / "many.tar"
    with tarfile.open(many, "w") as tar:
        for i in range(30):
            add_member(tar, f"doc{i:02}.md", f"# Doc {i}\n".encode())
    docs, skipped = load([many], max_archive_members=10)
    assert len(docs) == 10
    assert skipped == [Skipped(str(many), skipped[0].reason)] and "more than 10 members" in skipped[0].reason

    docs, skipped = load([many], max_archive_bytes=100)
    assert len(docs) < 30 and skipped[-1].source == str(many)
    assert "ingest.max_archive_bytes" in skipped[-1].reason

    wide = tmp_path / "wide.zip"
    with zipfile.ZipFile(wide, "w") as zf:
        for i in range(30):
            zf.writestr(f"doc{i}.md", f"# Doc {i}\n")
    docs, skipped = load([wide], max_archive_members=10)
    assert docs == [] and skipped[0].source == str(wide) and "30 members" in skipped[0].reason


def test_tar_stream_bomb_is_stopped(tmp_path: Path) -> None:
    """A tar.gz whose one member claims 10 GB of zeros: refused from the stream's ratio, not after 10 GB."""
    header = tarfile.TarInfo("zeros.md")
    header.size = 10 * 1024 * MB
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT)) + gzip_bomb(10 * 1024 * MB))
    start = time.perf_counter()
    docs, skipped = load([bomb])
    assert time.perf_counter() - start < 5
    assert docs == []
    assert any(s.source == str(bomb) and "decompression bomb" in s.reason for s in skipped), skipped


def test_lying_zip_header_is_caught(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.md", "# Fine\n")
        zf.writestr("liar.md", b"a" * (3 * MB))
    data = bytearray(buffer.getvalue())
    # Claim 1,000 uncompressed bytes for liar.md in both its local header and the central directory.
    for signature, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        at = data.find(signature)
        while at >= 0:
            name_len = int.from_bytes(data[at + name_len_at : at + name_len_at + 2], "little")
            if data[at + name_at : at + name_at + name_len] == b"liar.md":
                data[at + size_at : at + size_at + 4] = (1000).to_bytes(4, "little")
            at = data.find(signature, at + 4)
    archive = write(tmp_path / "liar.zip", bytes(data))
    docs, skipped = load([archive])
    assert [d.title for d in docs] == ["Fine"]
    assert skipped[0].source == f"{archive}!/liar.md" and "CRC" in skipped[0].reason


def test_corrupt_archives_keep_what_was_read(tmp_path: Path) -> None:
    good = tmp_path / "truncated.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        add_member(tar, "first.md", b"# First\n\nkept\n")
        for i in range(20):
            add_member(tar, f"noise{i}.txt", os.urandom(20_000).hex().encode())
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    write(tmp_path / "garbage.zip", b"PK\x03\x04" + os.urandom(500))
    write(tmp_path / "garbage.tgz", b"\x1f\x8b" + os.urandom(500))
    write(tmp_path / "not-a-tar.tar", "just some text, not a tar at all\n" * 30)
    docs, skipped = load([tmp_path])
    assert "First" in {d.title for d in docs}
    why = reasons(skipped)
    assert "corrupt or truncated archive" in why[str(good)] and "were indexed" in why[str(good)]
    assert "corrupt zip archive" in why[str(tmp_path / "garbage.zip")]
    assert str(tmp_path / "garbage.tgz") in why
    assert "not a readable tar" in why[str(tmp_path / "not-a-tar.tar")]


def test_special_files_and_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "ok.md", "# Ok\n")
    os.mkfifo(tmp_path / "pipe.md")
    locked = write(tmp_path / "locked.md", "# Locked\n")
    real_open = os.open

    def deny(path: str, *args: object, **kwargs: object) -> int:
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    docs, skipped = load([tmp_path, tmp_path / "nope.md"])
    assert [d.title for d in docs] == ["Ok"]
    why = reasons(skipped)
    assert "not a regular file" in why[str(tmp_path / "pipe.md")]
    assert why[str(locked)] == "permission denied"
    assert why[str(tmp_path / "nope.md")] == "no such file or directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_for_real(tmp_path: Path) -> None:
    locked = write(tmp_path / "locked.md", "# Locked\n")
    locked.chmod(0)
    try:
        docs, skipped = load([tmp_path])
    finally:
        locked.chmod(0o600)
    assert docs == [] and skipped == [Skipped(str(locked), "permission denied")]


def test_beir_hostile_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"_id": "ok", "text": "fine"}).encode(),
        b'{"_id": "big", "text": "' + b"x" * 5000 + b'"}',
        b"\xff\xfe not utf-8",
        json.dumps([1, 2]).encode(),
        json.dumps({"_id": "s", "text": "lone \ud800 surrogate"}).encode(),
        json.dumps({"_id": "after", "text": "still read"}).encode(),
    ]
    corpus = write(tmp_path / "corpus.jsonl", b"\n".join(lines))
    docs, skipped = load([corpus], max_file_bytes=1000)
    assert [d.metadata["beir_id"] for d in docs] == ["ok", "s", "after"]
    assert "\ufffd" in docs[1].text or "?" in docs[1].text
    assert [s.source for s in skipped] == [f"{corpus}:line 2", f"{corpus}:line 3", f"{corpus}:line 4"]
    assert "longer than ingest.max_file_bytes" in skipped[0].reason
    assert "not valid JSON" in skipped[1].reason
    assert "expected a JSON object" in skipped[2].reason


def test_deeply_nested_html_is_flattened_quickly(tmp_path: Path) -> None:
    page = write(tmp_path / "deep.html", "<h1>Top</h1>" + "<div>" * 100_000 + "<p>deep hello</p>" + "</div>" * 100_000)
    start = time.perf_counter()
    docs, skipped = load([page])
    assert time.perf_counter() - start < 3
    assert not skipped and docs[0].text == "# Top\n\ndeep hello" and docs[0].sections[0].title == "Top"


def test_html_pathologies_are_fast(tmp_path: Path) -> None:
    pages = {
        "attrs.html": "<p " + " ".join(f"a{i}" for i in range(100_000)) + ">attrs ok</p>",
        "unclosed.html": "<p>x" * 50_000 + "<b>" * 50_000 + "end",
        "mismatch.html": "<div></span>" * 50_000 + "mismatch ok",
        "comment.html": "<p>before</p><!--" + "<div>" * 100_000,
        "lt.html": "<a " * 100_000,
    }
    for name, html in pages.items():
        write(tmp_path / name, html)
    start = time.perf_counter()
    docs, skipped = load([tmp_path])
    assert time.perf_counter() - start < 5
    texts = {Path(d.source).name: d.text for d in docs}
    assert texts["attrs.html"] == "attrs ok"
    assert texts["unclosed.html"].endswith("end")
    assert texts["mismatch.html"] == "mismatch ok"
    assert texts["comment.html"] == "before"
    assert [Path(s.source).name for s in skipped] == ["lt.html"] and "empty" in skipped[0].reason


def test_parse_refuses_bytes_it_cannot_decode(tmp_path: Path) -> None:
    item = SourceFile(str(tmp_path / "x.md"), str(tmp_path), "markdown", b"ok \xc3\x28 bad", "h", {"path": "x.md"})
    with pytest.raises(InputError, match=r"x\.md: not valid UTF-8 \(byte 0xc3 at offset 3\)"):
        parse(item, IngestConfig())
