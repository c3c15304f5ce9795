"""kenning hybrid vs LangChain EnsembleRetriever vs LlamaIndex QueryFusionRetriever on SciFact, side by side.

    python bench/frameworks.py            # the whole corpus, 300 test queries (~15-25 minutes: three embeddings)
    python bench/frameworks.py --quick    # 250 documents, 50 queries

Same corpus (SciFact ``corpus.jsonl``, title + text per document), same embedder (the packaged all-MiniLM-L6-v2,
loaded from its local folder by each system), same machine, same run. Each system is used the way its documentation
shows:

* kenning: ``Engine.index([corpus.jsonl])``, then ``Engine.search(q, mode="hybrid", k=10)`` (BM25 + dense, RRF k=60).
* LangChain: ``BM25Retriever.from_documents`` (rank-bm25) and ``FAISS.from_documents(...).as_retriever()``, fused by
  ``EnsembleRetriever(weights=[0.5, 0.5])`` (weighted RRF, c=60). The embeddings class wraps the same
  SentenceTransformer exactly as ``langchain_huggingface.HuggingFaceEmbeddings`` does (``encode(texts).tolist()``):
  that package requires huggingface-hub<2, which this environment's transformers cannot use.
* LlamaIndex: ``SentenceSplitter(chunk_size=500, chunk_overlap=50)`` (kenning's chunk size, instead of the default
  1024), ``VectorStoreIndex`` (default in-memory store) with ``HuggingFaceEmbedding(embed_batch_size=32)``,
  ``BM25Retriever.from_defaults`` (bm25s, English stemmer), fused by ``QueryFusionRetriever(mode="reciprocal_rerank",
  num_queries=1, use_async=False)`` with ``Settings.llm = None`` (no LLM is called with one query).

Measured per system: indexing time (wall clock from the raw corpus.jsonl to a retriever ready to answer, embedding
included; the model itself is loaded and warmed up first, its load time is reported separately), query latency
p50/p95 over the test queries at k=10 after 20 warm-up queries, nDCG@10 and MRR@10 of those k=10 results, and
recall@100 (and nDCG@10 again) from a second, untimed pass at depth 100, all scored by kenning's ``evaluate_run``
on documents (a chunked system's chunks collapse to their document by best rank).

Goals: kenning ≥ 3× faster queries (p50), ≥ 2× faster indexing, and nDCG@10 equal or better, against each.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    SCIFACT,
    Target,
    apply_torch_threads,
    arg_parser,
    console,
    latency_stats,
    minilm_dir,
    print_table,
    print_targets,
    read_jsonl,
    rss_mb,
    scifact_subset,
    timed,
    versions,
    write_result,
)

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*sunset.*")

K = 10
DEEP = 100
WARMUP = 20


def ranked_ids_to_run(ids: list[str], depth: int) -> dict[str, float]:
    """Document ids in rank order (repeats collapse to the first) → a run with strictly decreasing scores."""
    out: dict[str, float] = {}
    for d in ids:
        if d not in out:
            out[d] = float(depth * 10 - len(out))
            if len(out) >= depth:
                break
    return out


# -- the three systems: setup() loads the model; index(corpus) builds; search(q, k) -> ranked document ids ---------


class Kenning:
    name = "kenning"

    def setup(self, work: Path) -> None:
        from kenning.providers.embedders import get_embedder

        self.home = work / "kenning-home"
        self.embedder = get_embedder("minilm")
        self.embedder.embed(["warm up"])

    def index(self, corpus: Path) -> None:
        from kenning import Engine

        self.engine = Engine(self.home, collection="scifact", embedder=self.embedder)
        self.engine.index([corpus])
        self.engine.collection().counts()  # the published state loaded, ready to answer

    def search(self, query: str, k: int) -> list[str]:
        # k chunks; SciFact documents are mostly one chunk. The deep pass asks for 2k chunks, as evaluate_beir does.
        hits = self.engine.search(query, mode="hybrid", k=k if k <= K else 2 * k)
        return [h.source.rsplit("#", 1)[1] for h in hits]

    def describe(self) -> dict[str, Any]:
        return {
            "version": versions(("kenning",)),
            "retriever": "Engine.search(mode='hybrid'): bm25s + exact dense, RRF k=60",
        }


class LangChain:
    name = "LangChain"

    def setup(self, work: Path) -> None:
        from langchain_core.embeddings import Embeddings
        from sentence_transformers import SentenceTransformer

        class MiniLMEmbeddings(Embeddings):
            """What langchain_huggingface.HuggingFaceEmbeddings does with default settings."""

            def __init__(self, folder: str) -> None:
                self.client = SentenceTransformer(folder, device="cpu", local_files_only=True)

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                texts = [t.replace("\n", " ") for t in texts]
                return self.client.encode(texts, show_progress_bar=False).tolist()

            def embed_query(self, text: str) -> list[float]:
                return self.embed_documents([text])[0]

        self.embeddings = MiniLMEmbeddings(str(minilm_dir()))
        self.embeddings.embed_query("warm up")

    def index(self, corpus: Path) -> None:
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document

        docs = [
            Document(page_content=f"{r['title']}\n\n{r['text']}".strip(), metadata={"id": str(r["_id"])})
            for r in read_jsonl(corpus)
        ]
        self.bm25 = BM25Retriever.from_documents(docs, k=K)
        self.store = FAISS.from_documents(docs, self.embeddings)
        self.dense = self.store.as_retriever(search_kwargs={"k": K})
        self.ensemble = EnsembleRetriever(retrievers=[self.bm25, self.dense], weights=[0.5, 0.5])

    def search(self, query: str, k: int) -> list[str]:
        if self.bm25.k != k:
            self.bm25.k = k
            self.dense.search_kwargs = {"k": k}
        return [d.metadata["id"] for d in self.ensemble.invoke(query)]

    def describe(self) -> dict[str, Any]:
        return {
            "version": versions(
                ("langchain-core", "langchain-classic", "langchain-community", "rank-bm25", "faiss-cpu")
            ),
            "retriever": "EnsembleRetriever([BM25Retriever (rank-bm25, str.split), FAISS IndexFlatL2], weights 0.5/0.5)",
        }


class LlamaIndex:
    name = "LlamaIndex"

    def setup(self, work: Path) -> None:
        from llama_index.core import Settings
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        Settings.llm = None  # no LLM: num_queries=1 generates no query variants
        self.embed_model = HuggingFaceEmbedding(model_name=str(minilm_dir()), device="cpu", embed_batch_size=32)
        self.embed_model.get_text_embedding("warm up")
        Settings.embed_model = self.embed_model

    def index(self, corpus: Path) -> None:
        import Stemmer
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.retrievers.bm25 import BM25Retriever

        docs = [Document(text=f"{r['title']}\n\n{r['text']}".strip(), id_=str(r["_id"])) for r in read_jsonl(corpus)]
        nodes = SentenceSplitter(chunk_size=500, chunk_overlap=50).get_nodes_from_documents(docs)
        self.n_nodes = len(nodes)
        index = VectorStoreIndex(nodes, embed_model=self.embed_model)
        self.retrievers = {
            "dense": index.as_retriever(similarity_top_k=K),
            "bm25": BM25Retriever.from_defaults(
                nodes=nodes, similarity_top_k=K, stemmer=Stemmer.Stemmer("english"), language="english"
            ),
        }
        self.fusion = self._fusion(K)

    def _fusion(self, k: int):
        from llama_index.core.retrievers import QueryFusionRetriever

        return QueryFusionRetriever(
            [self.retrievers["dense"], self.retrievers["bm25"]],
            similarity_top_k=k,
            num_queries=1,
            mode="reciprocal_rerank",
            use_async=False,
        )

    def search(self, query: str, k: int) -> list[str]:
        if self.retrievers["bm25"].similarity_top_k != k:
            self.retrievers["bm25"].similarity_top_k = k
            self.retrievers["dense"].similarity_top_k = k
            self.fusion = self._fusion(k)
        return [n.node.ref_doc_id for n in self.fusion.retrieve(query)]

    def describe(self) -> dict[str, Any]:
        return {
            "version": versions(
                ("llama-index-core", "llama-index-retrievers-bm25", "llama-index-embeddings-huggingface")
            ),
            "retriever": "QueryFusionRetriever([VectorStoreIndex (SimpleVectorStore), BM25Retriever (bm25s)], "
            "reciprocal_rerank, num_queries=1)",
        }


SYSTEMS: dict[str, Callable[[], Any]] = {"kenning": Kenning, "langchain": LangChain, "llamaindex": LlamaIndex}


# -- measuring ------------------------------------------------------------------------------------------------


def measure(system, corpus: Path, queries: dict[str, str], qrels, work: Path) -> dict[str, Any]:
    from kenning.evaluate import evaluate_run

    console.print(f"[bold]{system.name}[/bold]: loading the model …")
    rss0 = rss_mb()
    with timed() as t_load:
        system.setup(work)
    console.print(f"  indexing {corpus.name} …")
    with timed() as t_index:
        system.index(corpus)
    rss_indexed = rss_mb()
    qids = list(queries)
    for q in qids[:WARMUP]:
        system.search(queries[q], K)
    gc.collect()
    run, samples = {}, []
    for q in qids:
        t0 = time.perf_counter()
        ids = system.search(queries[q], K)
        samples.append((time.perf_counter() - t0) * 1000)
        run[q] = ranked_ids_to_run(ids, K)
    console.print(f"  {len(qids)} queries timed; depth-{DEEP} pass …")
    deep = {q: ranked_ids_to_run(system.search(queries[q], DEEP), DEEP) for q in qids}
    system.search(queries[qids[0]], K)  # leave the system set to k=10
    top = evaluate_run(run, qrels, metrics=("ndcg@10", "mrr@10", "recall@10")).mean
    deep_scores = evaluate_run(deep, qrels, metrics=("ndcg@10", "recall@100")).mean
    return {
        **system.describe(),
        "model_load_seconds": t_load.seconds,
        "index_seconds": t_index.seconds,
        "latency": latency_stats(samples),
        "ndcg@10": top["ndcg@10"],
        "mrr@10": top["mrr@10"],
        "recall@10": top["recall@10"],
        "deep_ndcg@10": deep_scores["ndcg@10"],
        "recall@100": deep_scores["recall@100"],
        "mean_docs_returned_at_k10": sum(len(r) for r in run.values()) / len(run),
        "rss_mb_growth": rss_indexed - rss0,
    }


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--systems", default="kenning,langchain,llamaindex", help="which to run, in this order")
    parser.add_argument("--data", type=Path, default=SCIFACT, help="a BEIR folder (default: shared SciFact)")
    args = parser.parse_args()
    apply_torch_threads(args.torch_threads)

    from kenning.evaluate import load_beir

    work = Path(tempfile.mkdtemp(prefix="kenning-bench-frameworks-"))
    dataset = scifact_subset(work / "scifact-quick", n_docs=250, n_queries=50) if args.quick else args.data
    ds = load_beir(dataset, "test")
    corpus = dataset / "corpus.jsonl"
    names = args.systems.split(",")
    results: dict[str, Any] = {"dataset": str(dataset), "queries": len(ds.queries), "k": K, "systems": {}}
    for name in names:
        results["systems"][name] = measure(SYSTEMS[name](), corpus, ds.queries, ds.qrels, work)
        gc.collect()

    sys_res = results["systems"]
    print_table(
        f"SciFact, {len(ds.queries)} test queries, same MiniLM embedder, k={K}",
        [
            "system",
            "index s",
            "p50 ms",
            "p95 ms",
            "nDCG@10",
            "MRR@10",
            "recall@100",
            "nDCG@10 (depth 100)",
            "model load s",
        ],
        [
            [
                SYSTEMS[n].name,
                r["index_seconds"],
                r["latency"]["p50_ms"],
                r["latency"]["p95_ms"],
                r["ndcg@10"],
                r["mrr@10"],
                r["recall@100"],
                r["deep_ndcg@10"],
                r["model_load_seconds"],
            ]
            for n, r in sys_res.items()
        ],
    )
    targets = []
    if "kenning" in sys_res:
        ken = sys_res["kenning"]
        ratios = {}
        for n, r in sys_res.items():
            if n == "kenning":
                continue
            ratios[n] = {
                "query_speedup_p50": r["latency"]["p50_ms"] / ken["latency"]["p50_ms"],
                "query_speedup_p95": r["latency"]["p95_ms"] / ken["latency"]["p95_ms"],
                "index_speedup": r["index_seconds"] / ken["index_seconds"],
                "ndcg@10_difference": ken["ndcg@10"] - r["ndcg@10"],
            }
            label = SYSTEMS[n].name
            targets += [
                Target(f"queries faster than {label} (p50)", ratios[n]["query_speedup_p50"], ">=", 3.0, "×"),
                Target(f"indexing faster than {label}", ratios[n]["index_speedup"], ">=", 2.0, "×"),
                Target(f"nDCG@10 minus {label}'s", ratios[n]["ndcg@10_difference"], ">=", 0.0),
            ]
        results["kenning_vs"] = ratios
        if ratios:
            print_table(
                "kenning vs each (× = how many times faster)",
                ["vs", "query p50 ×", "query p95 ×", "indexing ×", "nDCG@10 Δ"],
                [
                    [
                        SYSTEMS[n].name,
                        v["query_speedup_p50"],
                        v["query_speedup_p95"],
                        v["index_speedup"],
                        v["ndcg@10_difference"],
                    ]
                    for n, v in ratios.items()
                ],
            )
    print_targets(targets, quick=args.quick)
    write_result("frameworks", quick=args.quick, results=results, targets=targets, out=args.out)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
