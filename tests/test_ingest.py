"""Ingest: every format's text, title and heading offsets; discovery rules; dedup; BEIR; the three demo corpora."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from kenning.config import IngestConfig
from kenning.errors import MissingExtraError
from kenning.ingest import SourceFile, discover, parse
from kenning.types import Document, Skipped

from .factories import load

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPORA = SHARED / "corpora"
SCIFACT = SHARED / "beir" / "scifact"


def one(path: Path, **settings: object) -> Document:
    docs, skipped = load([path], **settings)
    assert not skipped, skipped
    assert len(docs) == 1, docs
    return docs[0]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _is_adornment(line: str) -> bool:
    line = line.rstrip()
    return len(line) >= 2 and not line[0].isalnum() and not line[0].isspace() and line == line[0] * len(line)


def assert_sections_point_at_headings(doc: Document) -> None:
    """Each section starts at the beginning of its heading's line, in order."""
    starts = [s.start for s in doc.sections]
    assert starts == sorted(starts)
    for section in doc.sections:
        assert section.start == 0 or doc.text[section.start - 1] == "\n", section
        rest = doc.text[section.start :]
        if doc.kind == "html":
            assert rest.startswith("#" * section.level + " " + section.title), (section, rest[:80])
        elif doc.kind == "markdown":
            assert section.title.split()[0] in rest.split("\n", 1)[0], (section, rest[:80])
        elif doc.kind == "rst":
            lines = rest.split("\n", 3)
            title_line, under = (lines[1], lines[2]) if _is_adornment(lines[0]) else (lines[0], lines[1])
            assert _is_adornment(under) and len(under.rstrip()) >= len(title_line.strip()), (section, lines)


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(pages))), len(pages)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        content = b"BT /F1 12 Tf 72 712 Td (%s) Tj ET" % text.encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# ------------------------------------------------------------------------------------------------ Markdown


def test_markdown_headings_offsets_and_front_matter(tmp_path: Path) -> None:
    text = (
        '---\ntitle: "Run a container"\ndescription: x\n---\n\n'
        "<!-- licence banner\n     over two lines -->\n\n"
        "# docker run\r\n\r\nIntro.\n\n"
        "```sh\n# not a heading\ndocker run -it ubuntu\n```\n\n"
        "## `--detach` mode\n\nBody.\n\n"
        "Setext title\n------------\n\nMore.\n"
    )
    doc = one(write(tmp_path / "run.md", text))
    assert doc.kind == "markdown"
    assert doc.title == "Run a container"
    assert doc.text.startswith("# docker run\n\nIntro.")
    assert "title:" not in doc.text and "licence banner" not in doc.text and "\r" not in doc.text
    assert "# not a heading" in doc.text
    assert [(s.level, s.title) for s in doc.sections] == [(1, "docker run"), (2, "--detach mode"), (2, "Setext title")]
    assert doc.text[doc.sections[0].start :].startswith("# docker run\n")
    assert doc.text[doc.sections[1].start :].startswith("## `--detach` mode\n")
    assert doc.text[doc.sections[2].start :].startswith("Setext title\n------------\n")
    assert doc.metadata["path"] == "run.md" and doc.metadata["ext"] == ".md"
    assert doc.metadata["encoding"] == "utf-8"


def test_markdown_title_falls_back_to_first_h1_then_stem(tmp_path: Path) -> None:
    assert one(write(tmp_path / "a.md", "Intro\n\n## Sub\n\n# Main\n")).title == "Main"
    assert one(write(tmp_path / "b" / "install-guide.markdown", "no headings here\n")).title == "install-guide"


# ------------------------------------------------------------------------------------------------ HTML


PAGE = """<!DOCTYPE html><html><head><title>VACUUM  reference</title><style>p {color: red}</style>
<script>var nav = "Prev";</script></head>
<body>
<div class="navheader"><table><tr><td><a href="a.html">Prev</a></td><td><a>Up</a></td><td><a>Next</a></td></tr></table></div>
<header><a href="/">Site logo</a></header>
<nav><ul><li>Menu item</li></ul></nav>
<h1>VACUUM</h1>
<p>VACUUM   reclaims
   storage &amp; more.</p>
<h2>Synopsis</h2>
<pre>VACUUM [ FULL ]
    [ table ]</pre>
<h3>Options <a class="headerlink" href="#o">\u00b6</a></h3>
<ul><li>FULL</li><li><p>FREEZE</p></li><li>nested<ul><li>inner</li></ul></li></ul>
<table><tr><th>Name</th><th>Type</th></tr><tr><td>verbose</td><td>boolean</td></tr></table>
<p>line<br>break</p>


<div><div><p>deep</p></div></div>
<noscript>enable js</noscript><template><p>tmpl</p></template>
<footer>Copyright footer</footer>
<div class="navfooter"><a>Home</a></div>
</body></html>"""


