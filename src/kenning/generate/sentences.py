"""Source sentences with the subject they speak about, scored against a question.

A sentence cut from its context can answer the wrong question: in the PostgreSQL manual "The default value is three
connections." belongs to ``superuser_reserved_connections``, the entry after ``max_connections``. Each sentence
therefore carries its **subject**: the nearest definition term above it in the chunk (a short line with no sentence
punctuation, like ``max_connections (integer)``), else the chunk's deepest heading. Sentences are scored with the
subject in front, so a sentence only ranks high when what it talks about matches the question; a sentence that
leans on its context ("This …", "It …", "The default is …") and has no subject is never used on its own.

>>> s = source_sentences([_hit("port (integer)\\n\\nThe TCP port the server listens on; 5432 by default.")])[0]
>>> s.subject, s.text
('port (integer)', 'The TCP port the server listens on; 5432 by default.')
>>> leans_on_context("It takes an exclusive lock."), leans_on_context("VACUUM FULL takes an exclusive lock.")
(True, False)
>>> key_terms("What is the default value of max_connections?")
['max_connections']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..chunking.split import sentence_ends
from ..types import Hit

__all__ = [
    "Sentence",
    "source_sentences",
    "leans_on_context",
    "key_terms",
    "mentions",
    "with_subject",
    "needs_subject",
    "clean_subject",
    "subject_at",
    "identifiers",
]

_HEADING = re.compile(r"^\s*#{1,6}\s")
_WORD = re.compile(r"[A-Za-z0-9_]+")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_TERM_MAX_CHARS = 90
# sentence openings that only make sense with what came before
_DEPENDENT = re.compile(
    r"^(?:this|these|those|that|it|its|they|their|them|such|he|she|both|either|neither|also|however|otherwise|"
    r"here|there|the (?:default|value|setting|parameter|option|function|command|result|former|latter|same|above|"
    r"following)s?)\b",
    re.I,
)
# question words that say what kind of answer is wanted, not what it is about
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how is are was were do does did can could should would will the a an of "
    "to in on for by with and or it its this that these those i you we my your our be been being use used using "
    "make made way ways there their".split()
)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of packed source ``source`` (1-based): ``text == hit.text[start:end]``, and what it is about."""

    source: int
    start: int
    end: int
    text: str
    subject: str = ""
    dependent: bool = False  # leans on what came before ("It …", a list item under a lead-in)


_CODE = re.compile(r"[/\\=;{}<>$`|]|^\s*(?:sudo|tar|cp|rm|cd|ls|mkdir|psql|SELECT|INSERT|UPDATE|CREATE)\b")
_SECTION_NUMBER = re.compile(
    r"^(?:(?i:chapter|part|appendix|section)\s+)?(?:\d+(?:\.\d+)*\.?|[IVXL]+\.|[A-H](?:\.\d+)*\.)\s+"
)


def _is_term(line: str) -> bool:
    """A definition term: short, no sentence end, a few words, not code (``max_connections (integer)``)."""
    line = line.strip()
    return (
        0 < len(line) <= _TERM_MAX_CHARS
        and not re.search(r"[.!?:;,]$", line)
        and len(line.split()) <= 8
        and not _CODE.search(line)
    )


def clean_subject(title: str) -> str:
    """A heading or term without its section number.

    >>> clean_subject("26.2. File System Level Backup"), clean_subject("F.3. amcheck"), clean_subject("File Layout")
    ('File System Level Backup', 'amcheck', 'File Layout')
    """
    return _SECTION_NUMBER.sub("", title.strip().lstrip("#").strip()).strip()


