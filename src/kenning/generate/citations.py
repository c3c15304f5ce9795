"""Citations in a generated answer: find the ``[n]`` markers, map them to sources, drop the ones that do not exist.

>>> text, cited, invalid = resolve_citations("A holds [1]. B holds [7][2].", n_sources=4)
>>> text, sorted(cited), invalid
('A holds [1]. B holds [2].', [1, 2], (7,))
"""

from __future__ import annotations

import re

from ..providers.llm.fence import MARKER, neutralise_markers

__all__ = ["CITATION", "NOT_IN_SOURCES", "cited_numbers", "resolve_citations", "neutralise_markers"]

CITATION = re.compile(r"\s*" + MARKER.pattern)
"""A citation marker: ``[3]``, ``[1, 2]``, ``[2-4]``, with the space before it."""
_CITATION_RUN = re.compile(rf"(?:{CITATION.pattern})+")

NOT_IN_SOURCES = re.compile(
    r"\b(not (?:found |given |stated |mentioned )?in the (?:provided )?sources|"
    r"(?:the )?sources do not (?:say|mention|contain|state)|i (?:do not|don't) know)\b",
    re.I,
)
"""How an answer says the sources do not hold the answer."""


def cited_numbers(group: str) -> tuple[int, ...]:
    """The numbers in a marker's inside: ``"1, 3"`` → (1, 3); ``"2-4"`` → (2, 3, 4)."""
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group):
        if re.fullmatch(r"\d+\s*[–-]\s*\d+", part):
            a, b = (int(x) for x in re.split(r"\s*[–-]\s*", part))
            if 0 < b - a < 20:
                out.extend(range(a, b + 1))
                continue
        out.extend(int(n) for n in re.findall(r"\d+", part))
    return tuple(dict.fromkeys(out))


def resolve_citations(text: str, *, n_sources: int) -> tuple[str, set[int], tuple[int, ...]]:
    """Normalise citation markers to ``[n]``, remove numbers outside ``1..n_sources``.

    Returns the cleaned text, the set of valid source numbers cited, and the invalid numbers (in order seen).
    """
    cited: set[int] = set()
    invalid: list[int] = []

    def fix(m: re.Match[str]) -> str:
        run = m.group(0)
        lead = run[: len(run) - len(run.lstrip())]
        keep = []
        for group in CITATION.finditer(run):
            for n in cited_numbers(group.group(1)):
                if 1 <= n <= n_sources:
                    if n not in keep:
                        keep.append(n)
                    cited.add(n)
                elif n not in invalid:
                    invalid.append(n)
        return (lead + "".join(f"[{n}]" for n in keep)) if keep else ""

    cleaned = _CITATION_RUN.sub(fix, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    return cleaned.strip(), cited, tuple(invalid)
