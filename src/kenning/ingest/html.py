"""HTML → clean text that keeps its headings, with selectolax's lexbor parser and no recursion.

* Dropped: ``script style noscript template nav head svg iframe``, site ``<header>``/``<footer>`` (a ``<header>``
  inside ``<article>``/``<main>`` is kept: it holds the article's title), elements marked ``hidden`` or
  ``role="navigation"``, DocBook navigation (``div.navheader``, ``div.navfooter``: Prev/Up/Next/Home) and Sphinx
  ``a.headerlink`` pilcrows.
* ``h1``–``h6`` become ``## Heading`` lines and one :class:`~kenning.types.Section` each, starting at that line.
* Block elements end lines; paragraphs, lists, tables, ``pre`` and headings are separated by one blank line.
  ``<pre>`` keeps its whitespace, list items start with ``- `` (indented when nested), table cells are joined by
  `` | ``; elsewhere runs of whitespace collapse to one space.
* Nesting deeper than ``ingest.max_html_depth`` is flattened in the source before parsing (see
  :mod:`kenning.ingest.html_guard`), and the tree is walked with an explicit stack: 100,000 nested ``<div>`` take
  a fraction of a second and never reach Python's recursion limit.

>>> from kenning.ingest.html import parse_html
>>> text, title, sections = parse_html("<title>T</title><h1>Intro</h1><p>Hello   <b>world</b></p>", "x")
>>> print(text)
# Intro
<BLANKLINE>
Hello world
>>> title, sections
('T', (Section(level=1, title='Intro', start=0),))
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..types import Section
from .budget import check_budget
from .html_guard import limit_depth

__all__ = ["parse_html"]

_SKIP = frozenset("script style noscript template nav head svg iframe object select button footer math".split())
_SKIP_CLASSES = frozenset({"navheader", "navfooter", "headerlink"})
_LINE = frozenset(
    "div li tr dd dt caption figcaption address center details summary legend fieldset main body form option "
    "tbody thead tfoot".split()
)
_PARA = frozenset(
    "p pre table ul ol dl blockquote section article aside figure hr header menu h1 h2 h3 h4 h5 h6 listing xmp".split()
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKISH = _LINE | _PARA
_WS = re.compile(r"\s+")


# ------------------------------------------------------------------------------------------- text output


class _Text:
    """Collects lines of output; knows about pre, list, table and heading state."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.cur: list[str] = []
        self.pre = 0
        self.cell = 0  # > 0 inside a table cell: blocks become spaces, not new lines
        self.first_cell = True
        self.li = 0
        self.lists = 0
        self.prefix = ""
        self.headings: list[tuple[int, int, str]] = []  # (line index, level, title)

    def text(self, s: str) -> None:
        if self.pre:
            first, *rest = s.split("\n")
            self.cur.append(first)
            for part in rest:
                self.flush()
                self.cur.append(part)
        else:
            s = _WS.sub(" ", s)
            if s:
                self.cur.append(s)

    def flush(self) -> None:
        line = "".join(self.cur)
        self.cur.clear()
        line = line.rstrip() if self.pre else _WS.sub(" ", line).strip()
        if not line:
            if self.pre and self.lines and self.lines[-1]:
                self.lines.append("")
            return
        if self.prefix:
            line, self.prefix = self.prefix + line, ""
        self.lines.append(line)

    def end_line(self) -> None:
        if self.cell:
            self.cur.append(" ")
        else:
            self.flush()

    def blank(self) -> None:
        if self.cell or self.li:
            self.end_line()
            return
        self.flush()
        if self.lines and self.lines[-1]:
            self.lines.append("")


def _skip_by_attributes(node: LexborNode) -> bool:
    attrs = node.attributes
    if not attrs:
        return False
    if "hidden" in attrs or attrs.get("role") == "navigation" or attrs.get("aria-hidden") == "true":
        return True
    classes = attrs.get("class")
    return bool(classes) and not _SKIP_CLASSES.isdisjoint(classes.split())


