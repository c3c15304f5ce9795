"""Abstention: fit the P(answerable) model on questions kenning can see, then measure it on other sets.

    python bench/abstention.py            # fit on 200 SciFact train questions, test on the FAQ (178) and PubMedQA (200)
    python bench/abstention.py --quick    # 60 questions per set
    python bench/abstention.py --n 0      # every question of every set

Each question is asked three ways, with retrieval only (the signals `kenning ask` decides on before generating):

- **answerable**: against the collection that holds its gold document;
- **removed**: against the same collection with its gold document's chunks taken out of the results (exactly what a
  collection without that document returns to the dense retriever; BM25's IDF shifts by one document);
- **other domain**: against a collection of another field (SciFact claims against the PostgreSQL manual; FAQ
  questions against PubMedQA abstracts and back).

The two signals (best subject-aware sentence similarity, IDF-weighted question coverage) are fitted by logistic
regression on the **SciFact train** questions (answerable vs removed + other domain), and the threshold is set so
that 93 % of the fit set's answerable questions are answered (a margin over the 90 % target). The held-out sets
(Python FAQ with question headings removed, PubMedQA test) are only measured. Targets: abstain on >= 80 % of
unanswerable questions while answering >= 90 % of answerable ones. The fitted weights are printed for
`kenning/generate/abstain.py`; the generator's own "not in the sources" and the verifier's verdicts add to these
retrieval-only rates in `kenning ask` (measured end to end in bench/answers.py).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from _common import BENCH, SCIFACT, Target, arg_parser, console, print_table, print_targets, write_result

from kenning import Engine
from kenning.generate.abstain import DEFAULT_ABSTENTION, AbstentionModel, Signals

SHARED = BENCH.parents[1] / "shared" / "data"
FAQ = SHARED / "qa" / "python-faq" / "python311_faq_qa.jsonl"
PUBMED = SHARED / "qa" / "pubmedqa"
POSTGRES = SHARED / "corpora" / "postgresql-15.20-doc-html.tar.gz"
HOME = BENCH / "results" / "abstention_home"
K = 6


def _engine(name: str, paths: list[Path]) -> Engine:
    engine = Engine(HOME, collection=name)
    report = engine.index(paths)
    console.print(f"{name}: {report.total_documents} documents, {report.total_chunks} chunks ({report.seconds:.0f} s)")
    return engine


def _folder(name: str, docs: dict[str, str]) -> Path:
    folder = HOME / f"{name}-docs"
    if not folder.exists():
        folder.mkdir(parents=True)
        for doc_id, text in docs.items():
            (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    return folder


def _doc_key(source: str) -> str:
    """``corpus.jsonl#123`` → ``123``; ``…/faq-12.txt`` → ``faq-12``."""
    return source.rsplit("#", 1)[-1] if "#" in source else Path(source).stem


def _signals(engine: Engine, question: str, drop: set[str] | None = None) -> tuple[float, float]:
    hits = engine.search(question, k=K + (20 if drop else 0))
    if drop:
        hits = [h for h in hits if _doc_key(h.source) not in drop][:K]
    signals, _ = engine.answerability(question, hits)
    return signals.similarity, signals.coverage


