"""Synthetic eval sets from any indexed collection: sample chunks, write a question each answers, keep the gold.

>>> from kenning.index import Collection
>>> col = Collection.open(home, "docs")                                       # doctest: +SKIP
>>> synth = synthesize(col, n=200, seed=0, method="cloze")                     # doctest: +SKIP
>>> synth.write("evalsets/docs")                                               # doctest: +SKIP

**Sampling.** Chunks are drawn *stratified across documents*: documents in a seeded random order, one random chunk
of each per round, at most ``per_document`` rounds. So with at least ``n`` usable documents every question comes from
a different document; with fewer, each gives at most ``per_document`` chunks. Chunks are skipped as *tiny* (fewer than
``min_chunk_words`` words) or *boilerplate* (the same text in several documents, or less than 60% letters: tables,
code, lists of numbers). Sampled chunks are examined until ``n`` questions survive the filters.

**Methods.** ``llm`` asks a language model for one question, a short answer and the evidence sentence per chunk
(the prompt is :data:`~kenning.evaluate.prompts.QUERY_SYSTEM`). With no capable model there are two offline methods:

* ``cloze`` (the default) — an *inverse cloze task* (Lee et al., 2019, "Latent Retrieval for Weakly Supervised Open
  Domain Question Answering"): one salient sentence of the chunk becomes the query, and the gold is the chunk *without
  that sentence* (one or two character spans). The sentence is the one whose distinctive terms (BM25 IDF, computed
  with the collection's own analyzer: stemmer and stop words) the rest of the chunk shares most, so the remaining
  text is still about what the query says. It is cleaned into a claim-like query: citations and parentheses dropped,
  leading discourse phrases ("We found that", "In conclusion,") removed, cut to ``max_query_words`` at a clause
  boundary. Headings, sentences under 6 words and sentences whose terms are all in the title are never picked.
  ``cloze_mask=k`` (default 0) also drops the words holding the query's ``k`` most distinctive terms.
* ``keywords`` — the ``keywords`` most distinctive terms of the chunk (term frequency^0.5 × IDF, among terms found in
  at least two chunks so a unique identifier cannot give the answer away), in the order they occur; gold = the chunk.

The chunk's sentence stays in the index, so a cloze query always has an exact lexical match in its chunk: the set
measures whether a retriever finds the passage a statement came from, which favours BM25 more than real questions
do. ``bench/synthetic_vs_real.py`` measures how well scores on such sets order retrieval configurations compared
with real relevance judgments.

**Gold.** Every item keeps the chunk id, the document id and the gold character spans in the document (which stay
valid when the collection is re-chunked: see :mod:`kenning.evaluate.qa_eval`), plus the gold text in ``contexts``.

**Filters**, applied in this order and counted in the manifest: ``too_short`` (under ``min_query_words`` words or
``min_query_terms`` content terms), ``title`` (every content term of the query is in the document title or heading
path: the title alone answers it), ``duplicate`` (content-term Jaccard similarity of ``duplicate_jaccard`` or more
with a kept query), ``copy`` (``copy_overlap`` or more of the query's word trigrams occur in the gold text — for a
cloze query, in the chunk *without* its sentence, so only a copy beyond the intended cloze counts).

**Split.** Items are split into train and test *by document* (no document in both), in a seeded order, with
``test_fraction`` of the items in test. The same collection, options and seed give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..chunking.split import sentence_ends
from ..config import LexicalConfig
from ..errors import ConfigError, InputError, ProviderError, check_choice
from ..index.catalog import ChunkRow, ChunkSpan
from ..providers.llm.base import LLM, complete_json
from ..store.base import Store
from .prompts import GeneratedQuestion, query_messages
from .qa import GoldSpan, QAItem, QASet, _write_text

__all__ = [
    "METHODS",
    "SynthOptions",
    "SourceChunk",
    "Candidate",
    "SynthSet",
    "Analyzer",
    "synthesize",
    "cloze_candidate",
    "keyword_candidate",
    "llm_candidate",
    "filter_candidates",
    "split_by_document",
]

METHODS = ("cloze", "keywords", "llm")
FORMAT = "kenning-synth/1"
ProgressFn = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class SynthOptions:
    """Thresholds of the sampler and the filters (see the module doc for what each does)."""

    per_document: int = 3
    min_chunk_words: int = 30
    min_query_words: int = 4
    min_query_terms: int = 3
    max_query_words: int = 32
    cloze_mask: int = 0
    keywords: int = 4
    copy_overlap: float = 0.6
    duplicate_jaccard: float = 0.7
    idf_sample: int = 50_000

    def __post_init__(self) -> None:
        for name in ("per_document", "min_chunk_words", "min_query_words", "min_query_terms", "keywords", "idf_sample"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"synth option {name} must be > 0, got {getattr(self, name)}")
        if self.max_query_words < self.min_query_words:
            raise ConfigError(
                f"synth option max_query_words ({self.max_query_words}) is below min_query_words "
                f"({self.min_query_words})"
            )
        if self.cloze_mask < 0:
            raise ConfigError(f"synth option cloze_mask must be >= 0, got {self.cloze_mask}")
        for name in ("copy_overlap", "duplicate_jaccard"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"synth option {name} must be in (0, 1], got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class SourceChunk:
    """A sampled chunk with what the question writer and the filters need of its document."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    title: str = ""
    source: str = ""
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A question about ``chunk`` before filtering. ``removed`` is the chunk-relative ``(start, end)`` of a cloze
    sentence that is not part of the gold; ``answer`` and ``evidence`` come from an LLM."""

    question: str
    chunk: SourceChunk
    method: str
    removed: tuple[int, int] | None = None
    answer: str | None = None
    evidence: str = ""

    def gold_pieces(self) -> list[tuple[int, int]]:
        """Chunk-relative spans of the gold text: the chunk, less the removed sentence."""
        n = len(self.chunk.text)
        if self.removed is None:
            return [(0, n)]
        a, b = self.removed
        return [(s, e) for s, e in ((0, a), (b, n)) if self.chunk.text[s:e].strip()]

    def gold_text(self) -> str:
        return " ".join(self.chunk.text[s:e].strip() for s, e in self.gold_pieces())


@dataclass(frozen=True, slots=True)
class SynthSet:
    """A synthetic eval set: the train and test items and the manifest describing how they were made."""

    train: QASet
    test: QASet
    manifest: dict[str, Any] = field(hash=False)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``train.jsonl``, ``test.jsonl`` and ``manifest.json`` into ``folder``; returns their paths."""
        folder = Path(folder).expanduser()
        paths = {
            "train": self.train.save(folder / "train.jsonl"),
            "test": self.test.save(folder / "test.jsonl"),
        }
        paths["manifest"] = _write_text(
            folder / "manifest.json", json.dumps(self.manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
        return paths


# ---------------------------------------------------------------------------------------------------- analyzer

_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's token pattern


class Analyzer:
    """The collection's BM25 analyzer (lower case, bm25s stop words, PyStemmer stems) with document frequencies.

    >>> a = Analyzer(LexicalConfig())
    >>> a.terms("The statins reduced mortality")
    ['statin', 'reduc', 'mortal']
    """

    def __init__(self, lexical: LexicalConfig) -> None:
        from bm25s.tokenization import _infer_stopwords  # the exact list the index was built with

        self.stopwords = frozenset(_infer_stopwords(lexical.stopwords)) if lexical.stopwords else frozenset()
        self._stemmer = None
        if lexical.stemmer:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(lexical.stemmer)
        self._stems: dict[str, str] = {}
        self.df: Counter[str] = Counter()
        self.n_docs = 0

    def stem(self, word: str) -> str:
        out = self._stems.get(word)
        if out is None:
            out = self._stemmer.stemWord(word) if self._stemmer else word
            self._stems[word] = out
        return out

    def tokens(self, text: str) -> list[tuple[str, str, int]]:
        """``(surface, term, offset)`` for each content word (not a stop word) of ``text``."""
        out = []
        for m in _WORD.finditer(text):
            word = m.group().lower()
            if word not in self.stopwords:
                out.append((m.group(), self.stem(word), m.start()))
        return out

    def terms(self, text: str) -> list[str]:
        return [t for _, t, _ in self.tokens(text)]

    def fit(self, texts: Sequence[str] | Iterator[str]) -> Analyzer:
        """Count document frequencies over ``texts`` (chunks)."""
        for text in texts:
            self.df.update(set(self.terms(text)))
            self.n_docs += 1
        return self

    def idf(self, term: str) -> float:
        """BM25 (Lucene) IDF: ``ln(1 + (N - df + 0.5) / (df + 0.5))``."""
        df = self.df.get(term, 0)
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))


