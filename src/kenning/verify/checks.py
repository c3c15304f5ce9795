"""Plain-text checks every offline verifier shares: evidence spans, word overlap, and numbers/entities that must match.

Nothing here loads a model. ``evidence_spans`` cuts sources into sentences and two-sentence windows (each an exact
slice of its source), ``coverage`` says how much of a claim's content a span repeats, and ``check_facts`` finds the
numbers, dates and names in a claim that the evidence does not contain.

>>> check_facts("Mortality fell by 20% in 2019.", "Mortality fell by 30% in 2019.").missing_numbers
('20%',)
>>> check_facts("Aspirin lowers the risk.", "aspirin lowered the risk of stroke").ok
True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..chunking.split import sentence_ends
from .claims import Source

__all__ = [
    "Span",
    "sentence_bounds",
    "evidence_spans",
    "content_tokens",
    "coverage",
    "FactCheck",
    "check_facts",
    "find_numbers",
]

_STOP = frozenset(
    """a an the of in on at to for and or but with by from as is are was were be been being that this these those it
    its which who whom whose than then there their we our us you your he she they them has have had do does did can
    could may might will would should shall into through during between after before about against over under such
    both each all any some more most other only own same so too very also here where when while how what why if
    whether results result methods method conclusion conclusions background objective objectives purpose design
    setting settings findings introduction discussion""".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:[.'-][A-Za-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Span:
    """A candidate piece of evidence: ``text == sources[source].text[start:end]``."""

    source: int  # 0-based position in the sources given
    start: int
    end: int
    text: str


# Blank lines and heading lines end a sentence even without a full stop: a span must never run from the end of one
# section into the next ("...is not removed. ## VACUUM FULL  VACUUM FULL rewrites...").
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n|\n(?=[ \t]*#{1,6}[ \t])|(?m:^[ \t]*#{1,6}[ \t][^\n]*\n)")


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (stripped of surrounding space), cut also at blank lines and around headings."""
    breaks = {m.end() for m in _BLOCK_BREAK.finditer(text)}
    cuts = sorted({0, *sentence_ends(text, 0, len(text)), *breaks, len(text)})
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a and re.search(r"[A-Za-z0-9]", text[a:b]):
            out.append((a, b))
    return out


def evidence_spans(sources: Sequence[Source], *, windows: bool = True) -> list[Span]:
    """Every sentence of every source, and (with ``windows``) every pair of neighbouring sentences."""
    spans: list[Span] = []
    for i, src in enumerate(sources):
        bounds = sentence_bounds(src.text)
        for a, b in bounds:
            spans.append(Span(i, a, b, src.text[a:b]))
        if windows:
            for (a, _), (_, b) in zip(bounds, bounds[1:], strict=False):
                spans.append(Span(i, a, b, src.text[a:b]))
    return spans


@functools.lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202
    import Stemmer  # PyStemmer, a core dependency (bm25s uses it)

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def content_tokens(text: str) -> list[str]:
    """Lower-cased, stemmed words of ``text`` without stop words."""
    return [_stem(w) for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in _STOP]


def coverage(claim_tokens: Sequence[str], span_tokens: Sequence[str]) -> float:
    """The share of the claim's distinct content words that the span contains (longer words weigh more)."""
    want = set(claim_tokens)
    if not want:
        return 0.0
    have = set(span_tokens)
    weight = {t: 1.0 + min(len(t), 10) / 5 for t in want}
    return sum(w for t, w in weight.items() if t in have) / sum(weight.values())


# -- numbers, dates, names ---------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![A-Za-z0-9.,-])[-−]?\d+(?:,\d{3})*(?:\.\d+)?(?:\s?%|\s?percent\b)?")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_SCALE = {"half": 50.0, "twice": 2.0, "double": 2.0, "triple": 3.0, "thousand": 1e3, "million": 1e6, "billion": 1e9}
_MONTHS = "january february march april may june july august september october november december".split()
_MONTH = re.compile(r"\b(" + "|".join(m.capitalize() for m in _MONTHS if m != "may") + r")\b")
# Names: acronyms and gene-like tokens (CKD, IL-6, p53, BRCA1), or capitalised words not opening a sentence.
_ACRONYM = re.compile(
    r"\b(?=[A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*[A-Z0-9])(?=[A-Za-z0-9-]*[A-Z0-9]{2})[A-Za-z0-9][A-Za-z0-9-]*\b"
)
_CAPITALISED = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]{2,}(?:[ -][A-Z][a-z]+)*")


