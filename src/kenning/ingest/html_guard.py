"""Defuse HTML before the parser sees it: nesting and attribute counts that would make tree building quadratic.

The HTML tree builder looks through the stack of open elements on most start tags, and through all earlier
attributes on each new one. 100,000 nested ``<div>`` take lexbor about ten seconds; 100,000 attributes on one tag,
longer. :func:`limit_depth` removes tags nested deeper than ``ingest.max_html_depth`` (block ones become ``<br>``,
so lines survive) and strips the attributes of tags that carry hundreds. Ordinary pages come back unchanged.

>>> from kenning.ingest.html_guard import limit_depth
>>> limit_depth("<div>" * 3 + "x", 2)
'<div><div><br>x'
"""

from __future__ import annotations

import re

__all__ = ["limit_depth"]

_VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr keygen frame basefont bgsound image".split()
)
_RAW_TEXT = frozenset("script style textarea title xmp iframe noembed noframes noscript".split())
_BLOCK = frozenset(
    "address article aside blockquote center dd details div dl dt fieldset figcaption figure footer form h1 h2 h3 "
    "h4 h5 h6 header hr li main menu nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
# Start tags that close an open element of these names, as the HTML tree builder does (p closes p, li closes li).
_AUTO_CLOSE = {
    "p": ("p",),
    "li": ("li",),
    "dt": ("dt", "dd"),
    "dd": ("dt", "dd"),
    "tr": ("td", "th", "tr"),
    "td": ("td", "th"),
    "th": ("td", "th"),
    "option": ("option",),
}
_TAG = re.compile(r"<(?:(!--)|(/?)([a-zA-Z][^\s/>]*))")
_LONG = 2048
_LONG_TAG = re.compile(rf"<[a-zA-Z/][^>]{{{_LONG}}}")
_ATTRIBUTE = re.compile(r"[^\s=/>\"']+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*))?")
_MAX_ATTRIBUTES = 256
_END_TAGS: dict[str, re.Pattern[str]] = {}


def limit_depth(html: str, max_depth: int) -> str:
    """Return ``html`` with tags nested deeper than ``max_depth`` removed (block ones become ``<br>``).

    A linear scan that mimics the tree builder closely enough: void and self-closed tags do not nest, ``p``/``li``
    /``td``… close their open siblings, an end tag closes up to its matching open tag, stray end tags are ignored.
    Tags with more than a few hundred attributes lose them (the parser checks each new attribute against all
    earlier ones). Ordinary pages come back unchanged.
    """
    if html.count("<") <= max_depth and _LONG_TAG.search(html) is None:
        return html
    stack: list[str] = []
    open_counts: dict[str, int] = {}
    dropped: dict[str, int] = {}
    cuts: list[tuple[int, int, str]] = []
    pos = 0
    search, find = _TAG.search, html.find
    while True:
        match = search(html, pos)
        if match is None:
            break
        if match.group(1):  # a comment: skip to its end
            end = find("-->", match.end())
            if end < 0:
                break
            pos = end + 3
            continue
        gt = find(">", match.end())
        if gt < 0:
            break
        pos = gt + 1
        name = match.group(3).lower()
        closing = bool(match.group(2))
        bare = None  # the tag without its attributes, when it has too many
        if gt - match.start() > _LONG and len(_ATTRIBUTE.findall(html, match.end(), gt)) > _MAX_ATTRIBUTES:
            bare = f"<{'/' if closing else ''}{name}>"
        if closing:
            if dropped.get(name):
                dropped[name] -= 1
                cuts.append((match.start(), pos, "<br>" if name in _BLOCK else ""))
                continue
            if open_counts.get(name):
                while stack:
                    top = stack.pop()
                    open_counts[top] -= 1
                    if top == name:
                        break
        elif name in _RAW_TEXT:
            end_tag = _END_TAGS.get(name) or _END_TAGS.setdefault(name, re.compile(rf"</{name}\s*>", re.I))
            found = end_tag.search(html, pos)
            if found is None:
                break
            pos = found.end()
        elif name not in _VOID and html[gt - 1] != "/":
            for closes in _AUTO_CLOSE.get(name, ()):
                if stack and stack[-1] == closes:
                    open_counts[stack.pop()] -= 1
            if len(stack) >= max_depth:
                dropped[name] = dropped.get(name, 0) + 1
                cuts.append((match.start(), pos, "<br>" if name in _BLOCK else ""))
                continue
            stack.append(name)
            open_counts[name] = open_counts.get(name, 0) + 1
        if bare is not None:
            cuts.append((match.start(), gt + 1, bare))
    if not cuts:
        return html
    parts, last = [], 0
    for start, end, replacement in cuts:
        parts.append(html[last:start])
        parts.append(replacement)
        last = end
    parts.append(html[last:])
    return "".join(parts)