class _Walker:
    """Enter/leave handlers for an explicit-stack walk of the tree."""

    def __init__(self) -> None:
        self.out = _Text()
        self.article = 0
        self.tables: list[tuple[int, bool]] = []
        self.heading: tuple[str, int] | None = None  # (tag, line count when it began) while inside a heading
        self.nested = 0  # same-name headings inside that heading (broken HTML)

    def enter(self, node: LexborNode, tag: str) -> bool:
        out = self.out
        if tag == "-text":
            out.text(node.text_content or "")
            return False
        if tag[0] in "-_!" or tag in _SKIP:
            return False
        if (tag == "header" and not self.article) or _skip_by_attributes(node):
            return False
        if tag in ("article", "main"):
            self.article += 1
        if self.heading is not None:  # inside a heading everything is inline
            if tag == self.heading[0]:
                self.nested += 1
            if tag in _BLOCKISH or tag == "br":
                out.cur.append(" ")
            return True
        if tag in _HEADINGS and not out.cell:
            out.blank()
            out.prefix = "#" * _HEADINGS[tag] + " "
            self.heading = (tag, len(out.lines))
        elif tag == "br":
            out.end_line()
        elif tag in ("td", "th"):
            if not out.first_cell:
                out.cur.append(" | ")
            out.first_cell = False
            out.cell += 1
        elif tag == "tr":
            out.flush()
            out.first_cell = True
        elif tag == "table":
            out.blank()
            self.tables.append((out.cell, out.first_cell))
            out.cell, out.first_cell = 0, True
        elif tag == "li":
            out.end_line()
            out.li += 1
            out.prefix = "  " * min(max(out.lists - 1, 0), 8) + "- "
        elif tag in _PARA:
            out.blank()
            if tag == "pre":
                out.pre += 1
            elif tag in ("ul", "ol", "menu"):
                out.lists += 1
        elif tag in _LINE:
            out.end_line()
        return True

    def leave(self, tag: str) -> None:
        out = self.out
        if tag in ("article", "main"):
            self.article -= 1
        if self.heading is not None:
            if tag != self.heading[0]:
                if tag in _BLOCKISH:
                    out.cur.append(" ")
                return
            if self.nested:
                self.nested -= 1
                return
            self._end_heading()
        elif tag in ("td", "th"):
            out.cell -= 1
        elif tag == "tr":
            out.flush()
            out.first_cell = True
        elif tag == "table":
            out.flush()
            if self.tables:
                out.cell, out.first_cell = self.tables.pop()
            out.blank()
        elif tag == "li":
            out.end_line()
            out.li -= 1
            out.prefix = ""
        elif tag in _PARA:
            if tag == "pre":
                out.flush()
                out.pre -= 1
            elif tag in ("ul", "ol", "menu"):
                out.lists -= 1
            out.blank()
        elif tag in _LINE:
            out.end_line()

    def _end_heading(self) -> None:
        out = self.out
        assert self.heading is not None
        tag, before = self.heading
        self.heading = None
        prefix = out.prefix
        out.flush()
        out.prefix = ""
        if len(out.lines) > before and prefix and out.lines[-1].startswith(prefix):
            title = out.lines[-1][len(prefix) :].rstrip("\u00b6 ").strip()
            if title:
                out.headings.append((len(out.lines) - 1, _HEADINGS[tag], title))
            else:
                out.lines.pop()
        out.blank()


def _walk(root: LexborNode, walker: _Walker) -> None:
    """Visit every node under ``root`` in document order with an explicit stack (no Python recursion)."""
    stack: list[tuple[LexborNode, str]] = []
    node: LexborNode | None = root
    seen = 0
    while node is not None:
        seen += 1
        if not seen & 0xFFF:
            check_budget()
        tag = node.tag or "-"
        child = node.child if walker.enter(node, tag) else None
        if child is not None:
            stack.append((node, tag))
            node = child
            continue
        if tag[0] not in "-_!":
            walker.leave(tag)
        if not stack:
            return
        node = node.next
        while node is None:
            parent, parent_tag = stack.pop()
            walker.leave(parent_tag)
            if not stack:
                return
            node = parent.next


def parse_html(text: str, stem: str, *, max_depth: int = 512) -> tuple[str, str, tuple[Section, ...]]:
    """``(text, title, sections)`` of an HTML page; title from ``<title>``, else the first ``h1``, else ``stem``."""
    tree = LexborHTMLParser(limit_depth(text, max_depth))
    title_node = tree.css_first("head > title")
    title = _WS.sub(" ", title_node.text(deep=True)).strip() if title_node is not None else ""
    walker = _Walker()
    if tree.root is not None:
        _walk(tree.root, walker)
    out = walker.out
    out.flush()
    lines = out.lines
    while lines and not lines[-1]:
        lines.pop()
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    sections = tuple(Section(level, name, starts[index]) for index, level, name in out.headings if index < len(lines))
    if not title:
        title = next((s.title for s in sections if s.level == 1), "") or stem
    return "\n".join(lines), title, sections
