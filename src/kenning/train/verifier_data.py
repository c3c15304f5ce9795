"""Training pairs for the grounding verifier: real SciFact claims and pairs made from any corpus text.

Every example is ``(claim, evidence, label)`` with labels ``NOT_ENOUGH_INFO`` (0), ``SUPPORT`` (1) and
``CONTRADICT`` (2). The verifier is shown one sentence (or two neighbouring ones) at a time, as at use time.

Real pairs (``claims_train_pairs.jsonl``): the claim against each rationale sentence and the rationale block with a
neighbour (the gold label), and against the abstract's most word-overlapping non-rationale sentences (NEI).

Made pairs, from corpus sentences:

- SUPPORT: the sentence as a shorter claim (section label, parentheses, statistics and "we found that" removed),
  checked against the sentence or a window holding it;
- CONTRADICT: that claim negated or its direction flipped ("increased" → "decreased"), or a number changed;
- NOT_ENOUGH_INFO: a name swapped for one from another abstract, or checked against another sentence.

>>> negate("Aspirin reduced the risk of stroke.", random.Random(0))
'Aspirin increased the risk of stroke.'
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..verify.checks import content_tokens, coverage, find_numbers, sentence_bounds

__all__ = [
    "LABELS",
    "Example",
    "ClaimPair",
    "load_claim_pairs",
    "split_by_doc",
    "real_examples",
    "corpus_sentences",
    "synthetic_examples",
    "claimify",
    "negate",
]

LABELS = ("NOT_ENOUGH_INFO", "SUPPORT", "CONTRADICT")
NEI, SUPPORT, CONTRADICT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Example:
    claim: str
    evidence: str
    label: int
    kind: str  # where it came from: "rationale", "negative", "made-support", "made-negation", …


@dataclass(frozen=True, slots=True)
class ClaimPair:
    """One claim and one abstract, with every rationale sentence of every evidence set merged."""

    claim: str
    doc_id: str
    label: str
    sentences: tuple[str, ...]
    rationale: frozenset[int]


def load_claim_pairs(path: Path) -> list[ClaimPair]:
    """SciFact-style pairs; rows repeating a (claim, doc) for another evidence set are merged."""
    merged: dict[tuple[str, str], ClaimPair] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            key = (row["claim"], str(row["doc_id"]))
            rationale = frozenset(int(i) for i in row.get("rationale_idx") or ())
            if key in merged:
                old = merged[key]
                merged[key] = ClaimPair(old.claim, old.doc_id, old.label, old.sentences, old.rationale | rationale)
            else:
                merged[key] = ClaimPair(row["claim"], key[1], row["label"], tuple(row["abstract_sentences"]), rationale)
    return list(merged.values())


def split_by_doc(pairs: Sequence[ClaimPair], fraction: float, seed: int) -> tuple[list[ClaimPair], list[ClaimPair]]:
    """(train, held out): whole abstracts go to one side, so a claim's negated twin never sits across the split."""
    docs = sorted({p.doc_id for p in pairs})
    random.Random(seed).shuffle(docs)
    held = set(docs[: round(len(docs) * fraction)])
    return [p for p in pairs if p.doc_id not in held], [p for p in pairs if p.doc_id in held]


def _ranked(claim: str, sentences: Sequence[str]) -> list[int]:
    want = content_tokens(claim)
    scores = [coverage(want, content_tokens(s)) for s in sentences]
    return sorted(range(len(sentences)), key=lambda i: -scores[i])


def real_examples(
    pairs: Iterable[ClaimPair], rng: random.Random, *, negatives: int = 2, flips: bool = True, windows: float = 0.3
) -> list[Example]:
    """Gold pairs; with ``flips``, each SUPPORT claim negated is also shown as CONTRADICT by its rationale."""
    out: list[Example] = []
    for p in pairs:
        label = {"SUPPORT": SUPPORT, "CONTRADICT": CONTRADICT}.get(p.label, NEI)
        rationale = sorted(i for i in p.rationale if 0 <= i < len(p.sentences))
        if label != NEI and rationale:
            for i in rationale:
                out.append(Example(p.claim, p.sentences[i], label, "rationale"))
            if flips and label == SUPPORT and (flipped := negate(p.claim, rng)):
                i = rng.choice(rationale)
                out.append(Example(flipped, p.sentences[i], CONTRADICT, "rationale-flipped"))
            # sometimes the rationale with a neighbour, as the verifier's two-sentence windows will show it
            i = rng.choice(rationale)
            j = i + 1 if i + 1 < len(p.sentences) and (i == 0 or rng.random() < 0.5) else i - 1
            if 0 <= j < len(p.sentences) and rng.random() < windows:
                a, b = sorted((i, j))
                out.append(Example(p.claim, f"{p.sentences[a]} {p.sentences[b]}", label, "rationale-window"))
        others = [i for i in _ranked(p.claim, p.sentences) if i not in p.rationale]
        for i in others[:negatives]:
            out.append(Example(p.claim, p.sentences[i], NEI, "negative"))
    return out