# ---------------------------------------------------------------------------------------------------- questions

_BRACKETS = re.compile(r"\s*(\([^()]*\)|\[[^\[\]]*\])")
_PREFIX = re.compile(
    r"^(?:(?:results|conclusions?|background|methods|objectives?|purpose|aims?|design|setting|findings|"
    r"interpretation|context|importance|introduction|summary|abstract)\s*:\s*)?"  # section labels
    r"(?:(?:in conclusion|in summary|to conclude|taken together|overall|together|collectively|importantly|"
    r"moreover|furthermore|additionally|in addition|however|thus|therefore|hence|finally|here|consequently|"
    r"interestingly|notably|in this study|in this paper|in this work|in this article)\s*,?\s+)?"
    r"(?:(?:we|our (?:results|data|findings|study|analysis|analyses)|these (?:results|data|findings|observations)|"
    r"this (?:study|paper|work|suggests|finding|analysis)|the (?:results|data|findings)|it)\s+"
    r"(?:also\s+)?(?:have\s+|further\s+)?"
    r"(?:show|shows|showed|shown|demonstrate[sd]?|found|find|finds|report(?:s|ed)?|conclude[sd]?|suggest(?:s|ed)?|"
    r"indicate[sd]?|reveal(?:s|ed)?|observed?|confirm(?:s|ed)?|provide[sd]? evidence|establish(?:es|ed)?|"
    r"is (?:shown|demonstrated|concluded))\s+(?:that\s+)?)?",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"[,;:]\s")


