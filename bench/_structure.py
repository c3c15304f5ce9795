"""Gold top-level structure of the demo corpora, read from the archives themselves, and answers scored against it.

Nothing here is a hand-written topic list: the PostgreSQL manual's Parts come from ``index.html``'s table of
contents and every page reaches its Part by following its navigation header's "Up" link; the Python docs' and the
Docker docs' topics are their top folders. An answer covers a topic when a chunk it cites comes from a page of that
topic *and* a claim verified against that chunk got a SUPPORT verdict.

>>> gold = Structure("toy", topics=("Tutorial", "Reference"),
...                  topic_of_member={"html/a.html": "Tutorial", "html/b.html": "Reference", "html/c.html": None})
>>> gold.topic_of_source("/data/toy.tar.gz!/html/b.html")
'Reference'
>>> gold.topic_of_source("/data/toy.tar.gz!/html/c.html") is None  # front matter: known, counted for no topic
True
"""

from __future__ import annotations

import gzip
import posixpath
import re
import tarfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from kenning.types import Answer

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora"
ARCHIVES = {
    "postgres": CORPORA / "postgresql-15.20-doc-html.tar.gz",
    "python": CORPORA / "python-3.11.2-doc-rst-sources.tar.gz",
    "docker": CORPORA / "docker-doc-20.10.24-md.tar.gz",
}

__all__ = ["ARCHIVES", "Structure", "Coverage", "load_structure", "score_answer", "member_of", "STRUCTURES"]


@dataclass(frozen=True)
class Structure:
    """A corpus's scored top-level topics (in reading order) and the topic of each archive member.

    A member mapped to ``None`` is known but belongs to no scored topic (front and back matter, root files).
    """

    corpus: str
    topics: tuple[str, ...]
    topic_of_member: Mapping[str, str | None] = field(repr=False)
    unmapped: tuple[str, ...] = ()  # documents whose topic could not be derived (reported as coverage)

    def topic_of_source(self, source: str) -> str | None:
        """The topic of an indexed source path (``/x.tar.gz!/member`` or a plain path ending in the member)."""
        return self.topic_of_member.get(member_of(source))

    def coverage(self) -> dict[str, object]:
        """How many documents map to a scored topic, to front/back matter, or to nothing; pages per topic."""
        per_topic = Counter(t for t in self.topic_of_member.values() if t is not None)
        mapped = sum(per_topic.values())
        total = len(self.topic_of_member) + len(self.unmapped)
        return {
            "documents": total,
            "in_a_topic": mapped,
            "front_back_or_root": len(self.topic_of_member) - mapped,
            "unmapped": len(self.unmapped),
            "unmapped_examples": list(self.unmapped[:5]),
            "per_topic": {t: per_topic.get(t, 0) for t in self.topics},
        }


def member_of(source: str) -> str:
    """The archive member path of an indexed source: the part after the last ``!/``, without a ``.gz`` suffix.

    >>> member_of("/d/docs.tar.gz!/docker-doc/extend/config.md.gz")
    'docker-doc/extend/config.md'
    >>> member_of("/home/me/docs/html/sql-select.html")  # a plain file: its path
    '/home/me/docs/html/sql-select.html'
    """
    member = source.rsplit("!/", 1)[1].lstrip("/") if "!/" in source else source
    return member[:-3] if member.endswith(".gz") else member


# -- PostgreSQL: Parts from the table of contents, pages up to their Part --------------------------------------------