# -- made pairs ---------------------------------------------------------------------------------------------------

_SECTION = re.compile(r"^(?:[A-Z][A-Z /&-]{2,}[A-Z])(?::\s*|\s+)(?=[A-Z0-9])")
_LEAD = re.compile(
    r"^(?:(?:in conclusion|in summary|overall|together|taken together|collectively|thus|therefore|however|"
    r"moreover|furthermore|here|finally|in addition|importantly|notably|conversely|consequently),?\s+)?"
    r"(?:(?:these|our|the) (?:results|data|findings|studies|observations|analyses) (?:also )?"
    r"(?:suggest|indicate|show|demonstrate|reveal|support|confirm|provide evidence)s?(?: that)?\s+|"
    r"we (?:also )?(?:found|find|show|showed|demonstrate|demonstrated|report|observed|conclude|propose) that\s+|"
    r"it (?:was|is) (?:found|shown|observed) that\s+)?",
    re.I,
)
_PARENS = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")
_STATS = re.compile(r"[,;]?\s*\(?(?:p|P)\s*[<=>≤≥].*$|[,;]\s*(?:95%|OR|HR|RR|CI)\b.*$")


def claimify(sentence: str, rng: random.Random) -> str | None:
    """A claim-like restatement of a sentence: shorter, no section label, no statistics; None if too short."""
    s = _SECTION.sub("", sentence.strip())
    s = _LEAD.sub("", s)
    s = _PARENS.sub("", s)
    s = _STATS.sub("", s)
    s = s.rstrip(" .;:,")
    if rng.random() < 0.4:  # keep the main clause only
        s = re.split(r",\s+(?:whereas|while|but|and|which|although|with)\s+", s)[0]
    words = s.split()
    if len(words) < 5 or len(words) > 45:
        return None
    return s[0].upper() + s[1:] + "."


_ANTONYMS = [
    ("increase", "decrease"),
    ("increases", "decreases"),
    ("increased", "decreased"),
    ("increasing", "decreasing"),
    ("higher", "lower"),
    ("greater", "smaller"),
    ("more", "less"),
    ("reduced", "increased"),
    ("reduces", "increases"),
    ("reduce", "increase"),
    ("improves", "worsens"),
    ("improved", "worsened"),
    ("enhances", "impairs"),
    ("enhanced", "impaired"),
    ("promotes", "inhibits"),
    ("promoted", "inhibited"),
    ("activates", "inhibits"),
    ("activated", "suppressed"),
    ("positive", "negative"),
    ("positively", "negatively"),
    ("upregulated", "downregulated"),
    ("up-regulated", "down-regulated"),
    ("elevated", "reduced"),
    ("induces", "prevents"),
    ("induced", "prevented"),
    ("required", "dispensable"),
    ("necessary", "unnecessary"),
    ("beneficial", "harmful"),
    ("effective", "ineffective"),
    ("protective", "detrimental"),
    ("stimulates", "suppresses"),
    ("gain", "loss"),
    ("accelerates", "slows"),
    ("accelerated", "slowed"),
    ("lowers", "raises"),
    ("lowered", "raised"),
    ("shorter", "longer"),
    ("faster", "slower"),
    ("before", "after"),
    ("larger", "smaller"),
    ("rise", "fall"),
    ("increase in", "decrease in"),
    ("associated with an increased", "associated with a decreased"),
]
_FLIP = {}
for _a, _b in _ANTONYMS:
    _FLIP.setdefault(_a, _b)
    _FLIP.setdefault(_b, _a)
_FLIP_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _FLIP), key=len, reverse=True)) + r")\b", re.I)
_AUX = re.compile(r"\b(is|are|was|were|can|could|may|might|will|would|has|have|had|does|do|did|should|must)\b(?! not)")
_NOT = re.compile(r"\b(is|are|was|were|can|could|may|will|would|has|have|had|does|do|did|should|must) not\b")
_NO = re.compile(r"\b([Nn]o|[Ww]ithout)\b")


def _case_like(word: str, model: str) -> str:
    return word[0].upper() + word[1:] if model[:1].isupper() else word


