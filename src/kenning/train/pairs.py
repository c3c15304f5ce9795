"""Training queries from a collection's own chunks: (query, positive chunk) pairs, split by document.

Four sources, none needing labels:

* ``cloze`` — the inverse cloze task of ``kenning eval synth`` (reused: :func:`kenning.evaluate.synth.synthesize`): a
  salient sentence of a chunk is the query and the chunk *without that sentence* is the positive, so the model learns
  what a passage is about rather than to spot a copied sentence;
* ``title`` — a document's title → its first chunk, when the title is a real phrase (4+ words, not a file name);
* ``heading`` — a section heading (with its parent, when the heading alone is short) → the chunk under it;
* ``llm`` — with a language model, the question-writing prompt of ``kenning eval synth --method llm`` (capped by
  ``llm_queries``: a local model needs seconds per chunk).

Pairs are split into train and validation **by document**, so no document gives pairs to both.

>>> p = Pair(query="what is a b-tree", positive="B-trees are balanced.", chunk_id="d1::0", doc_id="d1", source="title")
>>> split_pairs([p], validation=0.5, seed=0)[0][0].source
'title'
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from ..errors import InputError
from ..evaluate.synth import SynthOptions, synthesize
from ..providers.llm.base import LLM
from ..store.base import Store

__all__ = ["Pair", "PairSet", "make_pairs", "split_pairs", "SOURCES", "MIN_CHUNKS"]

SOURCES = ("cloze", "title", "heading", "llm")
MIN_CHUNKS = 50  # fewer chunks than this cannot give a validation split that tells models apart
_MIN_HELD_OUT = 40
_FILE_LIKE = re.compile(r"^[\w.-]+\.\w{1,5}$|^[\w-]+$")
_GENERIC_HEADINGS = {"introduction", "overview", "summary", "conclusion", "notes", "examples", "example", "see also"}


@dataclass(frozen=True, slots=True)
class Pair:
    """A training query and the text that answers it (``chunk_id`` names the chunk it came from)."""

    query: str
    positive: str
    chunk_id: str
    doc_id: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PairSet:
    """Train and validation pairs and how many each source gave."""

    train: tuple[Pair, ...]
    validation: tuple[Pair, ...]
    counts: dict[str, int]


def make_pairs(
    collection: Store,
    *,
    max_pairs: int = 8000,
    validation: float = 0.1,
    max_validation: int = 400,
    llm: LLM | None = None,
    llm_queries: int = 0,
    seed: int = 0,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> PairSet:
    """Up to ``max_pairs`` pairs from ``collection``; ``validation`` of them (by document) go to the validation split,
    more in a small collection (up to 30 %) so that about 40 are held out."""
    _, n_chunks = collection.catalog.counts()
    if n_chunks < MIN_CHUNKS:
        raise InputError(
            f"collection {collection.name!r} has {n_chunks} chunks; tuning needs at least {MIN_CHUNKS} "
            "(a few dozen documents) so that a held-out split can tell a better model from a worse one"
        )
    pairs: list[Pair] = []
    seen: set[tuple[str, str]] = set()

    def add(pair: Pair) -> None:
        key = (pair.query.lower(), pair.chunk_id)
        if key not in seen and pair.query.strip() and pair.positive.strip():
            seen.add(key)
            pairs.append(pair)

    rng = random.Random(f"kenning-tune-pairs:{seed}")
    structure = _structure_pairs(collection)
    if len(structure) > max_pairs // 2:  # leave room for cloze pairs, which teach more than titles do
        structure = rng.sample(structure, max_pairs // 2)
    for pair in structure:
        add(pair)
    if llm is not None and llm_queries > 0:
        synth = synthesize(
            collection, n=llm_queries, seed=seed, test_fraction=0.0, method="llm", llm=llm, progress=progress
        )
        for item in synth.train:
            add(_from_item(item, "llm"))
    want = max(0, max_pairs - len(pairs))
    if want:
        options = SynthOptions(per_document=3, min_chunk_words=20)
        synth = synthesize(
            collection, n=want, seed=seed, test_fraction=0.0, method="cloze", options=options, progress=progress
        )
        for item in synth.train:
            add(_from_item(item, "cloze"))
    if len(pairs) > max_pairs:
        pairs = rng.sample(pairs, max_pairs)
    # a small collection holds out a larger share, so that the guard still has ~40 queries to judge by
    share = max(validation, min(0.3, _MIN_HELD_OUT / max(1, len(pairs))))
    train, held = split_pairs(pairs, validation=share, seed=seed, max_validation=max_validation)
    counts = dict(Counter(p.source for p in pairs))
    counts |= {"train": len(train), "validation": len(held), "documents": len({p.doc_id for p in pairs})}
    return PairSet(tuple(train), tuple(held), counts)


def split_pairs(
    pairs: Sequence[Pair], *, validation: float, seed: int, max_validation: int | None = None
) -> tuple[list[Pair], list[Pair]]:
    """Split by document: each document's pairs all go to train or all to validation."""
    docs = sorted({p.doc_id for p in pairs})
    random.Random(f"kenning-tune-split:{seed}").shuffle(docs)
    target = round(len(pairs) * validation)
    if max_validation is not None:
        target = min(target, max_validation)
    by_doc = Counter(p.doc_id for p in pairs)
    held_docs: set[str] = set()
    held = 0
    for doc in docs:
        if held >= target:
            break
        held_docs.add(doc)
        held += by_doc[doc]
    return [p for p in pairs if p.doc_id not in held_docs], [p for p in pairs if p.doc_id in held_docs]


def _from_item(item, source: str) -> Pair:  # noqa: ANN001 - a QAItem
    # cloze: the gold is the chunk without the query's sentence (its contexts); llm: the chunk's evidence text
    positive = " ".join(c for c in item.contexts if c) if source == "cloze" else item.metadata.get("chunk_text", "")
    if not positive:
        positive = " ".join(item.contexts)
    return Pair(item.question, positive, item.gold_chunk_ids[0], item.gold_doc_ids[0], source)


def _structure_pairs(collection: Store) -> list[Pair]:
    """Title → first chunk and heading → section pairs, from what the documents' structure says.

    A title or heading is usually the first line of its chunk; the positive is the chunk *without* it, so the pair
    teaches what the text is about rather than to find a copied line."""
    out: list[Pair] = []
    for chunk in collection.catalog.iter_chunks():
        if chunk.index == 0 and _is_phrase(chunk.title):
            out.append(Pair(chunk.title, _without(chunk.text, chunk.title), chunk.chunk_id, chunk.doc_id, "title"))
        if chunk.heading_path:
            heading = chunk.heading_path[-1]
            if heading == chunk.title and chunk.index == 0:
                continue  # the title pair already
            if heading.lower() in _GENERIC_HEADINGS or len(heading.split()) < 3:
                if len(chunk.heading_path) < 2:
                    continue
                heading = f"{chunk.heading_path[-2]}: {heading}"
            if _is_phrase(heading, words=2):
                text = _without(_without(chunk.text, chunk.heading_path[-1]), chunk.title)
                out.append(Pair(heading, text, chunk.chunk_id, chunk.doc_id, "heading"))
    return out


def _without(text: str, line: str) -> str:
    """``text`` with its first occurrence of ``line`` (in its first 400 characters) cut out."""
    at = text.find(line, 0, 400 + len(line)) if line else -1
    return (text[:at] + text[at + len(line) :]).strip() if at >= 0 else text


def _is_phrase(text: str, *, words: int = 4) -> bool:
    text = text.strip()
    return len(text.split()) >= words and not _FILE_LIKE.match(text) and len(text) <= 300