def _sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``: line breaks first, then sentence ends; whitespace trimmed."""
    out = []
    for line in re.finditer(r"[^\n]+", text):
        bounds = [line.start(), *sentence_ends(text, line.start(), line.end()), line.end()]
        for a, b in zip(bounds, bounds[1:], strict=False):
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            if b > a:
                out.append((a, b))
    return out


def _clean_query(sentence: str, max_words: int) -> str:
    """A cloze sentence as a query: no citations or parentheses, no leading discourse phrase, at most ``max_words``."""
    text = _BRACKETS.sub("", sentence)
    text = " ".join(text.split())
    for _ in range(2):
        text = _PREFIX.sub("", text, count=1).strip()
    words = text.split()
    if len(words) > max_words:
        cut = " ".join(words[:max_words])
        clauses = [m.start() for m in _CLAUSE.finditer(cut)]
        text = cut[: clauses[-1]] if clauses and len(cut[: clauses[-1]].split()) >= max_words // 2 else cut
    text = text.strip().rstrip(".;:,!").strip()
    return text[:1].upper() + text[1:]


def _norm(text: str) -> str:
    return " ".join(text.strip().lstrip("#").strip().rstrip(".:;").lower().split())


def _is_heading(chunk: SourceChunk, sentence: str) -> bool:
    names = {_norm(p) for p in (chunk.title, *chunk.heading_path) if p}
    return sentence.lstrip().startswith("#") or _norm(sentence) in names


def cloze_candidate(chunk: SourceChunk, analyzer: Analyzer, options: SynthOptions) -> Candidate | None:
    """The inverse-cloze query of ``chunk``: its most salient sentence, cleaned; None if no sentence qualifies.

    Salience of a sentence: the IDF-weighted share of its distinct content terms that recur in the rest of the chunk
    (weight 1) or not (weight 0.3), over the square root of its number of terms — distinctive, and supported by the
    text that stays in the gold.
    """
    text = chunk.text
    spans = _sentences(text)
    title_terms = set(analyzer.terms(" ".join((chunk.title, *chunk.heading_path))))
    best: tuple[float, int, int] | None = None
    for a, b in spans:
        sentence = text[a:b]
        if len(sentence.split()) < 6 or _is_heading(chunk, sentence):
            continue
        terms = set(analyzer.terms(sentence))
        if len(terms) < options.min_query_terms or terms <= title_terms:
            continue
        rest = text[:a] + " " + text[b:]
        if len(rest.split()) < options.min_chunk_words // 2:
            continue
        rest_terms = set(analyzer.terms(rest))
        score = sum(analyzer.idf(t) * (1.0 if t in rest_terms else 0.3) for t in terms) / math.sqrt(len(terms))
        if best is None or score > best[0]:
            best = (score, a, b)
    if best is None:
        return None
    _, a, b = best
    query = _clean_query(text[a:b], options.max_query_words)
    if options.cloze_mask:
        query = _mask(query, analyzer, options.cloze_mask)
    return Candidate(query, chunk, "cloze", removed=(a, b))


def _mask(query: str, analyzer: Analyzer, k: int) -> str:
    """``query`` without the words holding its ``k`` most distinctive (highest-IDF) content terms."""
    terms = sorted(set(analyzer.terms(query)), key=lambda t: (-analyzer.idf(t), t))[:k]
    masked = set(terms)
    kept = [w for w in query.split() if not masked & set(analyzer.terms(w))]
    text = " ".join(kept).strip(" ,;:")
    return text[:1].upper() + text[1:]


def keyword_candidate(chunk: SourceChunk, analyzer: Analyzer, options: SynthOptions) -> Candidate | None:
    """The ``options.keywords`` most distinctive terms of ``chunk`` in reading order; None if too few qualify."""
    tokens = analyzer.tokens(chunk.text)
    tf = Counter(t for _, t, _ in tokens)
    first: dict[str, int] = {}
    surfaces: dict[str, Counter[str]] = {}
    for surface, term, offset in tokens:
        first.setdefault(term, offset)
        surfaces.setdefault(term, Counter())[surface.lower()] += 1
    scored = [
        (math.sqrt(n) * analyzer.idf(t), t)
        for t, n in tf.items()
        if analyzer.df.get(t, 0) >= 2 and not t.isdigit() and len(t) > 2
    ]
    scored.sort(key=lambda st: (-st[0], st[1]))
    chosen = [t for _, t in scored[: options.keywords]]
    if len(chosen) < min(options.keywords, options.min_query_terms):
        return None
    chosen.sort(key=first.__getitem__)
    query = " ".join(surfaces[t].most_common(1)[0][0] for t in chosen)
    return Candidate(query, chunk, "keywords")


def llm_candidate(chunk: SourceChunk, llm: LLM) -> Candidate:
    """One question from ``llm`` (raises :class:`ProviderError` when the model fails or never returns valid JSON)."""
    reply, _usage = complete_json(llm, query_messages(chunk.title, chunk.text), GeneratedQuestion, max_tokens=300)
    return Candidate(
        " ".join(reply.question.split()), chunk, "llm", answer=reply.answer.strip() or None, evidence=reply.evidence
    )


# ---------------------------------------------------------------------------------------------------- filters

FILTERS = ("too_short", "title", "duplicate", "copy")  # applied in this order


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def _reject_reason(
    cand: Candidate,
    analyzer: Analyzer,
    options: SynthOptions,
    kept_terms: list[set[str]],
    by_term: dict[str, list[int]],
) -> str | None:
    words = cand.question.split()
    terms = set(analyzer.terms(cand.question))
    if len(words) < options.min_query_words or len(terms) < options.min_query_terms:
        return "too_short"
    title_terms = set(analyzer.terms(" ".join((cand.chunk.title, *cand.chunk.heading_path))))
    if terms <= title_terms:
        return "title"
    seen = {i for t in terms for i in by_term.get(t, ())}
    for i in seen:
        other = kept_terms[i]
        if len(terms & other) / len(terms | other) >= options.duplicate_jaccard:
            return "duplicate"
    grams = _trigrams(cand.question)
    if grams:
        shared = len(grams & _trigrams(cand.gold_text())) / len(grams)
        if shared >= options.copy_overlap:
            return "copy"
    return None


class _Filter:
    """:func:`filter_candidates` one candidate at a time (the sampler stops as soon as ``n`` are kept)."""

    def __init__(self, analyzer: Analyzer, options: SynthOptions) -> None:
        self.analyzer, self.options = analyzer, options
        self.counts = dict.fromkeys(FILTERS, 0)
        self.kept_terms: list[set[str]] = []
        self.by_term: dict[str, list[int]] = {}

    def admit(self, cand: Candidate) -> bool:
        reason = _reject_reason(cand, self.analyzer, self.options, self.kept_terms, self.by_term)
        if reason:
            self.counts[reason] += 1
            return False
        terms = set(self.analyzer.terms(cand.question))
        for t in terms:
            self.by_term.setdefault(t, []).append(len(self.kept_terms))
        self.kept_terms.append(terms)
        return True


def filter_candidates(
    candidates: Sequence[Candidate],
    analyzer: Analyzer,
    options: SynthOptions | None = None,
    *,
    limit: int | None = None,
) -> tuple[list[Candidate], dict[str, int]]:
    """Keep the candidates that pass every filter, in order, up to ``limit``; counts of those removed per filter."""
    filt = _Filter(analyzer, options or SynthOptions())
    kept: list[Candidate] = []
    for cand in candidates:
        if limit is not None and len(kept) >= limit:
            break
        if filt.admit(cand):
            kept.append(cand)
    return kept, filt.counts


# ---------------------------------------------------------------------------------------------------- sampling


def _letters_share(text: str) -> float:
    visible = [c for c in text if not c.isspace()]
    return sum(c.isalpha() for c in visible) / len(visible) if visible else 0.0


def _sample_order(spans: Sequence[ChunkSpan], seed: int, per_document: int) -> list[str]:
    """Chunk ids in sampling order: documents shuffled, one random chunk of each per round."""
    rng = random.Random(f"kenning-synth-sample:{seed}")
    by_doc: dict[str, list[str]] = {}
    for span in spans:  # by document, then position in it
        by_doc.setdefault(span.doc_id, []).append(span.chunk_id)
    docs = sorted(by_doc)
    rng.shuffle(docs)
    for doc in docs:
        rng.shuffle(by_doc[doc])
    rounds = min(per_document, max((len(v) for v in by_doc.values()), default=0))
    return [by_doc[d][r] for r in range(rounds) for d in docs if r < len(by_doc[d])]


def _repeated_texts(spans: Sequence[ChunkSpan]) -> set[str]:
    """Embed hashes of chunk texts found in more than one document (footers, navigation, licence notices)."""
    docs_of: dict[str, set[str]] = {}
    for span in spans:
        docs_of.setdefault(span.embed_hash, set()).add(span.doc_id)
    return {h for h, docs in docs_of.items() if len(docs) > 1}


def _fit_analyzer(store: Store, spans: Sequence[ChunkSpan], options: SynthOptions) -> Analyzer:
    """The analyzer, its IDF fitted on every chunk's text, or on every n-th (by document and position) of a big
    collection so that at most ``options.idf_sample`` are read."""
    analyzer = Analyzer(store.info.lexical)
    stride = max(1, math.ceil(len(spans) / options.idf_sample))
    sample = [span.chunk_id for span in spans[::stride]]
    return analyzer.fit(row.text for i in range(0, len(sample), 900) for row in _rows(store, sample[i : i + 900]))


def _rows(store: Store, chunk_ids: Sequence[str]) -> list[ChunkRow]:
    rows = store.catalog.chunk_rows(chunk_ids, by="chunk_id")
    return [rows[c] for c in chunk_ids if c in rows]


def _chunks(store: Store, order: Sequence[str], batch: int = 256) -> Iterator[SourceChunk]:
    """The chunks of ``order``, with their document's title and first source."""
    for i in range(0, len(order), batch):
        for r in _rows(store, order[i : i + batch]):
            yield SourceChunk(r.chunk_id, r.doc_id, r.index, r.text, r.start, r.end, r.title, r.source, r.heading_path)


