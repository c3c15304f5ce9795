"""Parent-section expansion: the generator reads the chunk's section, citations keep the chunk and its offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from kenning import Engine
from kenning.chunking import get_tokenizer
from kenning.config import AnswerConfig, ChunkingConfig, KenningConfig
from kenning.errors import ConfigError
from kenning.generate.parent import chunk_sources, expand_to_parents
from kenning.types import Hit, Section

from .llm_servers import OPENAI, llm_server  # noqa: F401 - llm_server is a fixture

KETTLE = [
    "The Brisk kettle boils a litre of water in ninety seconds.",
    "Its handle stays cool because the body has a double wall.",
    "The base detaches so the kettle can be carried to the table.",
    "A blue light shows while the water is heating.",
    "The lid opens with a button on the handle.",
    "Limescale is removed by boiling vinegar once a month.",
]
TOMATO = [
    "Tomatoes need six hours of direct sun every day.",
    "Water them at the roots in the early morning.",
    "Pinch out the side shoots as the plants grow tall.",
]
DOC = (
    "# Kettles\n\n"
    + " ".join(KETTLE)
    + "\n\n## Care\n\nDescale it monthly.\n\n# Tomatoes\n\n"
    + " ".join(TOMATO)
    + "\n"
)
SECTIONS = (
    Section(1, "Kettles", 0),
    Section(2, "Care", DOC.index("## Care")),
    Section(1, "Tomatoes", DOC.index("# Tomatoes")),
)


def _hit(text: str, sentence: str, doc_id: str = "d") -> Hit:
    start = text.index(sentence)
    return Hit(
        1, 1.0, f"{doc_id}::3", doc_id, sentence, "x.md", "markdown", "X", ("Kettles",), start, start + len(sentence)
    )


def _tokens(text: str) -> int:
    return get_tokenizer().count(text)


def test_the_whole_section_when_it_fits_and_never_another_section() -> None:
    hit = _hit(DOC, KETTLE[2])
    (out,) = expand_to_parents([hit], {"d": (DOC, SECTIONS)}, budget_tokens=600)
    assert out.text == DOC[out.start : out.end]
    assert out.text.startswith("# Kettles") and "Descale it monthly." in out.text  # subsections belong to it
    assert "Tomatoes" not in out.text
    assert (out.chunk_id, out.doc_id, out.heading_path, out.rank) == (hit.chunk_id, "d", ("Kettles",), 1)


def test_a_budget_smaller_than_the_section_grows_around_the_chunk() -> None:
    hit = _hit(DOC, KETTLE[2])
    (out,) = expand_to_parents([hit], {"d": (DOC, SECTIONS)}, budget_tokens=45)
    assert out.text == DOC[out.start : out.end]
    assert KETTLE[2] in out.text and _tokens(out.text) <= 45
    assert KETTLE[1] in out.text and KETTLE[3] in out.text  # one neighbour on each side: centred
    assert out.text.startswith(KETTLE[1]) and out.text.endswith(KETTLE[3])  # whole sentences only
    assert "Tomatoes" not in out.text


def test_a_subsection_chunk_reads_its_subsection() -> None:
    hit = _hit(DOC, "Descale it monthly.")
    (out,) = expand_to_parents([hit], {"d": (DOC, SECTIONS)}, budget_tokens=600)
    assert out.text == "## Care\n\nDescale it monthly."


def test_a_document_without_headings_uses_a_window_around_the_chunk() -> None:
    text = " ".join(KETTLE + TOMATO)
    hit = _hit(text, KETTLE[4])
    (out,) = expand_to_parents([hit], {"d": (text, ())}, budget_tokens=50)
    assert out.text == text[out.start : out.end] and KETTLE[4] in out.text
    assert _tokens(out.text) <= 50 and KETTLE[3] in out.text and KETTLE[5] in out.text
    assert not out.text.startswith(KETTLE[0])
    (whole,) = expand_to_parents([hit], {"d": (text, ())}, budget_tokens=1000)
    assert whole.text == text


def test_what_cannot_be_expanded_passes_through() -> None:
    hit = _hit(DOC, KETTLE[2])
    assert expand_to_parents([hit], {}, budget_tokens=600) == [hit]  # document not found
    assert expand_to_parents([hit], {"d": ("changed " + DOC, SECTIONS)}, budget_tokens=600) == [hit]  # stale
    assert expand_to_parents([hit], {"d": (DOC, SECTIONS)}, budget_tokens=5) == [hit]  # the chunk fills the budget


def test_chunk_sources_gives_back_the_retrieved_chunks_in_the_order_read() -> None:
    a, b = _hit(DOC, KETTLE[0]), _hit(DOC, TOMATO[0], doc_id="e")
    wide = expand_to_parents([b, a], {"d": (DOC, SECTIONS), "e": (DOC, SECTIONS)}, budget_tokens=600)
    assert [h.text for h in wide] != [b.text, a.text]
    assert chunk_sources(wide, [a, b]) == [b, a]


# ------------------------------------------------------------------------------------------------ through ask


@pytest.fixture
def engine(tmp_path: Path, home: Path, embedder):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "kettle.md").write_text(DOC)
    # Small chunks, so the kettle's section is several chunks and expansion has neighbours to add.
    cfg = KenningConfig(chunking=ChunkingConfig(strategy="structure", size=20, overlap=0))
    eng = Engine(home, config=cfg, embedder=embedder)
    eng.index([tmp_path / "docs"])
    yield eng
    eng.close()


QUESTION = "How fast does the Brisk kettle boil a litre of water?"


def test_the_llm_reads_the_section_and_the_answer_cites_the_chunk(engine: Engine, llm_server, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv(OPENAI.key_env, "sk-test")
    llm = OPENAI.make(llm_server, max_retries=1, timeout=2.0)
    # The claim is in the chunk's neighbour, not the chunk: the verifier reads the section too, so it is supported.
    reply = "It boils a litre in ninety seconds [1]. Its handle stays cool because the body has a double wall [1]."
    try:
        llm_server.reply(OPENAI.ok(reply), OPENAI.ok(reply))
        plain = engine.ask(QUESTION, llm=llm, k=1, verifier="lexical", parent="none")
        wide = engine.ask(QUESTION, llm=llm, k=1, verifier="lexical", parent="section")
    finally:
        llm.close()
    narrow_prompt, wide_prompt = (r.body["messages"][-1]["content"] for r in llm_server.requests[-2:])
    assert KETTLE[0] in narrow_prompt and KETTLE[3] not in narrow_prompt
    assert KETTLE[0] in wide_prompt and KETTLE[3] in wide_prompt and "Descale it monthly." in wide_prompt
    assert "Tomatoes" not in wide_prompt
    (cite,) = wide.citations
    chunk = engine.fetch_chunk(cite.chunk_id)
    assert chunk is not None and cite.text == chunk.text == plain.citations[0].text  # the chunk, not its section
    assert KETTLE[3] not in cite.text
    assert [v.label for v in wide.verdicts] == ["SUPPORT", "SUPPORT"]
    assert plain.verdicts[1].label != "SUPPORT"  # against the chunk alone, the neighbour's claim has no evidence
    assert wide.verdicts[1].source_id == cite.chunk_id and "double wall" in wide.verdicts[1].evidence


def test_extractive_answers_read_the_section_too_and_bad_values_error(engine: Engine) -> None:
    a = engine.ask(QUESTION, mode="extractive", k=1, parent="section")
    assert a.answerable and a.citations
    chunk = engine.fetch_chunk(a.citations[0].chunk_id)
    assert chunk is not None and a.citations[0].text == chunk.text
    with pytest.raises(ConfigError, match="parent must be none or section"):
        engine.ask(QUESTION, mode="extractive", parent="document")
    assert AnswerConfig().parent == "none"  # off unless asked for
