"""Issue 12, item 5: whole-corpus ("global") questions answered by hybrid top-k and by LazyGraphRAG, scored against the
corpora's own top-level structure; an LLM judge on four criteria; and SciFact to check local questions lose nothing.

    python bench/global_questions.py offline [--corpus postgres,python] [--home /tmp/kenning-global]
    python bench/global_questions.py judge   [--corpus postgres,python] [--n 4] [--judge local:qwen2.5-1.5b]
    python bench/global_questions.py scifact [--n 300]
    python bench/global_questions.py all

**Gold structure** (:mod:`_structure`, read from the archives, never a hand-written list): the PostgreSQL manual's
eight Parts (index.html's table of contents; each page follows its "Up" links to its Part), the Python docs' and the
Docker docs' top folders.

**offline.** Six corpus-agnostic thematic questions (:data:`QUESTIONS`) are asked of each corpus with
``Engine.ask`` by every system in ``--systems``: ``hybrid`` (the default retrieval, top-k) and ``lazy``
(``mode="lazy"``, LazyGraphRAG), extractively (``llm=False``) and, with ``-local`` suffixed, with the packaged
local generator. An answer *covers* a topic when one of its cited chunks comes from that topic and a claim the
verifier checked against that chunk got SUPPORT. Reported per corpus and system: mean topics covered, mean topics
cited at all, claims, share of claims supported, answerable rate; the ratio lazy / hybrid of mean topics covered
(bar: ≥ 2 on the PostgreSQL manual and the Python docs) and a paired comparison per question.

**judge.** The answers the offline run wrote are compared pairwise by an LLM on comprehensiveness, diversity,
empowerment and directness (the GraphRAG paper's criteria, prompt in :data:`JUDGE_PROMPT`), every pair in both
orders (A/B and B/A) so a judge that prefers a position scores 50 %, plus an A/A check (an answer against itself).

**scifact.** SciFact (BEIR test split) indexed with its concept graph; nDCG@10 of ``Engine.search(q, mode="lazy")``
against ``mode="hybrid"``, both scored by pytrec_eval (bar: lazy ≥ hybrid).

Indexes live in ``--home`` and are reused between runs (a collection per corpus, named after it); results go to
``bench/results/global_questions[_judge|_scifact].json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from _common import RESULTS, SCIFACT, Target, console, print_table, print_targets, timed, write_result
from _structure import ARCHIVES, Coverage, Structure, load_structure, score_answer
from pydantic import BaseModel

from kenning.types import Answer

QUESTIONS: tuple[str, ...] = (
    "What are the main topics of this documentation?",
    "What are the main themes covered in these documents?",
    "Give an overview of what this manual covers.",
    "What subjects does this corpus discuss?",
    "Summarize the major areas that this documentation describes.",
    "What different kinds of things can a reader learn from these documents?",
)

BAR_CORPORA = ("postgres", "python")


# -- systems: how each one asks -------------------------------------------------------------------------------------


def _ask(retrieval: str, generate: bool) -> Callable[[Any, str], Answer]:
    def ask(engine: Any, question: str) -> Answer:
        options: dict[str, Any] = {} if generate else {"llm": False}
        if retrieval == "lazy":
            options["mode"] = "lazy"
        return engine.ask(question, **options)

    return ask


SYSTEMS: dict[str, Callable[[Any, str], Answer]] = {
    "hybrid": _ask("hybrid", generate=False),
    "lazy": _ask("lazy", generate=False),
    "hybrid-local": _ask("hybrid", generate=True),
    "lazy-local": _ask("lazy", generate=True),
}


def _names(value: str, known: Any, what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in known]
    if bad:
        raise SystemExit(f"unknown {what} {', '.join(bad)}; known: {', '.join(known)}")
    return names


def open_engine(home: Path, corpus: str, *, index: bool = True) -> Any:
    """The engine on ``home``'s collection named ``corpus``, indexed from its archive first when it is empty."""
    from kenning import Engine

    engine = Engine(home, collection=corpus)
    col = engine.collection() if (home / "collections" / corpus).is_dir() else None
    empty = col is None or col.counts()[1] == 0
    if empty and index:
        console.print(f"indexing {ARCHIVES[corpus]} into {home} (collection {corpus}) …")
        with timed() as t:
            engine.index([ARCHIVES[corpus]])
        console.print(f"  indexed in {t.seconds:.0f} s")
    return engine