# ---------------------------------------------------------------------------------------------------- split, items


def split_by_document(items: Sequence[QAItem], *, test_fraction: float, seed: int) -> tuple[QASet, QASet]:
    """``(train, test)``: documents in a seeded order go to test until it holds ``test_fraction`` of the items.

    Items keep their order within each part; no document is in both.
    """
    if not 0 <= test_fraction <= 1:
        raise ConfigError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(item.gold_doc_ids[0] if item.gold_doc_ids else item.id, []).append(i)
    keys = sorted(groups)
    random.Random(f"kenning-synth-split:{seed}").shuffle(keys)
    target = round(test_fraction * len(items))
    test: set[int] = set()
    for key in keys:
        if len(test) + len(groups[key]) <= target:
            test.update(groups[key])
    train_items = tuple(it for i, it in enumerate(items) if i not in test)
    test_items = tuple(it for i, it in enumerate(items) if i in test)
    return QASet(train_items), QASet(test_items)


def _item(cand: Candidate) -> QAItem:
    ch = cand.chunk
    spans = tuple(
        GoldSpan(ch.start + s, ch.start + e, doc_id=ch.doc_id, source=ch.source) for s, e in cand.gold_pieces()
    )
    meta: dict[str, Any] = {"method": cand.method, "chunk_index": ch.index}
    if ch.source:
        meta["source"] = ch.source
    if cand.evidence:
        meta["evidence"] = cand.evidence
    digest = hashlib.sha1(f"{ch.chunk_id}\n{cand.method}\n{cand.question}".encode()).hexdigest()[:12]
    return QAItem(
        id=f"syn-{digest}",
        question=cand.question,
        answer=cand.answer,
        gold_chunk_ids=(ch.chunk_id,),
        gold_doc_ids=(ch.doc_id,),
        gold_spans=spans,
        contexts=tuple(ch.text[s:e].strip() for s, e in cand.gold_pieces()),
        metadata=meta,
    )