def test_html_text_headings_and_clean_up(tmp_path: Path) -> None:
    doc = one(write(tmp_path / "sql-vacuum.html", PAGE))
    assert doc.kind == "html"
    assert doc.title == "VACUUM reference"
    assert [(s.level, s.title) for s in doc.sections] == [(1, "VACUUM"), (2, "Synopsis"), (3, "Options")]
    for section in doc.sections:
        assert doc.text[section.start :].startswith("#" * section.level + " " + section.title + "\n")
    lines = doc.text.split("\n")
    for junk in ("Prev", "Up", "Next", "Home", "Site logo", "Menu item", "Copyright footer", "enable js", "tmpl"):
        assert junk not in doc.text, junk
    assert "color: red" not in doc.text and "var nav" not in doc.text
    assert "VACUUM reclaims storage & more." in lines
    assert "VACUUM [ FULL ]\n    [ table ]" in doc.text  # pre keeps its whitespace
    assert "- FULL" in lines and "- FREEZE" in lines and "  - inner" in lines
    assert "Name | Type" in lines and "verbose | boolean" in lines
    assert "line" in lines and "break" in lines
    assert "deep" in lines
    assert "\n\n\n" not in doc.text and doc.text == doc.text.strip()


def test_html_title_from_first_h1_and_meta_charset(tmp_path: Path) -> None:
    latin = '<html><head><meta charset="iso-8859-1"></head><body><h1>Caf\xe9</h1><p>cr\xe8me br\xfbl\xe9e</p></body>'
    doc = one(write(tmp_path / "menu.htm", latin.encode("latin-1")))
    assert doc.title == "Café" and "crème brûlée" in doc.text
    assert doc.metadata["encoding"] == "cp1252"
    no_title = one(write(tmp_path / "plain.xhtml", "<p>just text</p>"))
    assert no_title.title == "plain" and no_title.sections == ()


def test_html_without_text_is_empty(tmp_path: Path) -> None:
    docs, skipped = load([write(tmp_path / "blank.html", "<html><script>x()</script><p>  </p></html>")])
    assert docs == [] and len(skipped) == 1
    assert skipped[0].source.endswith("blank.html") and "empty" in skipped[0].reason


# ------------------------------------------------------------------------------------------------ reST


RST = """\
=================
 The Python Guide
=================

Intro paragraph::

    Not a title
    ===========

Getting :mod:`os` started
-------------------------

Text.

Details *here*
^^^^^^^^^^^^^^

More.

Second part
-----------

Short
==

Done.
"""


def test_rst_titles_levels_and_offsets(tmp_path: Path) -> None:
    doc = one(write(tmp_path / "guide.rst", RST))
    assert doc.kind == "rst" and doc.text == RST
    assert doc.title == "The Python Guide"
    assert [(s.level, s.title) for s in doc.sections] == [
        (1, "The Python Guide"),
        (2, "Getting os started"),
        (3, "Details here"),
        (2, "Second part"),
    ]
    assert doc.text[doc.sections[0].start :].startswith("=================\n The Python Guide\n")
    assert doc.text[doc.sections[1].start :].startswith("Getting :mod:`os` started\n---")
    assert doc.text[doc.sections[3].start :].startswith("Second part\n")


def test_sphinx_rst_txt_and_title_fallback(tmp_path: Path) -> None:
    doc = one(write(tmp_path / "_sources" / "howto.rst.txt", "Howto\n=====\n\nText.\n"))
    assert doc.kind == "rst" and doc.title == "Howto"
    untitled = one(write(tmp_path / "notes.rest", "just a paragraph\n"))
    assert untitled.title == "notes" and untitled.sections == ()


# ------------------------------------------------------------------------------------------------ text


def test_plain_text_and_extensionless(tmp_path: Path) -> None:
    doc = one(write(tmp_path / "cooking.txt", "A good risotto\r\nneeds stirring.\n"))
    assert (doc.kind, doc.title, doc.sections, doc.text) == ("text", "cooking", (), "A good risotto\nneeds stirring.\n")
    readme = one(write(tmp_path / "README", "Read me first.\n"))
    assert readme.kind == "text" and readme.title == "README"


