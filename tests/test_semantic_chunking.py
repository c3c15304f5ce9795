"""The semantic chunker with the real packaged MiniLM: breaks at topic shifts, exact offsets, size, structure, cost."""

from __future__ import annotations

import pytest

from kenning.chunking import Chunker, get_tokenizer
from kenning.chunking.split import sentence_spans
from kenning.config import ChunkingConfig, KenningConfig
from kenning.engine import Engine
from kenning.errors import ConfigError
from kenning.types import Document, Section

BREAD = [
    "Preheat the oven to 200 degrees before you start baking the bread.",
    "Knead the dough for ten minutes until it feels smooth and elastic.",
    "Let the dough rise in a warm place for about an hour.",
    "Brush the loaf with melted butter so the crust turns golden.",
    "Bake the bread for forty minutes and let it cool on a rack.",
    "Fresh bread tastes best with a little salted butter.",
]
SPACE = [
    "The Hubble telescope orbits the Earth far above the atmosphere.",
    "Astronomers use it to observe distant galaxies and nebulae.",
    "Its mirror collects light from stars billions of light years away.",
    "The James Webb telescope observes the universe in infrared light.",
    "Black holes at the centres of galaxies bend the light around them.",
    "Planets around other stars are detected by the dimming of their star.",
]
TAXES = [
    "File your income tax return before the end of April.",
    "Keep receipts for every deductible business expense.",
    "The tax office may ask for proof of your charitable donations.",
    "Late payments of tax are charged interest each month.",
]


def _semantic(embedder, size: int = 500, overlap: int = 0, percentile: float = 95.0) -> Chunker:  # noqa: ANN001
    cfg = ChunkingConfig(strategy="semantic", size=size, overlap=overlap, semantic_percentile=percentile)
    return Chunker(cfg, embedder=embedder)


def _assert_exact(doc: Document, chunks) -> None:  # noqa: ANN001
    for i, c in enumerate(chunks):
        assert c.text == doc.text[c.start : c.end]
        assert c.chunk_id == f"{doc.doc_id}::{i}"
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())


def test_breaks_where_the_topic_changes(embedder) -> None:  # noqa: ANN001
    text = " ".join(BREAD) + " " + " ".join(SPACE)
    doc = Document("d", "mem", "text", text)
    chunks = _semantic(embedder).chunk(doc)
    _assert_exact(doc, chunks)
    assert [c.text for c in chunks] == [" ".join(BREAD), " ".join(SPACE)]


def test_three_topics_in_paragraphs_give_three_chunks(embedder) -> None:  # noqa: ANN001
    # Paragraph breaks are sentence breaks, not forced chunk breaks: the middle paragraph split in two stays whole.
    text = " ".join(BREAD) + "\n\n" + " ".join(SPACE[:3]) + "\n\n" + " ".join(SPACE[3:]) + "\n\n" + " ".join(TAXES)
    doc = Document("d", "mem", "text", text)
    chunks = _semantic(embedder, size=200, percentile=85).chunk(doc)  # with 500, the 45-token tax part is "tiny"
    _assert_exact(doc, chunks)
    assert [c.text.split(".")[0] for c in chunks] == [BREAD[0][:-1], SPACE[0][:-1], TAXES[0][:-1]]


def test_size_is_respected_and_offsets_exact(embedder) -> None:  # noqa: ANN001
    text = "\n\n".join(" ".join(block) for block in (BREAD, SPACE, TAXES, BREAD[::-1], SPACE[::-1]))
    doc = Document("d", "mem", "text", text)
    chunks = _semantic(embedder, size=40, overlap=0).chunk(doc)
    _assert_exact(doc, chunks)
    tok = get_tokenizer()
    assert len(chunks) >= 5
    for c in chunks:
        assert c.n_tokens <= 40
        assert abs(tok.count(c.text) - c.n_tokens) <= 2