# ---------------------------------------------------------------------------------------------------- synthesize


def synthesize(
    collection: Store,
    *,
    n: int = 200,
    seed: int = 0,
    test_fraction: float = 0.5,
    method: str = "cloze",
    llm: LLM | None = None,
    options: SynthOptions | None = None,
    progress: ProgressFn | None = None,
) -> SynthSet:
    """Build a synthetic eval set of up to ``n`` questions from ``collection`` (see the module doc).

    ``method`` is ``cloze`` or ``keywords`` (offline) or ``llm`` (needs ``llm``). Fewer than ``n`` items come back
    when the collection runs out of usable chunks; the manifest says so.
    """
    options = options or SynthOptions()
    check_choice("synth method", method, METHODS)
    if method == "llm" and llm is None:
        raise ConfigError("synth method 'llm' needs a language model: pass --llm PROVIDER:MODEL, or use --method cloze")
    if n <= 0:
        raise ConfigError(f"n must be > 0, got {n}")
    if not 0 <= test_fraction <= 1:
        raise ConfigError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    n_docs, n_chunks = collection.catalog.counts()
    if n_chunks == 0:
        raise InputError(
            f"collection {collection.name!r} is empty; index documents first: "
            f"kenning index PATH --collection {collection.name}"
        )
    spans = collection.catalog.chunk_spans()
    hash_of = {span.chunk_id: span.embed_hash for span in spans}
    analyzer = _fit_analyzer(collection, spans, options)
    order = _sample_order(spans, seed, options.per_document)
    repeated = _repeated_texts(spans)
    skipped = {"tiny_chunk": 0, "boilerplate": 0, "no_question": 0, "llm_failed": 0}
    filt = _Filter(analyzer, options)
    kept: list[Candidate] = []
    examined = 0
    failures_in_a_row = 0
    for chunk in _chunks(collection, order):
        if len(kept) >= n:
            break
        examined += 1
        if len(chunk.text.split()) < options.min_chunk_words:
            skipped["tiny_chunk"] += 1
            continue
        if hash_of[chunk.chunk_id] in repeated or _letters_share(chunk.text) < 0.6:
            skipped["boilerplate"] += 1
            continue
        if method == "llm":
            try:
                cand: Candidate | None = llm_candidate(chunk, llm)  # type: ignore[arg-type]
                failures_in_a_row = 0
            except ProviderError as exc:
                skipped["llm_failed"] += 1
                failures_in_a_row += 1
                if failures_in_a_row >= 5 and not kept:
                    raise ProviderError(f"query generation failed on the first 5 chunks; last error: {exc}") from exc
                continue
        elif method == "cloze":
            cand = cloze_candidate(chunk, analyzer, options)
        else:
            cand = keyword_candidate(chunk, analyzer, options)
        if cand is None:
            skipped["no_question"] += 1
            continue
        if filt.admit(cand):
            kept.append(cand)
            if progress:
                progress("writing questions", len(kept), n)
    items = [_item(c) for c in kept]
    train, test = split_by_document(items, test_fraction=test_fraction, seed=seed)
    manifest = {
        "format": FORMAT,
        "collection": collection.name,
        "collection_documents": n_docs,
        "collection_chunks": n_chunks,
        "chunking": collection.refresh().get("chunking", {}),
        "method": method,
        "llm": getattr(llm, "name", None) if method == "llm" else None,
        "seed": seed,
        "n_requested": n,
        "test_fraction": test_fraction,
        "options": {k: getattr(options, k) for k in SynthOptions.__dataclass_fields__},
        "counts": {
            "items": len(items),
            "train": len(train),
            "test": len(test),
            "documents": len({c.chunk.doc_id for c in kept}),
            "chunks_examined": examined,
            "chunks_available": len(order),
        },
        "skipped_chunks": skipped,
        "filtered_questions": dict(filt.counts),
        "shortfall": max(0, n - len(items)),
        "files": {"train": "train.jsonl", "test": "test.jsonl"},
    }
    return SynthSet(train, test, manifest)