def test_utf16_with_bom_and_detect_encoding(tmp_path: Path) -> None:
    doc = one(write(tmp_path / "wide.txt", "caf\u00e9 \u2603\n".encode("utf-16")))
    assert doc.text == "caf\u00e9 \u2603\n" and doc.metadata["encoding"] == "utf-16"
    latin = write(tmp_path / "old.txt", ("Les cr\xe8mes br\xfbl\xe9es et les g\xe2teaux. " * 20).encode("cp1252"))
    docs, skipped = load([latin])
    assert docs == [] and "not valid UTF-8 (byte 0xe8 at offset 6)" in skipped[0].reason
    detected = one(latin, detect_encoding=True)
    assert "les g\xe2teaux" in detected.text and detected.metadata["encoding"] not in ("utf-8", "ascii")


# ------------------------------------------------------------------------------------------------ PDF


def test_pdf_pages_and_offsets(tmp_path: Path) -> None:
    pytest.importorskip("pypdf")
    doc = one(write(tmp_path / "manual.pdf", make_pdf(["First page text", "Second page text"])))
    assert doc.kind == "pdf" and doc.title == "manual"
    assert doc.text == "First page text\n\nSecond page text"
    assert doc.metadata["page_starts"] == [0, 17]
    assert doc.text[17:].startswith("Second page")