def source_coverage(engine: Any, gold: Structure) -> dict[str, int]:
    """How many indexed documents the gold structure maps (checks the citation-source format end to end)."""
    sources = [s for group in engine.collection().catalog.document_sources().values() for s in group]
    topics = [gold.topic_of_source(s) for s in sources]
    return {
        "indexed_sources": len(sources),
        "in_a_topic": sum(t is not None for t in topics),
        "unknown": sum(1 for s in sources if gold.topic_of_member.get(_member(s), "?") == "?"),
    }


def _member(source: str) -> str:
    from _structure import member_of

    return member_of(source)


# -- offline --------------------------------------------------------------------------------------------------------


def _record(question: str, answer: Answer, cov: Coverage, seconds: float) -> dict[str, Any]:
    return {
        "question": question,
        "topics_supported": list(cov.topics_supported),
        "topics_cited": list(cov.topics_cited),
        "claims": cov.claims,
        "supported_claims": cov.supported_claims,
        "cited_chunks": cov.cited_chunks,
        "answerable": cov.answerable,
        "mode": answer.mode,
        "model": answer.model,
        "seconds": round(seconds, 2),
        "text": answer.text,
        "sources": [c.source for c in answer.citations if c.cited],
        "notes": list(answer.notes),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the questions one system answered (rows that failed carry ``error`` and count as 0 topics).

    >>> summarise([{"topics_supported": ["a", "b"], "topics_cited": ["a", "b", "c"], "claims": 4,
    ...             "supported_claims": 3, "answerable": True, "seconds": 1.0}])["topics_supported"]
    2.0
    """
    ok = [r for r in rows if "error" not in r]
    claims = sum(r["claims"] for r in ok)
    return {
        "questions": len(rows),
        "errors": len(rows) - len(ok),
        "topics_supported": statistics.fmean(len(r.get("topics_supported", ())) for r in rows) if rows else 0.0,
        "topics_cited": statistics.fmean(len(r.get("topics_cited", ())) for r in rows) if rows else 0.0,
        "claims": statistics.fmean(r["claims"] for r in ok) if ok else 0.0,
        "share_supported": sum(r["supported_claims"] for r in ok) / claims if claims else 0.0,
        "answerable": statistics.fmean(bool(r["answerable"]) for r in ok) if ok else 0.0,
        "seconds": statistics.fmean(r["seconds"] for r in ok) if ok else 0.0,
        "distinct_topics_over_all_questions": len({t for r in rows for t in r.get("topics_supported", ())}),
    }


def paired(base: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    """Per question: topics covered by ``other`` minus by ``base``; wins, ties, losses for ``other``.

    >>> paired([{"topics_supported": ["a"]}], [{"topics_supported": ["a", "b"]}])["wins"]
    1
    """
    diffs = [
        len(o.get("topics_supported", ())) - len(b.get("topics_supported", ()))
        for b, o in zip(base, other, strict=True)
    ]
    return {
        "differences": diffs,
        "wins": sum(d > 0 for d in diffs),
        "ties": sum(d == 0 for d in diffs),
        "losses": sum(d < 0 for d in diffs),
        "mean_difference": statistics.fmean(diffs) if diffs else 0.0,
    }


def run_offline(args: argparse.Namespace) -> None:
    systems = _names(args.systems, SYSTEMS, "system")
    results: dict[str, Any] = {"questions": list(QUESTIONS), "systems": systems, "home": str(args.home), "corpora": {}}
    targets = []
    for corpus in _names(args.corpus, ARCHIVES, "corpus"):
        gold = load_structure(corpus)
        engine = open_engine(args.home, corpus)
        out: dict[str, Any] = {
            "topics": list(gold.topics),
            "gold_coverage": gold.coverage(),
            "index_coverage": source_coverage(engine, gold),
            "answers": {},
            "summary": {},
        }
        console.print(f"[bold]{corpus}[/bold]: {len(gold.topics)} topics; index {out['index_coverage']}")
        for system in systems:
            rows = []
            for question in QUESTIONS[: args.n]:
                t0 = time.perf_counter()
                try:
                    answer = SYSTEMS[system](engine, question)
                except Exception as exc:  # noqa: BLE001 — a system that is not built yet is reported, not fatal
                    rows.append({"question": question, "error": f"{type(exc).__name__}: {exc}"})
                    console.print(f"  {system}: {rows[-1]['error'][:200]}")
                    continue
                cov = score_answer(answer, gold.topic_of_source)
                rows.append(_record(question, answer, cov, time.perf_counter() - t0))
                console.print(
                    f"  {system:13} {len(cov.topics_supported)} covered / {len(cov.topics_cited)} cited, "
                    f"{cov.supported_claims}/{cov.claims} SUPPORT, {rows[-1]['seconds']:.1f} s — {question}"
                )
            out["answers"][system] = rows
            out["summary"][system] = summarise(rows)
        for base, other in (("hybrid", "lazy"), ("hybrid-local", "lazy-local")):
            if base in out["summary"] and other in out["summary"]:
                b, o = out["summary"][base]["topics_supported"], out["summary"][other]["topics_supported"]
                ratio = o / b if b else (float("inf") if o else float("nan"))
                out.setdefault("comparisons", {})[f"{other} vs {base}"] = {
                    "ratio_topics_supported": ratio,
                    "paired": paired(out["answers"][base], out["answers"][other]),
                }
                if corpus in BAR_CORPORA:
                    targets.append(
                        Target(f"{corpus}: topics covered, {other} / {base}", ratio, ">=", 2.0, "×", "verified")
                    )
        results["corpora"][corpus] = out
        engine.close()
        rows_out = [
            [f"{corpus} {s}", *(v[k] for k in ("topics_supported", "topics_cited", "claims", "share_supported"))]
            + [v["answerable"], v["seconds"], v["errors"]]
            for s, v in out["summary"].items()
        ]
        print_table(
            f"{corpus}: {len(gold.topics)} top-level topics",
            ["system", "topics covered", "topics cited", "claims", "SUPPORT share", "answerable", "s/answer", "err"],
            rows_out,
        )
    print_targets(targets, quick=args.n < len(QUESTIONS))
    write_result("global_questions", quick=False, results=results, targets=targets, out=args.out)


# -- judge ----------------------------------------------------------------------------------------------------------

CRITERIA = {
    "comprehensiveness": "How much detail does the answer provide to cover all aspects and details of the question?",
    "diversity": "How varied and rich is the answer in providing different perspectives and insights on the question?",
    "empowerment": "How well does the answer help the reader understand and make informed judgements about the topic?",
    "directness": "How specifically and clearly does the answer address the question?",
}

JUDGE_PROMPT = """You are a fair judge comparing two answers to the same question on four criteria:
{criteria}

Question: {question}

Answer A:
{a}

Answer B:
{b}

For each criterion say which answer is better: "A", "B" or "tie". Judge each criterion on its own, not on length
alone. Reply with JSON only: {{"reason": "<one sentence>", {fields}}}"""

JUDGE_CHARS = 2000  # each answer is cut to this many characters so two fit the small model's context comfortably

Winner = Literal["A", "B", "tie"]


class Judgement(BaseModel):
    """The judge's reply: a one-sentence reason, then A, B or tie per criterion."""

    reason: str
    comprehensiveness: Winner
    diversity: Winner
    empowerment: Winner
    directness: Winner


def judge_prompt(question: str, a: str, b: str) -> str:
    """The judge's prompt for one order (answers cut to :data:`JUDGE_CHARS`)."""
    criteria = "\n".join(f"- {name}: {text}" for name, text in CRITERIA.items())
    fields = ", ".join(f'"{name}": "A|B|tie"' for name in CRITERIA)  # an example with "A" gets copied
    return JUDGE_PROMPT.format(
        criteria=criteria, question=question, a=a[:JUDGE_CHARS], b=b[:JUDGE_CHARS], fields=fields
    )


def judge_once(llm: Any, question: str, a: str, b: str) -> dict[str, str]:
    """The winner (A, B or tie) per criterion for one order; a reply still malformed after retries is all ties."""
    from kenning.errors import ProviderError
    from kenning.providers.llm import Message, complete_json

    try:
        reply, _usage = complete_json(llm, [Message("user", judge_prompt(question, a, b))], Judgement, max_tokens=200)
    except ProviderError:
        return dict.fromkeys(CRITERIA, "tie")
    return {c: getattr(reply, c) for c in CRITERIA}


def win_rate(verdicts: list[tuple[str, str]]) -> float:
    """Share of judgements the second system wins (ties count half); each item is (order, winner), order "AB" means
    the second system was shown as B.

    >>> win_rate([("AB", "B"), ("BA", "B")])  # a judge that always says B: one win, one loss
    0.5
    """
    score = 0.0
    for order, winner in verdicts:
        if winner == "tie":
            score += 0.5
        elif (order == "AB") == (winner == "B"):
            score += 1.0
    return score / len(verdicts) if verdicts else float("nan")


def first_position_rate(verdicts: list[tuple[str, str]]) -> float:
    """Share of the non-tie judgements that went to the answer shown first: the judge's position bias.

    >>> first_position_rate([("AB", "A"), ("BA", "A"), ("AB", "tie")])
    1.0
    """
    decided = [w for _order, w in verdicts if w != "tie"]
    return sum(w == "A" for w in decided) / len(decided) if decided else float("nan")


def judge_summary(
    verdicts: dict[str, list[tuple[str, str]]], same: dict[str, list[str]], *, questions: int, seconds: float
) -> dict[str, Any]:
    """Win rates per criterion over both orders, the judge's first-position rate, and the A/A check."""
    return {
        "questions": questions,
        "seconds": seconds,
        "win_rate": {c: win_rate(v) for c, v in verdicts.items()},
        "first_position_rate": {c: first_position_rate(v) for c, v in verdicts.items()},
        "verdicts": verdicts,
        "a_a": {c: {w: s.count(w) for w in ("A", "B", "tie")} for c, s in same.items()},
        # the same answer in both slots, one call: the second slot's share (ties half); a fair judge gives ~0.5.
        # Through the two-order protocol it is 0.5 by construction when the judge is deterministic.
        "a_a_win_rate": {c: win_rate([("AB", w) for w in s]) for c, s in same.items()},
    }


def run_judge(args: argparse.Namespace) -> None:
    from kenning.config import LLMConfig
    from kenning.providers.llm import get_llm, parse_llm_spec

    source = json.loads((args.answers or RESULTS / "global_questions.json").read_text(encoding="utf-8"))["results"]
    base, other = _names(args.pair, SYSTEMS, "system")
    llm = get_llm(LLMConfig(**parse_llm_spec(args.judge)))
    results: dict[str, Any] = {"judge": args.judge, "pair": [base, other], "prompt": JUDGE_PROMPT, "corpora": {}}
    targets = []
    for corpus in _names(args.corpus, ARCHIVES, "corpus"):
        answers = source["corpora"].get(corpus, {}).get("answers", {})
        if base not in answers or other not in answers:
            console.print(f"{corpus}: no {base}/{other} answers in the offline results; run offline first")
            continue
        pairs = [
            (b["question"], b["text"], o["text"])
            for b, o in zip(answers[base], answers[other], strict=True)
            if "error" not in b and "error" not in o
        ][: args.n]
        verdicts: dict[str, list[tuple[str, str]]] = {c: [] for c in CRITERIA}
        same: dict[str, list[str]] = {c: [] for c in CRITERIA}
        t0 = time.perf_counter()
        for done, (question, text_b, text_o) in enumerate(pairs, 1):
            ab, ba, aa = (
                judge_once(llm, question, x, y) for x, y in ((text_b, text_o), (text_o, text_b), (text_b, text_b))
            )
            for criterion in CRITERIA:
                verdicts[criterion] += [("AB", ab[criterion]), ("BA", ba[criterion])]
                same[criterion].append(aa[criterion])
            console.print(f"  {corpus}: judged {question!r} ({time.perf_counter() - t0:.0f} s so far)")
            out = judge_summary(verdicts, same, questions=done, seconds=time.perf_counter() - t0)
            results["corpora"][corpus] = out  # written after every question: a run cut short keeps what it judged
            write_result("global_questions_judge", quick=True, results=results, targets=targets, out=args.out)
        if corpus not in results["corpora"]:
            continue
        out = results["corpora"][corpus]
        rows = [
            [c, out["win_rate"][c], out["first_position_rate"][c], out["a_a_win_rate"][c], str(out["a_a"][c])]
            for c in CRITERIA
        ]
        print_table(
            f"{corpus}: {other} against {base}, {len(pairs)} questions × 2 orders, judge {args.judge}",
            ["criterion", f"{other} win rate", "picks first", "A/A win rate", "A/A verdicts"],
            rows,
        )
        for c in CRITERIA:
            aa = out["a_a_win_rate"][c]
            targets.append(Target(f"{corpus} A/A {c}: |win rate − 0.5|", abs(aa - 0.5), "<=", 0.15, "", "bias check"))
    print_targets(targets, quick=args.n < len(QUESTIONS))
    write_result("global_questions_judge", quick=False, results=results, targets=targets, out=args.out)


# -- SciFact: local questions must not get worse --------------------------------------------------------------------


def run_scifact(args: argparse.Namespace) -> None:
    import pytrec_eval

    from kenning import Engine
    from kenning.evaluate import load_beir

    ds = load_beir(SCIFACT, "test")
    engine = Engine(args.home, collection="scifact")
    col_dir = args.home / "collections" / "scifact"
    results: dict[str, Any] = {"home": str(args.home)}
    if not col_dir.is_dir() or engine.collection().counts()[1] == 0:
        with timed() as t:
            engine.index([SCIFACT / "corpus.jsonl"])
        results["index_seconds"] = t.seconds
    with timed() as t:
        build = engine.build_graph()
    results["graph_build_seconds"] = t.seconds
    results["graph_build"] = repr(build)[:2000]
    qids = list(ds.queries)[: args.n]
    runs: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    for mode in ("hybrid", "lazy"):
        run: dict[str, dict[str, float]] = {}
        t0 = time.perf_counter()
        for i, q in enumerate(qids):
            if i and i % 50 == 0:
                console.print(f"  {mode}: {i} queries, {time.perf_counter() - t0:.0f} s")
            docs: dict[str, float] = {}
            for hit in engine.search(ds.queries[q], mode=mode, k=10):
                doc = hit.source.rsplit("#", 1)[-1]
                docs.setdefault(doc, 1.0 / (1 + len(docs)))  # rank order, first chunk of a document wins
            run[q] = docs
        seconds[mode] = (time.perf_counter() - t0) / max(1, len(qids))
        runs[mode] = run
    qrels = {q: ds.qrels[q] for q in qids if q in ds.qrels}
    ndcg = {}
    for mode, run in runs.items():
        per = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(run)
        ndcg[mode] = statistics.fmean(per.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels)
    results.update({"queries": len(qrels), "ndcg@10": ndcg, "seconds_per_query": seconds})
    print_table(
        f"SciFact test, {len(qrels)} queries", ["mode", "nDCG@10", "s/query"], [[m, ndcg[m], seconds[m]] for m in ndcg]
    )
    targets = [Target("SciFact nDCG@10, lazy − hybrid", ndcg["lazy"] - ndcg["hybrid"], ">=", 0.0)]
    print_targets(targets, quick=len(qids) < len(ds.queries))
    write_result("global_questions_scifact", quick=False, results=results, targets=targets, out=args.out)


# -- command line ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("offline", "judge", "scifact", "all"))
    parser.add_argument("--corpus", default=",".join(BAR_CORPORA), help="postgres, python, docker (comma-separated)")
    parser.add_argument("--home", type=Path, default=Path("/tmp/kenning-global"), help="index home, reused")
    parser.add_argument("--systems", default="hybrid,lazy", help=f"offline systems: {', '.join(SYSTEMS)}")
    parser.add_argument("--n", type=int, default=None, help="questions per corpus (offline 6, judge 4, scifact all)")
    parser.add_argument("--pair", default="hybrid,lazy", help="judge: the baseline and the system judged against it")
    parser.add_argument("--judge", default="local:qwen2.5-1.5b", help="judge: the LLM, PROVIDER:MODEL")
    parser.add_argument("--answers", type=Path, default=None, help="judge: offline results to read")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    args = parser.parse_args()
    commands = ("offline", "judge", "scifact") if args.command == "all" else (args.command,)
    n = args.n
    for command in commands:
        args.n = n if n is not None else {"offline": len(QUESTIONS), "judge": 4, "scifact": 10**9}[command]
        {"offline": run_offline, "judge": run_judge, "scifact": run_scifact}[command](args)


if __name__ == "__main__":
    main()
