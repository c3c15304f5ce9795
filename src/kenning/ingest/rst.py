"""reStructuredText: the raw text is kept; section titles are found the way docutils finds them.

A title is a text line under a blank line (or at the top) followed by an underline of one repeated ASCII
punctuation character at least as long as the title, optionally with a matching overline. Levels follow the order
in which each style (character, with or without overline) first appears, as in docutils. A section starts where its title construct starts:
the overline when there is one, else the title line.

>>> from kenning.ingest.rst import parse_rst
>>> text, title, sections = parse_rst("=====\\nTitle\\n=====\\n\\nIntro.\\n\\nPart\\n----\\n\\nBody.\\n", "x")
>>> title, [(s.level, s.title, s.start) for s in sections]
('Title', [(1, 'Title', 0), (2, 'Part', 27)])
"""

from __future__ import annotations

import re
import string

from ..types import Section

__all__ = ["parse_rst"]

_ADORNMENT = frozenset(string.punctuation)  # docutils accepts any printable ASCII punctuation
_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:`~?([^`<]*?)\s*(?:<[^`]*>)?`")  # :mod:`os` → os
_LITERAL = re.compile(r"``(.+?)``")
_EMPHASIS = re.compile(r"(?<!\w)\*\*?([^*\s](?:[^*]*[^*\s])?)\*\*?(?!\w)")


def _plain(title: str) -> str:
    """A title without inline markup: roles and literals keep their text."""
    return " ".join(_EMPHASIS.sub(r"\1", _LITERAL.sub(r"\1", _ROLE.sub(r"\1", title))).split())


def _adornment(line: str) -> str | None:
    """The character of an adornment line (``=====``), or ``None``."""
    stripped = line.rstrip()
    if len(stripped) < 2 or stripped[0] not in _ADORNMENT or stripped.strip(stripped[0]):
        return None
    return stripped[0]


def parse_rst(text: str, stem: str) -> tuple[str, str, tuple[Section, ...]]:
    """``(text, title, sections)`` for clean reST ``text``; ``stem`` is the title of last resort."""
    lines = text.split("\n")
    starts = [0] * (len(lines) + 1)
    for i, line in enumerate(lines):
        starts[i + 1] = starts[i] + len(line) + 1
    styles: dict[tuple[str, bool], int] = {}
    sections: list[Section] = []
    i, n = 0, len(lines)
    while i < n - 1:
        found = _title_at(lines, i)
        if found is None:
            i += 1
            continue
        char, has_overline, title, used = found
        level = styles.setdefault((char, has_overline), len(styles) + 1)
        sections.append(Section(level, _plain(title), starts[i]))
        i += used
    title = sections[0].title if sections else stem
    return text, title, tuple(sections)


def _title_at(lines: list[str], i: int) -> tuple[str, bool, str, int] | None:
    """``(char, has_overline, title, lines used)`` when a section title begins at line ``i``."""
    if i > 0 and lines[i - 1].strip():
        return None
    over = _adornment(lines[i])
    if over is not None and i + 2 < len(lines):
        title = lines[i + 1].strip()
        under = _adornment(lines[i + 2])
        width = len(lines[i].rstrip())
        if (
            title
            and under == over
            and len(lines[i + 2].rstrip()) == width
            and width >= len(title)
            and _adornment(lines[i + 1]) is None
        ):
            return over, True, title, 3
    line = lines[i]
    if not line.strip() or line[0].isspace() or _adornment(line) is not None:
        return None
    under = _adornment(lines[i + 1])
    if under is None or len(lines[i + 1].rstrip()) < len(line.rstrip()):
        return None
    return under, False, line.strip(), 2