def test_pdf_encrypted_and_broken_are_skipped(tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(make_pdf(["secret"])))
    writer.encrypt("pw", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    write(tmp_path / "locked.pdf", buffer.getvalue())
    write(tmp_path / "broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")
    write(tmp_path / "fake.pdf", b"this is not a pdf at all\n")
    docs, skipped = load([tmp_path])
    reasons = {Path(s.source).name: s.reason for s in skipped}
    assert docs == []
    assert "encrypted PDF" in reasons["locked.pdf"]
    assert "unreadable PDF" in reasons["broken.pdf"]
    assert "not a PDF" in reasons["fake.pdf"]


def test_pdf_without_pypdf_is_a_skip_naming_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kenning.ingest.source as source_module

    monkeypatch.setattr(source_module, "_pdf_available", lambda: False)
    write(tmp_path / "manual.pdf", make_pdf(["x"]))
    write(tmp_path / "ok.txt", "still indexed\n")
    docs, skipped = load([tmp_path])
    assert [d.title for d in docs] == ["ok"]
    assert skipped[0].source.endswith("manual.pdf")
    assert "pip install 'kenning[pdf]'" in skipped[0].reason
    monkeypatch.setitem(__import__("sys").modules, "pypdf", None)
    item = SourceFile(str(tmp_path / "m.pdf"), str(tmp_path), "pdf", b"%PDF-1.4", "0", {"path": "m.pdf"})
    with pytest.raises(MissingExtraError, match="kenning\\[pdf\\]"):
        parse(item, IngestConfig())


# ------------------------------------------------------------------------------------------------ ids and hashes


def test_content_hash_dedups_and_raw_hash_is_stable(tmp_path: Path) -> None:
    body = "# Same\n\nIdentical content in two places.\n"
    write(tmp_path / "a" / "one.md", body)
    write(tmp_path / "b" / "two.md", body)
    write(tmp_path / "c" / "three.md", body + "changed\n")
    write(tmp_path / "d" / "same.txt", body)
    items = [i for i in discover([tmp_path], IngestConfig()) if isinstance(i, SourceFile)]
    assert [Path(i.source).name for i in items] == ["one.md", "two.md", "three.md", "same.txt"]
    assert all(i.root == str(tmp_path) for i in items)
    assert items[0].raw_hash == hashlib.blake2b(body.encode(), digest_size=16).hexdigest()
    again = [i for i in discover([tmp_path], IngestConfig()) if isinstance(i, SourceFile)]
    assert [i.raw_hash for i in items] == [i.raw_hash for i in again]
    docs = [parse(i, IngestConfig()) for i in items]
    assert docs[0].doc_id == docs[1].doc_id and docs[0].source != docs[1].source
    assert docs[2].doc_id != docs[0].doc_id
    assert docs[3].doc_id != docs[0].doc_id  # same text, different kind
    assert len(docs[0].doc_id) == 16
    expected = hashlib.blake2b(f"markdown\0{docs[0].text}".encode(), digest_size=8).hexdigest()
    assert docs[0].doc_id == expected


# ------------------------------------------------------------------------------------------------ discovery


def test_walk_is_sorted_skips_hidden_and_unknown(tmp_path: Path) -> None:
    write(tmp_path / "b.md", "# B\n")
    write(tmp_path / "a" / "z.txt", "z\n")
    write(tmp_path / "a" / "y.rst", "y\n")
    write(tmp_path / ".git" / "config.txt", "hidden dir\n")
    write(tmp_path / ".hidden.md", "hidden file\n")
    write(tmp_path / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(tmp_path / "script.py", "print('hi')\n")
    write(tmp_path / "api.yaml.gz", gzip.compress(b"a: 1\n"))
    items = list(discover([tmp_path], IngestConfig()))
    assert all(isinstance(i, SourceFile) for i in items), items
    assert [i.metadata["path"] for i in items] == [os.path.join("a", "y.rst"), os.path.join("a", "z.txt"), "b.md"]


def test_explicit_paths(tmp_path: Path) -> None:
    good = write(tmp_path / "good.md", "# Good\n")
    png = write(tmp_path / "logo.png", b"\x89PNG\r\n\x1a\n\x00")
    items = list(discover([good, png, tmp_path / "missing", good, str(tmp_path)], IngestConfig()))
    assert isinstance(items[0], SourceFile) and items[0].source == str(good) and items[0].root == str(good)
    assert items[1] == Skipped(str(png), items[1].reason)
    assert items[1].reason.startswith("unsupported file type .png; supported: .md")
    assert items[2] == Skipped(str(tmp_path / "missing"), "no such file or directory")
    assert len(items) == 3  # good.md again, and inside the folder, is yielded once


def test_gzip_single_file_and_archives(tmp_path: Path) -> None:
    write(tmp_path / "guide.md.gz", gzip.compress(b"# Guide\n\nGzipped.\n"))
    with tarfile.open(tmp_path / "docs.tgz", "w:gz") as tar:
        for name, data in [
            ("./docs/intro.md", b"# Intro\n"),
            ("docs/ref.rst.txt", b"Ref\n===\n"),
            ("docs/page.html.gz", gzip.compress(b"<h1>Page</h1><p>x</p>")),
            ("docs/img.svg", b"<svg/>"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(tmp_path / "more.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("notes/todo.txt", "buy milk\n")
        zf.writestr("notes/", "")
    docs, skipped = load([tmp_path])
    assert not skipped
    by_source = {d.source: d for d in docs}
    tgz, zipped = tmp_path / "docs.tgz", tmp_path / "more.zip"
    assert sorted(by_source) == sorted(
        [
            f"{tgz}!/docs/intro.md",
            f"{tgz}!/docs/ref.rst.txt",
            f"{tgz}!/docs/page.html.gz",
            str(tmp_path / "guide.md.gz"),
            f"{zipped}!/notes/todo.txt",
        ]
    )
    guide = by_source[str(tmp_path / "guide.md.gz")]
    assert guide.title == "Guide" and guide.kind == "markdown" and guide.metadata["compressed"] == "gzip"
    page = by_source[f"{tgz}!/docs/page.html.gz"]
    assert page.kind == "html" and page.title == "Page" and page.metadata["archive"] == str(tgz)
    assert by_source[f"{tgz}!/docs/ref.rst.txt"].kind == "rst"
    assert by_source[f"{tgz}!/docs/intro.md"].metadata["path"] == "docs/intro.md"
    assert by_source[f"{zipped}!/notes/todo.txt"].title == "todo"


def test_symlinks_do_not_loop_or_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "sub" / "a.md", "# A\n")
    write(tmp_path / "outside.md", "# Secret\n")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "alias.md").symlink_to(root / "sub" / "a.md")
    (root / "escape.md").symlink_to(tmp_path / "outside.md")
    (root / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    docs, skipped = load([root])
    assert sorted(d.source for d in docs) == [str(root / "alias.md"), str(root / "sub" / "a.md")]
    assert docs[0].doc_id == docs[1].doc_id
    reasons = {Path(s.source).name: s.reason for s in skipped}
    assert "outside the input" in reasons["escape.md"]
    assert reasons["dangling.md"] == "broken symlink"
    assert "Secret" not in "".join(d.text for d in docs)


# ------------------------------------------------------------------------------------------------ BEIR


def test_beir_records(tmp_path: Path) -> None:
    lines = [
        json.dumps({"_id": "d1", "title": "Aspirin", "text": "Aspirin reduces fever."}),
        json.dumps({"id": 7, "text": "No title here."}),
        "",
        "{not json",
        json.dumps({"_id": "d3", "title": "x"}),
        json.dumps({"text": "no id"}),
        json.dumps({"_id": "d1", "text": "duplicate"}),
        json.dumps({"_id": "d4", "text": 5}),
    ]
    corpus = write(tmp_path / "corpus.jsonl", "\n".join(lines) + "\n")
    docs, skipped = load([corpus])
    assert [d.source for d in docs] == [f"{corpus}#d1", f"{corpus}#7"]
    first, second = docs
    assert (first.kind, first.title, first.text) == ("beir", "Aspirin", "Aspirin\n\nAspirin reduces fever.")
    assert first.sections[0].title == "Aspirin" and first.sections[0].start == 0
    assert first.metadata == {"beir_id": "d1"}
    assert (second.title, second.text, second.sections) == ("", "No title here.", ())
    assert [s.source for s in skipped] == [f"{corpus}:line {n}" for n in (4, 5, 6, 7, 8)]
    assert "not valid JSON" in skipped[0].reason
    assert skipped[1].reason == 'missing field "text"'
    assert skipped[2].reason == 'missing field "_id" (or "id")'
    assert "duplicate" in skipped[3].reason
    assert 'field "text" must be a string' in skipped[4].reason
    item = next(i for i in discover([corpus], IngestConfig()) if isinstance(i, SourceFile))
    assert item.data == lines[0].encode()


def test_beir_folder_indexes_only_corpus(tmp_path: Path) -> None:
    dataset = tmp_path / "mini"
    write(dataset / "corpus.jsonl", json.dumps({"_id": "1", "text": "doc"}) + "\n")
    write(dataset / "queries.jsonl", json.dumps({"_id": "q1", "text": "query"}) + "\n")
    write(dataset / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\n")
    write(dataset / "README.md", "# About\n")
    docs, skipped = load([tmp_path])
    assert [d.source for d in docs] == [f"{dataset / 'corpus.jsonl'}#1"] and not skipped


def test_scifact_corpus_is_fast() -> None:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip("SciFact not available")
    start = time.perf_counter()
    docs, skipped = load([SCIFACT])
    elapsed = time.perf_counter() - start
    assert len(docs) == 5183 and not skipped
    assert elapsed < 2.0, elapsed
    assert all(d.source.startswith(str(SCIFACT / "corpus.jsonl") + "#") for d in docs)
    assert sum(1 for d in docs if d.title) > 5000


# ------------------------------------------------------------------------------------------------ demo corpora


def _demo(name: str) -> Path:
    path = CORPORA / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path


def test_postgresql_html_manual() -> None:
    archive = _demo("postgresql-15.20-doc-html.tar.gz")
    start = time.perf_counter()
    docs, skipped = load([archive])
    elapsed = time.perf_counter() - start
    assert len(docs) >= 1100, (len(docs), skipped[:5])
    assert elapsed < 10, elapsed
    assert all(d.title for d in docs)
    levels = {s.level for d in docs for s in d.sections}
    assert {1, 2, 3, 4} <= levels
    vacuum = next(d for d in docs if d.source.endswith("!/html/sql-vacuum.html"))
    assert "VACUUM" in vacuum.title
    assert {"Synopsis", "Description", "Parameters"} <= {s.title for s in vacuum.sections}
    assert "reclaims storage occupied by dead tuples" in vacuum.text
    nav_words = {"Prev", "Up", "Next", "Home"}
    for doc in docs:
        cells = {cell.strip() for line in doc.text.split("\n") for cell in line.split(" | ")}
        assert not nav_words & cells, (doc.source, nav_words & cells)
        assert_sections_point_at_headings(doc)
    assert len({d.doc_id for d in docs}) == len(docs)


def test_docker_markdown_docs() -> None:
    archive = _demo("docker-doc-20.10.24-md.tar.gz")
    docs, _ = load([archive])
    markdown = [d for d in docs if d.kind == "markdown"]
    assert len(markdown) >= 170
    assert sum(1 for d in markdown if d.metadata.get("compressed") == "gzip") >= 70
    assert all(d.sections for d in markdown if len(d.text) > 2000)
    run = next(
        d
        for d in markdown
        if d.source.endswith("reference/commandline/run.md") or d.source.endswith("reference/commandline/run.md.gz")
    )
    assert run.title == "run" and "--detach" in run.text
    for doc in markdown:
        assert_sections_point_at_headings(doc)
        assert "This file is maintained within the docker/cli" not in doc.text


def test_python_rst_sources() -> None:
    archive = _demo("python-3.11.2-doc-rst-sources.tar.gz")
    docs, skipped = load([archive])
    assert len(docs) >= 490 and not skipped
    assert all(d.kind == "rst" for d in docs)
    os_doc = next(d for d in docs if d.source.endswith("!/_sources/library/os.rst.txt"))
    assert os_doc.title == "os --- Miscellaneous operating system interfaces"
    assert os_doc.sections[0].level == 1 and {s.level for s in os_doc.sections} >= {1, 2, 3}
    assert "Process Parameters" in [s.title for s in os_doc.sections]
    for doc in docs:
        assert_sections_point_at_headings(doc)