def scifact_items(limit: int | None) -> list[tuple[str, set[str]]]:
    queries = {}
    for line in (SCIFACT / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        queries[row["_id"]] = row["text"]
    gold: dict[str, set[str]] = {}
    with open(SCIFACT / "qrels" / "train.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            gold.setdefault(row["query-id"], set()).add(row["corpus-id"])
    items = [(queries[q], docs) for q, docs in sorted(gold.items())]
    return random.Random(0).sample(items, min(limit, len(items))) if limit else items


def faq_items(limit: int | None) -> tuple[list[tuple[str, set[str]]], dict[str, str]]:
    rows = [json.loads(x) for x in FAQ.read_text(encoding="utf-8").splitlines() if x.strip()]
    items = [(r["question"], {r["id"]}) for r in rows]
    docs = {r["id"]: r["answer_rst"] for r in rows}
    return (random.Random(0).sample(items, min(limit, len(items))) if limit else items), docs


def pubmed_items(limit: int | None) -> tuple[list[tuple[str, set[str]]], dict[str, str]]:
    data = json.loads((PUBMED / "ori_pqal.json").read_text(encoding="utf-8"))
    truth = json.loads((PUBMED / "test_ground_truth.json").read_text(encoding="utf-8"))
    items = [(data[p]["QUESTION"], {p}) for p in sorted(truth)]
    docs = {p: "\n\n".join(item["CONTEXTS"]) for p, item in data.items()}
    return (random.Random(0).sample(items, min(limit, len(items))) if limit else items), docs


def collect(engine: Engine, other: Engine, items: list[tuple[str, set[str]]], name: str) -> dict[str, np.ndarray]:
    out: dict[str, list[tuple[float, float]]] = {"answerable": [], "removed": [], "other_domain": []}
    with console.status(f"{name}: signals for {len(items)} questions") as status:
        for i, (question, gold) in enumerate(items):
            out["answerable"].append(_signals(engine, question))
            out["removed"].append(_signals(engine, question, drop=gold))
            out["other_domain"].append(_signals(other, question))
            status.update(f"{name}: signals {i + 1}/{len(items)}")
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


def fit(sets: dict[str, np.ndarray], answered_share: float = 0.93) -> AbstentionModel:
    from sklearn.linear_model import LogisticRegression

    pos = sets["answerable"]
    neg = np.vstack([sets["removed"], sets["other_domain"]])
    x = np.vstack([pos, neg])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    clf = LogisticRegression(C=10.0, class_weight="balanced").fit(x, y)
    w = (float(clf.coef_[0][0]), float(clf.coef_[0][1]))
    b = float(clf.intercept_[0])
    model = AbstentionModel((round(w[0], 3), round(w[1], 3)), round(b, 3), 0.5)
    p = np.array([model.probability(Signals(*row)) for row in pos])
    threshold = float(np.quantile(p, 1.0 - answered_share))
    return AbstentionModel(model.weights, model.bias, round(threshold, 3), "SciFact train (bench/abstention.py)")


def rates(model: AbstentionModel, sets: dict[str, np.ndarray]) -> dict[str, float]:
    def abstain_share(rows: np.ndarray) -> float:
        return float(np.mean([model.abstains(Signals(*row)) for row in rows])) if len(rows) else 0.0

    return {
        "answered_on_answerable": 1.0 - abstain_share(sets["answerable"]),
        "abstained_on_removed": abstain_share(sets["removed"]),
        "abstained_on_other_domain": abstain_share(sets["other_domain"]),
        "abstained_on_unanswerable": abstain_share(np.vstack([sets["removed"], sets["other_domain"]])),
    }


def main() -> None:
    parser = arg_parser(__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="questions per set (seeded sample; 0: all)")
    args = parser.parse_args()
    limit = 60 if args.quick else (args.n or None)
    HOME.mkdir(parents=True, exist_ok=True)
    faq_q, faq_docs = faq_items(limit)
    pub_q, pub_docs = pubmed_items(limit)
    scifact = _engine("scifact", [SCIFACT / "corpus.jsonl"])
    postgres = _engine("postgres", [POSTGRES])
    faq = _engine("python-faq", [_folder("python-faq", faq_docs)])
    pubmed = _engine("pubmedqa", [_folder("pubmedqa", pub_docs)])

    sets = {
        "scifact-train (fit)": collect(scifact, postgres, scifact_items(limit), "scifact"),
        "python-faq": collect(faq, pubmed, faq_q, "python-faq"),
        "pubmedqa-test": collect(pubmed, faq, pub_q, "pubmedqa"),
    }
    model = fit(sets["scifact-train (fit)"])
    results: dict[str, Any] = {
        "fitted": {"weights": model.weights, "bias": model.bias, "threshold": model.threshold},
        "shipped": {
            "weights": DEFAULT_ABSTENTION.weights,
            "bias": DEFAULT_ABSTENTION.bias,
            "threshold": DEFAULT_ABSTENTION.threshold,
        },
        "sets": {},
    }
    rows = []
    for name, data in sets.items():
        fitted, shipped = rates(model, data), rates(DEFAULT_ABSTENTION, data)
        means = {k: [float(x) for x in v.mean(axis=0)] for k, v in data.items()}
        results["sets"][name] = {"questions": len(data["answerable"]), "fitted": fitted, "shipped": shipped}
        results["sets"][name]["mean_signals"] = means
        rows.append(
            [
                name,
                len(data["answerable"]),
                fitted["answered_on_answerable"],
                fitted["abstained_on_removed"],
                fitted["abstained_on_other_domain"],
                fitted["abstained_on_unanswerable"],
                shipped["answered_on_answerable"],
                shipped["abstained_on_unanswerable"],
            ]
        )
    print_table(
        f"Abstention from retrieval signals (fitted: w={model.weights}, b={model.bias}, threshold={model.threshold})",
        ["set", "q", "answered", "abst. removed", "abst. other", "abst. unanswerable", "shipped ans.", "shipped abst."],
        rows,
    )
    targets = []
    for name in ("python-faq", "pubmedqa-test"):
        shipped = results["sets"][name]["shipped"]
        targets += [
            Target(f"{name}: answered on answerable", shipped["answered_on_answerable"], ">=", 0.90),
            Target(f"{name}: abstained on unanswerable", shipped["abstained_on_unanswerable"], ">=", 0.80),
        ]
    print_targets(targets, quick=args.quick)
    write_result("abstention", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    main()