def test_small_groups_join_a_neighbour(embedder) -> None:  # noqa: ANN001
    # One off-topic sentence between two halves of a topic is a tiny group: it must not become a chunk of its own.
    text = " ".join(BREAD[:3]) + " " + TAXES[0] + " " + " ".join(BREAD[3:])
    doc = Document("d", "mem", "text", text)
    chunks = _semantic(embedder, size=500, percentile=50).chunk(doc)
    _assert_exact(doc, chunks)
    floor = 500 // 8
    assert all(c.n_tokens >= floor for c in chunks) or len(chunks) == 1


def test_never_crosses_a_top_level_section_and_carries_heading_paths(embedder) -> None:  # noqa: ANN001
    # Two top-level sections on the same topic: similar sentences, but the heading is a forced break.
    part1 = "# Baking\n\n" + " ".join(BREAD[:3]) + "\n\n## Finishing\n\n" + " ".join(BREAD[3:]) + "\n\n"
    part2 = "# More baking\n\n" + " ".join(BREAD) + "\n"
    text = part1 + part2
    sections = (
        Section(1, "Baking", 0),
        Section(2, "Finishing", text.index("## Finishing")),
        Section(1, "More baking", len(part1)),
    )
    doc = Document("d", "x.md", "markdown", text, title="Bread", sections=sections)
    chunks = _semantic(embedder).chunk(doc)
    _assert_exact(doc, chunks)
    assert [(c.start < len(part1) < c.end) for c in chunks] == [False] * len(chunks)
    assert chunks[0].heading_path == ("Bread", "Baking")  # its subsection joined it: the shared prefix
    assert chunks[-1].heading_path == ("Bread", "More baking")
    assert chunks[-1].text.startswith("# More baking")


def test_cost_is_counted_and_repeated_sentences_are_embedded_once(embedder) -> None:  # noqa: ANN001
    chunker = _semantic(embedder)
    doc = Document("d1", "mem", "text", " ".join(BREAD + BREAD[:2]))
    chunker.chunk(doc)
    assert chunker.stats.sentences == 8
    assert chunker.stats.embedded == 6  # the two repeats came from the cache
    assert chunker.stats.seconds > 0
    chunker.chunk(Document("d2", "mem", "text", " ".join(BREAD[:4])))
    assert (chunker.stats.sentences, chunker.stats.embedded) == (12, 6)
    # Other strategies embed nothing.
    plain = Chunker(ChunkingConfig(strategy="recursive"), embedder=embedder)
    plain.chunk(doc)
    assert plain.stats.sentences == 0


def test_semantic_without_an_embedder_says_so() -> None:
    with pytest.raises(ConfigError, match="'semantic' needs an embedder"):
        Chunker(ChunkingConfig(strategy="semantic"))


def test_sentence_spans_tile_the_text_and_split_blocks() -> None:
    text = (
        "  Intro line one\nwrapped onto a second line. Next sentence here!\n\n\n## Heading\nBody text.\n"
        "1. first item\n2. second item\n| a | b |\n| 1 | 2 |\n   \n"
    )
    spans = sentence_spans(text, 0, len(text))
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    pieces = [text[s:e].strip() for s, e in spans]
    assert pieces == [
        "Intro line one\nwrapped onto a second line.",  # a hard-wrapped line is not a sentence break
        "Next sentence here!",
        "## Heading",
        "Body text.",
        "1. first item",
        "2. second item",
        "| a | b |",
        "| 1 | 2 |",
    ]
    assert sentence_spans("   ", 0, 3) == []


def test_a_collection_indexes_with_the_semantic_chunker(tmp_path, small_corpus, embedder) -> None:  # noqa: ANN001
    # index_paths hands the collection's embedder to the chunker, so the strategy works from a config alone.
    cfg = KenningConfig(chunking=ChunkingConfig(strategy="semantic", size=64, overlap=0))
    engine = Engine(tmp_path / "home", collection="sem", config=cfg, embedder=embedder)
    try:
        report = engine.index([str(small_corpus)])
        assert report.total_chunks > 0 and report.chunks_embedded == report.total_chunks
    finally:
        engine.close()
