"""Chunkers: exact offsets, token budgets, sentence-respecting boundaries, overlap and heading paths."""

from __future__ import annotations

import random
import re

import pytest

from kenning.chunking import Chunker, get_tokenizer, section_ranges
from kenning.config import ChunkingConfig
from kenning.errors import ConfigError
from kenning.types import Document, Section

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()


def _sentences(n: int, seed: int = 0) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(6, 18))]
        out.append(f"Sentence {i} " + " ".join(words) + ".")
    return out


def _doc(text: str, sections: tuple[Section, ...] = (), kind: str = "text") -> Document:
    return Document(doc_id="d", source="mem", kind=kind, text=text, sections=sections)  # type: ignore[arg-type]


def test_tokenizer_counts_match_known_cl100k_values() -> None:
    tok = get_tokenizer("cl100k_base")
    assert tok.count("hello world") == 2
    assert tok.encode("hello world") == [15339, 1917]
    tt = tok.tokenize("héllo wörld ✓ 日本語")
    assert tt.n_tokens == tok.count("héllo wörld ✓ 日本語")
    assert tt.count(0, len(tt.text)) == tt.n_tokens
    assert int(tt.ends[-1]) == len(tt.text)


@pytest.mark.parametrize("strategy", ["fixed", "recursive", "structure"])
def test_chunks_are_exact_slices_within_budget(strategy: str) -> None:
    text = "\n\n".join(" ".join(_sentences(5, seed=p)) for p in range(12))
    doc = _doc(text)
    cfg = ChunkingConfig(strategy=strategy, size=80, overlap=10)
    chunks = Chunker(cfg).chunk(doc)
    assert len(chunks) > 5
    tok = get_tokenizer()
    for i, c in enumerate(chunks):
        assert c.text == text[c.start : c.end]
        assert c.chunk_id == f"d::{i}" and c.index == i
        assert c.n_tokens <= 80
        assert abs(tok.count(c.text) - c.n_tokens) <= 2
    # the chunks cover the whole text
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_recursive_never_cuts_a_sentence_that_fits() -> None:
    sentences = _sentences(60, seed=3)
    text = " ".join(sentences)
    ends = {m.end() for m in re.finditer(r"\.", text)}
    chunks = Chunker(ChunkingConfig(strategy="recursive", size=100, overlap=0)).chunk(_doc(text))
    assert len(chunks) > 3
    for c in chunks:
        assert c.end in ends, f"chunk ends mid-sentence: {c.text[-40:]!r}"
        assert c.start == 0 or text[c.start - 1] == " " and text[c.start : c.start + 8] == "Sentence"


def test_recursive_overlap_repeats_trailing_sentences() -> None:
    text = " ".join(_sentences(40, seed=5))
    chunks = Chunker(ChunkingConfig(strategy="recursive", size=100, overlap=30)).chunk(_doc(text))
    overlaps = [a.end - b.start for a, b in zip(chunks, chunks[1:], strict=False)]
    assert all(o > 0 for o in overlaps), overlaps
    tok = get_tokenizer()
    assert all(tok.count(text[b.start : a.end]) <= 32 for a, b in zip(chunks, chunks[1:], strict=False))


def test_fixed_windows_overlap_by_the_configured_tokens() -> None:
    text = " ".join(_sentences(50, seed=7))
    chunks = Chunker(ChunkingConfig(strategy="fixed", size=64, overlap=16)).chunk(_doc(text))
    tok = get_tokenizer()
    for a, b in zip(chunks[:-1], chunks[1:-1], strict=False):
        assert a.n_tokens in (63, 64, 65)
        assert 14 <= tok.count(text[b.start : a.end]) <= 17


def test_a_word_longer_than_the_budget_is_cut() -> None:
    text = "x" * 5000
    chunks = Chunker(ChunkingConfig(strategy="recursive", size=50, overlap=0)).chunk(_doc(text))
    assert len(chunks) > 1 and all(c.n_tokens <= 50 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_structure_chunks_carry_heading_paths_and_split_at_headings() -> None:
    parts = ["# Guide\n\nIntro text here.\n\n"]
    parts.append("## Install\n\n" + " ".join(_sentences(30, seed=1)) + "\n\n")
    parts.append("### Linux\n\nUse the package manager.\n\n")
    parts.append("## Usage\n\nRun the tool.\n")
    text = "".join(parts)
    sections = []
    for m in re.finditer(r"^(#+) (.+)$", text, re.M):
        sections.append(Section(len(m.group(1)), m.group(2), m.start()))
    doc = _doc(text, tuple(sections), kind="markdown")
    chunks = Chunker(ChunkingConfig(strategy="structure", size=120, overlap=10)).chunk(doc)
    paths = [c.heading_path for c in chunks]
    assert ("Guide",) in paths
    assert any(p == ("Guide", "Install") for p in paths)
    # small neighbouring sections are packed whole: "Linux" and "Usage" share a chunk under their common prefix
    last = chunks[-1]
    assert "### Linux" in last.text and "## Usage" in last.text and last.heading_path == ("Guide",)
    # no chunk spans the boundary between the big Install section and its neighbours
    install_start = text.index("## Install")
    assert all(not (c.start < install_start < c.end) for c in chunks)


def test_section_ranges_nest_by_level() -> None:
    secs = (Section(1, "A", 0), Section(2, "B", 10), Section(3, "C", 20), Section(2, "D", 30), Section(1, "E", 40))
    got = [(s, e, p) for s, e, p in section_ranges(50, secs)]
    assert got == [
        (0, 10, ("A",)),
        (10, 20, ("A", "B")),
        (20, 30, ("A", "B", "C")),
        (30, 40, ("A", "D")),
        (40, 50, ("E",)),
    ]


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ConfigError, match="overlap"):
        from kenning.config import build

        build(ChunkingConfig, {"size": 50, "overlap": 50})


def test_default_is_about_500_tokens_with_50_overlap() -> None:
    cfg = ChunkingConfig()
    assert (cfg.size, cfg.overlap, cfg.strategy) == (500, 50, "structure")


def test_unknown_strategy_names_the_known_ones() -> None:
    # The config's Literal already refuses unknown names; the registry is the second gate, for configs built
    # without validation (model_construct) and for strategies a plugin forgot to register.
    cfg = ChunkingConfig.model_construct(**{**ChunkingConfig().model_dump(), "strategy": "sentencepiece"})
    with pytest.raises(ConfigError, match="sentencepiece.*fixed, recursive, semantic, structure"):
        Chunker(cfg)
