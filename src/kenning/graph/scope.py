"""Is a question about the whole corpus? "What are the main themes of these documents?" names no subject of its own.

A question's *focus* is what remains of its words once question words, stop words and words that only speak about
documents and their topics ("main", "themes", "overview", "manual", "covered") are set aside, and once words found
throughout the collection are set aside too (the "PostgreSQL" of "the PostgreSQL manual": a word that runs through
the themes that hold three quarters of the chunks names the corpus, not a part of it). A question with no focus left asks about the corpus as a
whole: to it every community is relevant, and LazyGraphRAG's relevance test reduces to choosing each community's most
representative chunks (:mod:`kenning.engine_lazy`).

>>> focus("What are the main topics of this documentation?", lambda w: 0.0)
[]
>>> focus("What are the main themes of the PostgreSQL manual?", lambda w: 0.99 if w == "postgresql" else 0.0)
[]
>>> focus("Which topics does the manual cover about replication?", lambda w: 0.02)
['replication']
>>> focus("Summarize the major areas that this documentation describes.", lambda w: 0.02)
[]
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["focus", "CORPUS_SPREAD", "META_WORDS"]

CORPUS_SPREAD = 0.75  # a word that runs through themes holding this share of the chunks names the corpus

_STOP = frozenset(
    "a an the of to in on for by with and or but not no it its this that these those there their them they i you we "
    "me my your our us be been being is are was were am do does did done can could should would will shall may might "
    "must have has had having what which who whom whose when where why how all any each every some most more much "
    "many few other others such as at from into over under about across through than then so also just only very "
    "please tell give list show explain describe summarise summarize name write me up out".split()
)
# words about documents and what they treat, not about any subject in them (English; general, not one corpus's)
META_WORDS = frozenset(
    "main major key central core principal primary important overall general common recurring top biggest broad "
    "topic topics theme themes subject subjects area areas field fields aspect aspects idea ideas issue issues point "
    "points concept concepts matter matters content contents part parts section sections chapter chapters "
    "overview overviews summary summaries gist outline scope kind kinds type types category categories "
    "cover covers covered covering discuss discusses discussed discussing treat treats treated address addresses "
    "addressed deal deals dealt include includes included contain contains contained talk talks talked "
    "document documents documentation doc docs text texts corpus corpora collection collections source sources "
    "manual manuals guide guides book books handbook reference references material materials library archive "
    "article articles paper papers page pages file files site website wiki notes note set sets whole entire "
    "here herein within thing things reader readers learn different various".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_+#.-]*[A-Za-z0-9+#]|[A-Za-z]")


def focus(question: str, spread: Callable[[str], float]) -> list[str]:
    """The words of ``question`` that name a subject within the corpus (lower-cased, in order, once each);
    ``spread(word)`` is the share of the collection's chunks that sit in themes the word runs through (1.0 for a word
    the index ignores, a stop word)."""
    out: list[str] = []
    for raw in _WORD.findall(question):
        word = raw.lower()
        if any(form in _STOP or form in META_WORDS for form in _forms(word)) or word in out:
            continue
        if spread(word) >= CORPUS_SPREAD:
            continue
        out.append(word)
    return out


def _forms(word: str) -> set[str]:
    """The word and the bases its English inflections may come from ("describes", "described", "describing" →
    "describe").

    >>> sorted(_forms("described"))
    ['describ', 'describe', 'described']
    """
    forms = {word}
    if word.endswith("s"):
        forms |= {word[:-1], word[:-2]}
    if word.endswith("ed"):
        forms |= {word[:-1], word[:-2]}
    if word.endswith("ing"):
        forms |= {word[:-3], word[:-3] + "e"}
    return forms
