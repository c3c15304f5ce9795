"""Synthetic eval sets on a small real corpus (SciFact abstracts and the small demo corpus, indexed with MiniLM)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kenning import Engine
from kenning.cli import app
from kenning.config import KenningConfig, LexicalConfig
from kenning.errors import ConfigError, InputError, ProviderError
from kenning.evaluate import QAItem, QASet, evaluate_qa, gold_qrels, synthesize
from kenning.evaluate.synth import (
    Analyzer,
    Candidate,
    SourceChunk,
    SynthOptions,
    _sentences,
    cloze_candidate,
    filter_candidates,
    keyword_candidate,
    llm_candidate,
    split_by_document,
)
from kenning.index import Collection
from kenning.providers.llm.base import Completion, Message
from kenning.retrieve import Searcher
from kenning.types import Usage

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir" / "scifact" / "corpus.jsonl"
N_DOCS = 16


@pytest.fixture(scope="module")
def scifact_home(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:  # noqa: ANN001 - the fixture
    """The first 16 SciFact abstracts, indexed in chunks of 96 tokens (several per abstract)."""
    if not SCIFACT.is_file():
        pytest.skip(f"SciFact not found at {SCIFACT}")
    root = tmp_path_factory.mktemp("synth")
    corpus = root / "scifact16" / "corpus.jsonl"
    corpus.parent.mkdir()
    with open(SCIFACT, encoding="utf-8") as f:
        corpus.write_text("".join(next(f) for _ in range(N_DOCS)), encoding="utf-8")
    home = root / "home"
    config = KenningConfig.load(home, chunking={"size": 96, "overlap": 0})
    engine = Engine(home, collection="small", embedder=embedder, config=config)
    engine.index([corpus])
    engine.close()
    return home


@pytest.fixture
def small(scifact_home: Path):  # noqa: ANN201
    col = Collection.open(scifact_home, "small")
    yield col
    col.close()


def _doc_texts(col: Collection) -> dict[str, str]:
    return dict(col.catalog.conn.execute("SELECT doc_id, text FROM documents"))


def test_sampling_is_stratified_across_documents(small: Collection) -> None:
    n_chunks = small.catalog.counts()[1]
    assert n_chunks >= 2.5 * N_DOCS  # several chunks per abstract, so stratification matters
    synth = synthesize(small, n=10, seed=0, method="cloze")
    items = list(synth.train) + list(synth.test)
    assert len(items) == 10
    docs = [it.gold_doc_ids[0] for it in items]
    assert len(set(docs)) == 10  # fewer questions than documents: each from a different document
    # not the first documents nor the first chunks: the sample is spread by a seeded shuffle
    first = [r[0] for r in small.catalog.conn.execute("SELECT doc_id FROM documents ORDER BY rowid LIMIT 10")]
    assert set(docs) != set(first)
    assert any(it.metadata["chunk_index"] > 0 for it in items)
    assert synth.manifest["counts"]["documents"] == 10


def test_at_most_per_document_questions_from_one_document(small: Collection) -> None:
    synth = synthesize(small, n=500, seed=1, method="cloze", options=SynthOptions(per_document=2))
    items = list(synth.train) + list(synth.test)
    per_doc = Counter(it.gold_doc_ids[0] for it in items)
    assert max(per_doc.values()) <= 2 and len(per_doc) >= N_DOCS - 3
    assert synth.manifest["shortfall"] == 500 - len(items) > 0
    assert synth.manifest["counts"]["chunks_available"] == 2 * N_DOCS


def test_gold_spans_point_at_text_that_exists(small: Collection) -> None:
    texts = _doc_texts(small)
    analyzer = Analyzer(small.lexical)
    chunks = {r[0]: r[1:] for r in small.catalog.conn.execute("SELECT chunk_id, doc_id, start, end, text FROM chunks")}
    for method in ("cloze", "keywords"):
        synth = synthesize(small, n=15, seed=2, method=method)
        for item in list(synth.train) + list(synth.test):
            doc_id, start, end, chunk_text = chunks[item.gold_chunk_ids[0]]
            assert item.gold_doc_ids == (doc_id,)
            assert texts[doc_id][start:end] == chunk_text
            assert 1 <= len(item.gold_spans) <= 2
            for span, context in zip(item.gold_spans, item.contexts, strict=True):
                assert span.doc_id == doc_id and span.source.endswith(".jsonl#" + span.source.rsplit("#", 1)[1])
                assert start <= span.start < span.end <= end
                assert texts[doc_id][span.start : span.end].strip() == context and context in chunk_text
            if method == "cloze":
                # the query comes from a sentence of the chunk that is not in the gold: the chunk without it
                gap = (item.gold_spans[0].end, item.gold_spans[1].start) if len(item.gold_spans) == 2 else None
                removed = texts[doc_id][gap[0] : gap[1]] if gap else chunk_text
                assert set(analyzer.terms(item.question)) <= set(analyzer.terms(removed))
                assert removed.strip() and all(removed.strip() not in c for c in item.contexts)


def test_same_seed_same_bytes_other_seed_other_split(small: Collection, tmp_path: Path) -> None:
    def write(seed: int, folder: str) -> dict[str, bytes]:
        synth = synthesize(small, n=16, seed=seed, test_fraction=0.25, method="cloze")
        paths = synth.write(tmp_path / folder)
        return {k: p.read_bytes() for k, p in paths.items()}

    a, b, c = write(0, "a"), write(0, "b"), write(1, "c")
    assert a == b
    assert a["test"] != c["test"] and a["train"] != c["train"]
    test_ids = [json.loads(line)["id"] for line in a["test"].decode().splitlines()]
    train = QASet.load(tmp_path / "a" / "train.jsonl")
    assert len(test_ids) == 4 and len(train) == 12
    manifest = json.loads(a["manifest"])
    assert manifest["seed"] == 0 and manifest["method"] == "cloze" and manifest["counts"]["test"] == 4
    assert list(manifest["filtered_questions"]) == ["copy", "duplicate", "title", "too_short"]  # sorted keys
    assert "time" not in json.dumps(manifest)  # nothing that changes between runs


def test_split_keeps_each_document_on_one_side(small: Collection) -> None:
    synth = synthesize(small, n=500, seed=3, method="cloze", test_fraction=0.5)
    train_docs = {it.gold_doc_ids[0] for it in synth.train}
    test_docs = {it.gold_doc_ids[0] for it in synth.test}
    assert train_docs and test_docs and not train_docs & test_docs
    total = len(synth.train) + len(synth.test)
    assert abs(len(synth.test) - total / 2) <= 3  # at most per_document items from the balance
    with pytest.raises(ConfigError, match="test_fraction"):
        split_by_document(list(synth.test), test_fraction=1.5, seed=0)


def _chunks(col: Collection) -> list[SourceChunk]:
    rows = col.catalog.conn.execute(
        "SELECT c.chunk_id, c.doc_id, c.idx, c.text, c.start, c.end, d.title FROM chunks c JOIN documents d "
        "USING (doc_id) ORDER BY c.id"
    )
    return [SourceChunk(*row) for row in rows]


def _analyzer(col: Collection) -> Analyzer:
    texts = [r[0] for r in col.catalog.conn.execute("SELECT text FROM chunks")]
    return Analyzer(col.lexical).fit(texts)


def test_filters_remove_planted_bad_questions(small: Collection) -> None:
    analyzer = _analyzer(small)
    opts = SynthOptions()
    chunks = _chunks(small)

    def other_sentences(cand: Candidate) -> list[str]:
        a, b = cand.removed or (0, 0)
        spans = [(s, e) for s, e in _sentences(cand.chunk.text) if (s, e) != (a, b) and e - s > 80]
        return [t for s, e in spans if (t := cand.chunk.text[s:e]).strip() != cand.chunk.title.strip()]

    good = next(c for c in map(lambda ch: cloze_candidate(ch, analyzer, opts), chunks) if c and other_sentences(c))
    chunk = good.chunk
    good2 = keyword_candidate(next(c for c in chunks if c.doc_id != chunk.doc_id), analyzer, opts)
    assert good2 is not None
    sentence = other_sentences(good)[0]  # a sentence of the gold text, not the cloze one
    planted = [
        good,
        Candidate("Glioma stem cells?", chunk, "llm"),  # too short
        Candidate(sentence, chunk, "llm"),  # copied from the gold text
        Candidate(chunk.title, chunk, "llm"),  # the title answers it
        Candidate(good.question.lower() + " in humans", chunk, "llm"),  # a near-duplicate of the first
        good2,
    ]
    kept, counts = filter_candidates(planted, analyzer, opts)
    assert kept == [good, good2]
    assert counts == {"too_short": 1, "copy": 1, "title": 1, "duplicate": 1}
    # a cloze query copies its own sentence by design; that is not a copy of the gold
    assert good.removed is not None and good.question.split()[-1] in chunk.text[good.removed[0] : good.removed[1]]
    assert filter_candidates(planted, analyzer, opts, limit=1)[0] == [good]


def test_cloze_query_is_cleaned() -> None:
    from kenning.evaluate.synth import _clean_query

    raw = "In conclusion, we found that statin use (HR 0.8 [12]) was associated with lower sepsis mortality."
    assert _clean_query(raw, 32) == "Statin use was associated with lower sepsis mortality"
    assert _clean_query("Our results suggest that A20 is required for glioma growth.", 32) == (
        "A20 is required for glioma growth"
    )
    long = "Cells, " + " ".join(f"w{i}" for i in range(50))
    assert len(_clean_query(long, 32).split()) <= 32


def test_analyzer_matches_the_bm25_index() -> None:
    import bm25s
    import Stemmer

    text = "The mice were running in the studies of IL-6 (n = 17), 2x faster; didn't they?"
    analyzer = Analyzer(LexicalConfig())
    index_tokens = bm25s.tokenize([text], stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False)[0]
    assert analyzer.terms(text) == index_tokens
    assert [s for s, _, _ in analyzer.tokens(text)][:3] == ["mice", "were", "running"]
    analyzer.fit(["mice run", "mice sleep", "cats run"])
    assert analyzer.df["mice"] == 2 and analyzer.idf("mice") < analyzer.idf("sleep")


@pytest.mark.slow
def test_gold_survives_rechunking_and_retrieval_finds_it(scifact_home: Path, small: Collection, embedder) -> None:  # noqa: ANN001
    synth = synthesize(small, n=20, seed=0, method="cloze")
    qa = QASet(synth.train.items + synth.test.items)
    engine = Engine(scifact_home, collection="big", embedder=embedder)  # the same abstracts, default chunking
    engine.index([Path(small.catalog.conn.execute("SELECT root FROM sources LIMIT 1").fetchone()[0])])
    big = engine.collection()
    try:
        assert big.catalog.counts()[1] < small.catalog.counts()[1]
        qrels = gold_qrels(qa, big.catalog)
        assert all(qrels.values())  # every span lands in a chunk of the other chunking
        doc_of = dict(big.catalog.conn.execute("SELECT chunk_id, doc_id FROM chunks"))
        assert all(doc_of[c] == qa[q].gold_doc_ids[0] for q, gold in qrels.items() for c in gold)
        scores = evaluate_qa(Searcher(big, embedder), qa, mode="bm25")
        assert len(scores.queries) == 20 and scores.mean["hit@10"] >= 0.8
        dense = evaluate_qa(Searcher(big, embedder), qa, mode="dense", metrics=("hit@1",))
        assert 0.3 <= dense.mean["hit@1"] <= 1.0
    finally:
        engine.close()


def test_evaluate_qa_on_the_same_collection(small: Collection, embedder) -> None:  # noqa: ANN001
    synth = synthesize(small, n=12, seed=0, method="keywords")
    qa = QASet(synth.train.items + synth.test.items)
    qrels = gold_qrels(qa, small.catalog)
    assert all(set(gold) == {qa[q].gold_chunk_ids[0]} for q, gold in qrels.items())  # one chunk, the sampled one
    scores = evaluate_qa(Searcher(small, None), qa, mode="bm25", metrics=("hit@10", "recall@10"))
    assert scores.mean["hit@10"] == scores.mean["recall@10"] >= 0.8
    by_chunk = QASet(tuple(QAItem(id=i.id, question=i.question, gold_chunk_ids=i.gold_chunk_ids) for i in qa))
    by_doc = QASet(tuple(QAItem(id=i.id, question=i.question, gold_doc_ids=i.gold_doc_ids) for i in qa))
    assert gold_qrels(by_chunk, small.catalog) == qrels
    doc_qrels = gold_qrels(by_doc, small.catalog)
    assert all(set(qrels[q]) < set(doc_qrels[q]) for q in qrels)  # every chunk of the document


def test_no_gold_in_collection_is_an_error(small: Collection, embedder) -> None:  # noqa: ANN001
    qa = QASet((QAItem(id="x", question="anything at all", gold_doc_ids=("not-here",)),))
    with pytest.raises(InputError, match="none of the 1 questions has its gold"):
        evaluate_qa(Searcher(small, embedder), qa, mode="bm25")


def test_small_demo_corpus(home: Path, small_corpus: Path, embedder) -> None:  # noqa: ANN001
    engine = Engine(home, collection="demo", embedder=embedder)
    engine.index([small_corpus])
    synth = synthesize(engine.collection(), n=10, seed=0, method="cloze", options=SynthOptions(min_chunk_words=20))
    items = list(synth.train) + list(synth.test)
    assert len({it.gold_doc_ids[0] for it in items}) >= 2
    assert synth.manifest["skipped_chunks"]["tiny_chunk"] >= 1  # the one-line notes are skipped
    engine.close()


def test_bad_arguments(small: Collection) -> None:
    with pytest.raises(ConfigError, match="method"):
        synthesize(small, method="magic")
    with pytest.raises(ConfigError, match="needs a language model"):
        synthesize(small, method="llm")
    with pytest.raises(ConfigError, match="n must be > 0"):
        synthesize(small, n=0)
    with pytest.raises(ConfigError, match="per_document"):
        SynthOptions(per_document=0)


# -- the LLM path: only the parsing of the model's reply is tested here, with a scripted stand-in ---------------


class _Scripted:
    """Replies with the given texts in turn; records the messages it was sent."""

    name = "scripted"

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.seen: list[list[Message]] = []

    def complete(self, messages, *, max_tokens=512, temperature=0.0, json=False) -> Completion:  # noqa: ANN001
        self.seen.append(list(messages))
        return Completion(self.replies.pop(0), self.name, Usage())

    def stream(self, messages, *, max_tokens=512, temperature=0.0):  # noqa: ANN001, ANN201
        raise NotImplementedError


def test_llm_reply_is_parsed_with_a_retry_on_bad_json(small: Collection) -> None:
    chunk = _chunks(small)[5]
    llm = _Scripted(
        "Sure! here it is",
        '```json\n{"question": "Which  cells\\nsuppress immunity?", "answer": "MDSCs", "evidence": "x"}\n```',
    )
    cand = llm_candidate(chunk, llm)
    assert cand.question == "Which cells suppress immunity?" and cand.answer == "MDSCs" and cand.evidence == "x"
    assert cand.method == "llm" and cand.removed is None
    prompt = llm.seen[0]
    assert prompt[0].role == "system" and "ONE question" in prompt[0].content
    assert chunk.text.strip() in prompt[1].content and chunk.title in prompt[1].content
    assert "not valid JSON" in llm.seen[1][-1].content
    with pytest.raises(ProviderError, match="did not return valid JSON"):
        llm_candidate(chunk, _Scripted("no", "still no", "nope"))


def test_cli_eval_synth(scifact_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["eval", "synth", "--home", str(scifact_home), "-c", "small", "--n", "8", "--out"]
    result = runner.invoke(app, [*args, str(tmp_path / "s"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["method"] == "cloze" and data["counts"]["items"] == 8
    assert Path(data["paths"]["test"]).is_file() and len(QASet.load(data["paths"]["test"])) == 4
    human = runner.invoke(app, [*args, str(tmp_path / "h"), "--method", "keywords"], catch_exceptions=False)
    assert human.exit_code == 0 and "questions" in human.stdout and "wrote" in human.stdout
    bad = runner.invoke(app, [*args, str(tmp_path / "x"), "--method", "llm"])
    assert bad.exit_code != 0