def negate(claim: str, rng: random.Random) -> str | None:
    """The claim with its meaning reversed: a direction word flipped, a negation added or removed."""
    if (m := _NOT.search(claim)) is not None:  # remove a negation rather than stack a second one
        return claim[: m.start()] + m.group(1) + claim[m.end() :]
    options = []
    flips = list(_FLIP_RE.finditer(claim))
    if flips:
        m = rng.choice(flips)
        options.append(claim[: m.start()] + _case_like(_FLIP[m.group(0).lower()], m.group(0)) + claim[m.end() :])
    if (m := _NO.search(claim)) is not None:
        repl = {"no": "a", "without": "with"}[m.group(0).lower()]
        options.append(claim[: m.start()] + _case_like(repl, m.group(0)) + claim[m.end() :])
    elif (m := _AUX.search(claim)) is not None:
        options.append(claim[: m.end()] + " not" + claim[m.end() :])
    if not options:
        return None
    return options[0] if flips and rng.random() < 0.6 else rng.choice(options)


def _swap_number(claim: str, rng: random.Random) -> str | None:
    numbers = [m for m in re.finditer(r"(?<![A-Za-z0-9.-])\d+(?:\.\d+)?", claim)]
    if not numbers:
        return None
    m = rng.choice(numbers)
    value = float(m.group(0))
    factor = rng.choice([0.25, 0.5, 0.6, 0.75, 1.5, 2.0, 3.0, 4.0])
    new = value * factor if value else rng.choice([1.0, 2.0, 5.0])
    if "." in m.group(0):
        text = f"{new:.{len(m.group(0).split('.')[1])}f}"
    else:
        text = str(max(0, round(new)))
    if text == m.group(0):
        text = str(int(value) + rng.randint(1, 9))
    return claim[: m.start()] + text + claim[m.end() :]


_NAME = re.compile(r"\b(?=[A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*[A-Z0-9])[A-Za-z][A-Za-z0-9-]{1,}\b")


_ACRONYM_LIKE = re.compile(r"^(?=(?:[^A-Z0-9]*[A-Z0-9]){2})[A-Za-z0-9-]{2,12}$")


def _swap_name(claim: str, pool: Sequence[str], rng: random.Random) -> str | None:
    names = [m for m in _NAME.finditer(claim) if m.start() > 0 or len(m.group(0)) > 1]
    if not names or not pool:
        return None
    m = rng.choice(names)
    for _ in range(5):
        other = rng.choice(pool)
        if other.lower() != m.group(0).lower():
            return claim[: m.start()] + other + claim[m.end() :]
    return None


def corpus_sentences(path: Path) -> Iterator[list[str]]:
    """Each abstract of a BEIR ``corpus.jsonl`` as its sentences."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                text = json.loads(line).get("text", "")
                yield [text[a:b] for a, b in sentence_bounds(text)]


def synthetic_examples(docs: Sequence[Sequence[str]], n: int, rng: random.Random) -> list[Example]:
    """``n`` made pairs from documents given as lists of sentences (documents of 3+ sentences are used)."""
    docs = [d for d in docs if len(d) >= 3]
    if not docs:
        return []
    sample = rng.sample(docs, min(len(docs), 400))
    pool = sorted({m.group(0) for d in sample for s in d for m in _NAME.finditer(s) if _ACRONYM_LIKE.match(m.group(0))})
    out: list[Example] = []
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        doc = rng.choice(docs)
        i = rng.randrange(len(doc))
        sentence = doc[i]
        claim = claimify(sentence, rng)
        if claim is None:
            continue
        evidence = sentence
        if rng.random() < 0.3:  # the sentence inside a two-sentence window
            j = i + 1 if i + 1 < len(doc) and (i == 0 or rng.random() < 0.5) else i - 1
            a, b = sorted((i, j))
            evidence = f"{doc[a]} {doc[b]}"
        kind = rng.choices(["support", "negation", "number", "name", "other"], [0.36, 0.3, 0.1, 0.12, 0.12])[0]
        if kind == "support":
            out.append(Example(claim, evidence, SUPPORT, "made-support"))
        elif kind == "negation" and (changed := negate(claim, rng)):
            out.append(Example(changed, evidence, CONTRADICT, "made-negation"))
        elif kind == "number" and find_numbers(claim) and (changed := _swap_number(claim, rng)):
            out.append(Example(changed, evidence, CONTRADICT, "made-number"))
        elif kind == "name" and (changed := _swap_name(claim, pool, rng)):
            out.append(Example(changed, evidence, NEI, "made-name"))
        elif kind == "other":
            far = [k for k in range(len(doc)) if abs(k - i) > 1]
            if far:
                k = rng.choice(far)
                if coverage(content_tokens(claim), content_tokens(doc[k])) < 0.5:
                    out.append(Example(claim, doc[k], NEI, "made-other"))
    return out
