"""Markdown: the raw text is kept (chunkers and readers both like it), headings come from markdown-it's tokens.

So ``#`` lines inside code fences are not headings, and setext headings (``Title`` over ``=====``) are. A leading
front-matter block (YAML ``---`` or TOML ``+++``) is cut off; its ``title`` becomes the document title.

>>> from kenning.ingest.markdown import parse_markdown
>>> text, title, sections = parse_markdown("# Intro\\n\\n```\\n# not a heading\\n```\\n\\nSub\\n---\\n", "x")
>>> title, [(s.level, s.title, s.start) for s in sections]
('Intro', [(1, 'Intro', 0), (2, 'Sub', 34)])
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ..types import Section
from .budget import check_budget

__all__ = ["parse_markdown", "split_front_matter"]

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?\n)?\1[ \t]*(?:\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"""^title[ \t]*[:=][ \t]*(?P<q>["']?)(?P<title>.*?)(?P=q)[ \t]*$""", re.MULTILINE)
_MAX_FRONT_MATTER = 64 * 1024
# A heading's title is read from its first characters only: inline parsing of a 20 MB heading line (``# ![[![[…``)
# costs seconds per megabyte, and no real title is this long.
_MAX_HEADING_CHARS = 2000


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # "commonmark" caps nesting at 20 levels, so deeply nested lists or quotes cannot make it recurse far.
    return MarkdownIt("commonmark")


@lru_cache(maxsize=1)
def _block_parser() -> MarkdownIt:
    # Block structure only: inline parsing (links, emphasis) is most of the cost and only headings need it.
    return MarkdownIt("commonmark").disable("inline")


def split_front_matter(text: str) -> tuple[str, str]:
    """``(body, title)``: the text without its front matter, and the ``title`` it declared (or ``""``)."""
    match = _FRONT_MATTER.match(text[:_MAX_FRONT_MATTER])
    if match is None:
        return text, ""
    block = match.group(2) or ""
    found = _FM_TITLE.search(block)
    title = " ".join(found.group("title").split()) if found else ""
    return text[match.end() :].lstrip("\n"), title


def _inline_text(token: Token) -> str:
    """The plain words of a heading's inline token: code spans and link text kept, markup and HTML dropped."""
    parts = []
    inline = _parser().parseInline(token.content[:_MAX_HEADING_CHARS])
    for child in inline[0].children or () if inline else ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return " ".join("".join(parts).split())


def _is_comment(token: Token) -> bool:
    content = token.content.strip()
    return token.type == "html_block" and content.startswith("<!--") and content.endswith("-->")


def _drop_lines(lines: list[str], ranges: list[tuple[int, int]]) -> list[int | None]:
    """Remove ``ranges`` of lines (and the blank lines they leave doubled) in place; return old → new line index."""
    dropped = bytearray(len(lines))
    for start, end in ranges:
        dropped[start:end] = b"\x01" * (min(end, len(lines)) - start)
    kept: list[str] = []
    mapping: list[int | None] = []
    after_comment = False
    for i, line in enumerate(lines):
        if dropped[i] or (after_comment and not line.strip() and (not kept or not kept[-1].strip())):
            after_comment = True
            mapping.append(None)
            continue
        after_comment = False
        mapping.append(len(kept))
        kept.append(line)
    lines[:] = kept
    return mapping


def parse_markdown(text: str, stem: str) -> tuple[str, str, tuple[Section, ...]]:
    """``(text, title, sections)`` for clean Markdown ``text``; ``stem`` is the title of last resort.

    HTML comment blocks (licence banners, editor notes) are removed; everything else is kept verbatim.
    """
    body, fm_title = split_front_matter(text)
    tokens = _block_parser().parse(body)
    check_budget()
    lines = body.split("\n")
    comments = [(t.map[0], t.map[1]) for t in tokens if t.map is not None and _is_comment(t)]
    mapping: list[int | None] = _drop_lines(lines, comments) if comments else list(range(len(lines)))
    line_starts = [0] * (len(lines) + 1)
    for i, line in enumerate(lines):
        line_starts[i + 1] = line_starts[i] + len(line) + 1
    sections: list[Section] = []
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None or i + 1 >= len(tokens):
            continue
        title = _inline_text(tokens[i + 1])
        check_budget()
        line = mapping[token.map[0]] if token.map[0] < len(mapping) else None
        if title and line is not None:
            sections.append(Section(int(token.tag[1]), title, line_starts[line]))
    first_h1 = next((s.title for s in sections if s.level == 1), "")
    return "\n".join(lines), fm_title or first_h1 or stem, tuple(sections)