def _value(token: str) -> float | None:
    t = token.replace(",", "").replace("−", "-").replace("percent", "").replace("%", "").strip()
    try:
        return float(t)
    except ValueError:
        return None


def find_numbers(text: str) -> list[tuple[str, float]]:
    """Numbers in ``text`` as (as written, value); small number words count ("two" → 2)."""
    out = [(m.group(0).strip(), v) for m in _NUMBER.finditer(text) if (v := _value(m.group(0))) is not None]
    out += [(m.group(0), float(_NUMBER_WORDS[m.group(0).lower()])) for m in _NUMBER_WORD.finditer(text)]
    return out


_GENE = re.compile(r"\b[a-z]{1,3}\d+[A-Za-z0-9]*\b")  # p53, miR21
_PARENS = re.compile(r"\([^()]*\)")
_SUFFIX = re.compile(r"(?:-[a-z]+)+$")  # HIV-positive → HIV


def _names(text: str) -> list[str]:
    """Acronyms, gene-like tokens, capitalised names and months; an abbreviation in parentheses is not a name to
    check (the words before it are)."""
    text = _PARENS.sub(" ", text)
    found = [_SUFFIX.sub("", m.group(0)) for m in _ACRONYM.finditer(text)]
    found += [m.group(0) for m in _GENE.finditer(text)]
    found += [m.group(0) for m in _CAPITALISED.finditer(text)]
    found += [m.group(0) for m in _MONTH.finditer(text)]
    return [n for n in dict.fromkeys(found) if len(n) > 1]


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


@dataclass(frozen=True, slots=True)
class FactCheck:
    """What the claim states that the evidence lacks: numbers (with whether the evidence has other numbers of the
    same kind, i.e. a conflict rather than an omission) and names."""

    missing_numbers: tuple[str, ...] = ()
    conflicting: bool = False
    missing_names: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing_numbers and not self.missing_names

    def describe(self) -> str:
        parts = []
        if self.missing_numbers:
            shown = ", ".join(repr(n) for n in self.missing_numbers[:3])
            parts.append(f"{shown} {'differs from' if self.conflicting else 'not in'} the evidence")
        if self.missing_names:
            parts.append(", ".join(repr(n) for n in self.missing_names[:3]) + " not in the evidence")
        return "; ".join(parts) if parts else "all numbers and names match"


def _has_number(value: float, pool: Sequence[float]) -> bool:
    for v in pool:
        if abs(v - value) <= 1e-9 * max(1.0, abs(v)):
            return True
        if value in _SCALE.values() and v == value:
            return True
    return False


def check_facts(claim: str, evidence: str, *, context: str = "") -> FactCheck:
    """Numbers, dates and names in ``claim`` that ``evidence`` (or, for names, the wider ``context``) lacks.

    Numbers must be in the evidence itself: a claim saying 20% where the evidence says 30% is a conflict. Years and
    numbers count; a number that is part of a name (IL-6, BRCA1) is checked as a name.
    """
    names_in_claim = _names(claim)
    name_digits = {_norm(n) for n in names_in_claim if re.search(r"\d", n)}
    ev_numbers = [v for _, v in find_numbers(evidence)]
    missing_numbers = []
    for text, value in find_numbers(claim):
        if _norm(text) in name_digits:
            continue
        if not _has_number(value, ev_numbers) and not _has_number(value, [v * 100 for v in ev_numbers]):
            missing_numbers.append(text)
    ev_norm = _norm(evidence + " " + context)
    missing_names = tuple(n for n in names_in_claim if _norm(n) and _norm(n) not in ev_norm)
    conflicting = bool(missing_numbers) and bool(ev_numbers)
    return FactCheck(tuple(dict.fromkeys(missing_numbers)), conflicting, missing_names)