class _TopToc(HTMLParser):
    """The entries of index.html's outermost ``<dl class="toc">``: (kind, href, title)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # <dl> nesting inside the toc
        self.entries: list[tuple[str, str, str]] = []
        self._span: str | None = None
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "dl" and (self.depth or a.get("class") == "toc"):
            self.depth += 1
        elif tag == "span" and self.depth == 1 and self._span is None:
            self._span = a.get("class") or ""
        elif tag == "a" and self._span is not None and self._href is None:
            self._href = a.get("href") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "dl" and self.depth:
            self.depth -= 1
        elif tag == "a" and self._href is not None and self._span is not None:
            self.entries.append((self._span, self._href, " ".join("".join(self._text).split())))
            self._span, self._href, self._text = None, None, []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)


_UP = re.compile(r'<a accesskey="u" href="([^"#]+)[^"]*"')


def parse_postgres(pages: Mapping[str, str], *, folder: str = "html") -> Structure:
    """Parts of the manual (``class="part"`` entries of index.html's top TOC) and each page's Part.

    ``pages`` maps a member path (``html/x.html``) to its HTML. A page belongs to the top-level TOC entry its chain
    of "Up" links reaches; entries that are not Parts (Preface, Bibliography, Index) count for no topic.
    """
    toc = _TopToc()
    toc.feed(pages[f"{folder}/index.html"])
    top = {href: (kind, title) for kind, href, title in toc.entries}
    topics = tuple(title for kind, _href, title in toc.entries if kind == "part")
    up = {}
    for member, html in pages.items():
        m = _UP.search(html)
        if m:
            up[posixpath.basename(member)] = m.group(1)
    topic_of: dict[str, str | None] = {}
    unmapped: list[str] = []
    for member in pages:
        page, seen = posixpath.basename(member), set()
        while page not in top and page in up and page not in seen:
            seen.add(page)
            page = up[page]
        if page in top:
            kind, title = top[page]
            topic_of[member] = title if kind == "part" else None
        elif page == "index.html" or member.endswith("/index.html"):
            topic_of[member] = None  # the home page and pages directly under it (legal notice)
        else:
            unmapped.append(member)
    return Structure("postgres", topics, topic_of, tuple(sorted(unmapped)))


# -- Python and Docker: top folders ---------------------------------------------------------------------------------


def parse_folders(corpus: str, members: list[str], *, depth: int = 1) -> Structure:
    """Topics = the folders ``depth`` levels below the archive's root folder; files above them count for none.

    >>> s = parse_folders("py", ["_sources/about.rst.txt", "_sources/library/os.rst.txt", "_sources/faq/gui.rst.txt"])
    >>> s.topics, s.topic_of_source("x.tgz!/_sources/library/os.rst.txt"), s.topic_of_source("_sources/about.rst.txt")
    (('faq', 'library'), 'library', None)
    """
    topic_of: dict[str, str | None] = {}
    for member in members:
        parts = member.split("/")
        topic_of[member] = parts[depth] if len(parts) > depth + 1 else None
    topics = tuple(sorted({t for t in topic_of.values() if t is not None}))
    return Structure(corpus, topics, topic_of)


def _read_archive(path: Path, keep: Callable[[str], bool]) -> dict[str, bytes]:
    out = {}
    with tarfile.open(path) as tar:
        for info in tar:
            if info.isfile() and keep(info.name):
                data = tar.extractfile(info).read()  # type: ignore[union-attr]
                name = info.name
                if name.endswith(".gz"):
                    data, name = gzip.decompress(data), name[:-3]
                out[name] = data
    return out


def _load_postgres(path: Path) -> Structure:
    raw = _read_archive(path, lambda n: n.endswith(".html"))
    return parse_postgres({k: v.decode("utf-8", "replace") for k, v in raw.items()})


def _load_python(path: Path) -> Structure:
    with tarfile.open(path) as tar:
        members = [i.name for i in tar if i.isfile() and i.name.endswith((".rst.txt", ".rst", ".txt"))]
    return parse_folders("python", members)


def _load_docker(path: Path) -> Structure:
    with tarfile.open(path) as tar:
        members = [member_of(i.name) for i in tar if i.isfile() and ".md" in i.name]
    return parse_folders("docker", members)


STRUCTURES: dict[str, Callable[[Path], Structure]] = {
    "postgres": _load_postgres,
    "python": _load_python,
    "docker": _load_docker,
}


def load_structure(corpus: str, archive: Path | None = None) -> Structure:
    """The gold structure of a registered corpus, read from its archive (default: the shared copy)."""
    if corpus not in STRUCTURES:
        raise ValueError(f"unknown corpus {corpus!r}; known: {', '.join(STRUCTURES)}")
    return STRUCTURES[corpus](archive or ARCHIVES[corpus])


# -- scoring ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What one answer covers: topics backed by a SUPPORT verdict on a cited chunk, topics cited at all, claims."""

    topics_supported: tuple[str, ...]
    topics_cited: tuple[str, ...]
    claims: int
    supported_claims: int
    cited_chunks: int
    answerable: bool

    @property
    def share_supported(self) -> float:
        return self.supported_claims / self.claims if self.claims else 0.0


def score_answer(answer: Answer, topic_of_source: Callable[[str], str | None]) -> Coverage:
    """Score ``answer`` against a structure's ``topic_of_source``.

    A topic is *supported* when some claim's verdict is SUPPORT and its ``source_id`` is the chunk id of a citation
    the answer cites whose source maps to that topic; *cited* when any cited chunk maps to it.
    """
    cited = {c.chunk_id: c.source for c in answer.citations if c.cited}
    topics_cited = {t for s in cited.values() if (t := topic_of_source(s)) is not None}
    supported = [v for v in answer.verdicts if v.label == "SUPPORT"]
    topics_supported = {
        t for v in supported if v.source_id in cited and (t := topic_of_source(cited[v.source_id])) is not None
    }
    return Coverage(
        topics_supported=tuple(sorted(topics_supported)),
        topics_cited=tuple(sorted(topics_cited)),
        claims=len(answer.verdicts),
        supported_claims=len(supported),
        cited_chunks=len(cited),
        answerable=answer.answerable,
    )