def source_sentences(packed: Sequence[Hit], *, min_words: int = 4, max_chars: int = 600) -> list[Sentence]:
    """Sentences of each source (lines first, then sentence ends), skipping headings, terms and fragments.

    A list item under a lead-in that ends with a colon ("There are two restrictions: - The server must be shut
    down") takes the lead-in as its subject and is marked ``dependent``: alone it says something else.
    """
    out: list[Sentence] = []
    for number, hit in enumerate(packed, start=1):
        text = hit.text
        subject = clean_subject(hit.heading_path[-1]) if hit.heading_path else ""
        lead_in = ""
        for line in re.finditer(r"[^\n]+", text):
            raw = line.group(0)
            if _HEADING.match(raw) or _is_term(raw):
                subject, lead_in = clean_subject(raw), ""
                continue
            item = bool(_LIST_ITEM.match(raw))
            if not item:
                lead_in = ""
            s, e = line.span()
            cuts = [s, *sentence_ends(text, s, e), e]
            for a, b in zip(cuts, cuts[1:], strict=False):
                piece = text[a:b].strip()
                if len(_WORD.findall(piece)) < min_words or len(piece) > max_chars:
                    continue
                lead = len(text[a:b]) - len(text[a:b].lstrip())
                if item and lead_in:
                    out.append(Sentence(number, a + lead, a + lead + len(piece), piece, lead_in, True))
                else:
                    dependent = leans_on_context(piece)
                    out.append(Sentence(number, a + lead, a + lead + len(piece), piece, subject, dependent))
            stripped = raw.rstrip()
            if not item and stripped.endswith(":"):
                cuts = [0, *sentence_ends(stripped, 0, len(stripped))]
                lead_in = stripped[cuts[-2] if len(cuts) > 1 else 0 :].strip().rstrip(":").strip()
    return out


def subject_at(hit: Hit, evidence: str) -> str:
    """The subject of the passage ``evidence`` was quoted from in ``hit`` (its term or heading), or ``""``."""
    at = hit.text.find(evidence.strip()[:80]) if evidence.strip() else -1
    if at < 0:
        return clean_subject(hit.heading_path[-1]) if hit.heading_path else ""
    before = [s for s in source_sentences([hit]) if s.start <= at]
    if before:
        return before[-1].subject
    return clean_subject(hit.heading_path[-1]) if hit.heading_path else ""


def leans_on_context(sentence: str) -> bool:
    """True when the sentence starts with a word that points back ("It", "This", "The default …")."""
    return bool(_DEPENDENT.match(sentence.strip()))


def key_terms(question: str) -> list[str]:
    """Identifiers and names in the question (``max_connections``, ``VACUUM``, ``pg_dump``, ``CamelCase``): words
    an answer must be about."""
    out = []
    for word in _WORD.findall(question):
        ident = "_" in word or (any(c.isdigit() for c in word) and any(c.isalpha() for c in word))
        shouty = len(word) >= 3 and word.isupper()
        camel = bool(re.search(r"[a-z][A-Z]", word))
        if (ident or shouty or camel) and word.lower() not in _QUESTION_WORDS:
            out.append(word)
    return list(dict.fromkeys(out))


def identifiers(text: str) -> list[str]:
    """Code-like names in ``text``: with an underscore, a digit among letters, or camelCase (``max_connections``)."""
    return [t for t in key_terms(text) if not t.isupper() or "_" in t]


def mentions(text: str, term: str) -> bool:
    """Whether ``text`` names ``term`` (case-insensitive, as a whole word)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(term)}(?![A-Za-z0-9_])", text, re.I) is not None


def with_subject(sentence: Sentence) -> str:
    """The sentence as it can stand alone: prefixed with its subject when it does not name it itself."""
    return f"{sentence.subject}: {sentence.text}" if needs_subject(sentence) else sentence.text


def needs_subject(sentence: Sentence, question: str = "") -> bool:
    """Whether the sentence must be shown with its subject: it has one, does not name it itself, and either leans
    on context, or the question asks about something only the subject names (the sentence alone would answer a
    different question). Without a question, any subject the sentence does not name is needed."""
    subject = sentence.subject.strip()
    head = _WORD.findall(subject)
    if not head or mentions(sentence.text, head[0]):
        return False
    if not question or sentence.dependent:
        return True
    return any(mentions(subject, t) and not mentions(sentence.text, t) for t in key_terms(question))


def _hit(text: str) -> Hit:
    """A bare hit for the examples above."""
    return Hit(1, 1.0, "d::0", "d", text, "doc.md", "markdown", "", (), 0, len(text))
