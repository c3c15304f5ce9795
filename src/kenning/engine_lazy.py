"""The Engine's LazyGraphRAG verbs: :meth:`LazyMixin.lazy_search`, the ``lazy`` search mode, and the drafts of
``ask(mode="lazy")`` (and ``global`` where no GraphRAG reports exist).

The search (:mod:`kenning.graph.lazy`) runs over the concept graph's communities, steered by the collection's own
hybrid ranking; its relevance test is :mod:`kenning.graph.relevance`'s (``[graph] relevance``). The answer reads the
chunks that passed, grouped by top-level community (a theme each), and goes through the verifier like any other.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import KenningConfig
from .errors import ConfigError
from .generate.answer import Draft
from .generate.packing import pack
from .generate.reading import Reading, read_sources
from .graph.lazy import LazyResult, groups, lazy_search
from .graph.relevance import CentralityTest, relevance_test
from .graph.scope import focus
from .graph.themes import theme_draft
from .graph.types import Community
from .providers.llm.base import LLM
from .retrieve import Filters, hit_from_row
from .types import Hit, Usage

if TYPE_CHECKING:
    from .providers.embedders import Embedder
    from .store import Store

__all__ = ["LazyMixin", "LazySearch", "GraphDraft", "GRAPH_MODES", "graph_mode"]

OUTSIDE = -1  # the community of ranked chunks the graph does not hold (indexed after it was built)

# the answer modes that read a graph, and the drafting model each asks for (as answer.mode would)
GRAPH_MODES: dict[str, str] = {"lazy": "auto", "global": "auto", "local": "generate"}


def graph_mode(mode: str | None) -> str | None:
    """``mode`` when it names a graph answer mode (lazy, global, local), else None.

    >>> graph_mode("lazy"), graph_mode("auto")
    ('lazy', None)
    """
    return mode if mode in GRAPH_MODES else None


@dataclass(frozen=True, slots=True)
class LazySearch:
    """A LazyGraphRAG search: its :class:`~kenning.graph.lazy.LazyResult`, the first-stage ranking that steered it,
    every chunk it ranked or tested (by id), the
    communities it searched (by id), the relevance test used, what an LLM test spent, and notes."""

    result: LazyResult
    ranked: tuple[str, ...]
    hits: Mapping[str, Hit]
    communities: Mapping[int, Community]
    test: str
    usage: Usage
    notes: tuple[str, ...]
    corpus: bool = False  # the question is about the whole corpus (kenning.graph.scope)

    def ranking(self) -> list[str]:
        """Chunk ids for a search result. A question about the whole corpus: what passed, theme by theme. Any other:
        the first-stage (hybrid) order, then what passed outside it. The tests do not move a ranked chunk down: on
        SciFact (300 test queries) moving every chunk that failed to the end cost 0.025 nDCG@10 (0.716 → 0.691),
        since a chunk vector's similarity is a weaker judge than the hybrid ranking it would overrule."""
        if self.corpus:
            return [f.chunk_id for f in self.result.found]
        ranked = set(self.ranked)
        return list(self.ranked) + [f.chunk_id for f in self.result.found if f.chunk_id not in ranked]


@dataclass(frozen=True, slots=True)
class GraphDraft:
    """A graph answer mode's draft, the sources it was drawn from, what choosing them spent, whether the question was
    about the whole corpus, and the sources' reading (None when not read)."""

    draft: Draft
    packed: list[Hit]
    usage: Usage
    whole: bool
    reading: Reading | None = None


class _Graph:
    """A loaded concept graph: communities, and each community's chunks by centrality (how many of its concepts a
    chunk holds)."""

    def __init__(
        self, communities: list[Community], node_chunks: dict[int, tuple[str, ...]], data_version: int
    ) -> None:
        self.communities = communities
        self.data_version = data_version  # the catalog's data_version the graph was built from
        self._node_chunks = node_chunks
        self._central: dict[int, list[str]] = {}
        self.top_sizes = {c.id: len(c.chunk_ids) for c in communities if c.parent is None}
        # chunk id → the top-level community it belongs to
        self.top_of = {ch: c.id for c in communities if c.parent is None for ch in c.chunk_ids}

    def central(self, c: Community) -> list[str]:
        if c.id not in self._central:
            mine = set(c.chunk_ids)
            count: dict[str, int] = dict.fromkeys(c.chunk_ids, 0)
            for n in c.node_ids:
                for ch in self._node_chunks.get(n, ()):
                    if ch in mine:
                        count[ch] += 1
            self._central[c.id] = sorted(c.chunk_ids, key=lambda ch: -count[ch])
        return self._central[c.id]


class LazyMixin:
    """lazy_search and the lazy answer."""

    config: KenningConfig
    collection_name: str
    _lock: threading.RLock

    if TYPE_CHECKING:  # Engine defines these

        @property
        def embedder(self) -> Embedder: ...
        def collection(self) -> Store: ...
        def search(self, query: str, **options: Any) -> list[Hit]: ...
        def reranker(self, kind: str | None = None) -> Any: ...
        def retrieval_llm(self) -> LLM | None: ...
        def graph_communities(self, kind: str = "concept") -> list[Community]: ...

    def _concept_graph(self) -> _Graph:
        """The concept graph, loaded once per build (the communities are read again only when a new build exists)."""
        from .index import graph_tables

        catalog = self.collection().catalog
        build = graph_tables.last_build(catalog, "concept")
        key = (self.collection_name, build.created_at, build.data_version) if build is not None else None
        with self._lock:
            cached = getattr(self, "_lazy_graph", None)
            if key is not None and cached is not None and cached[0] == key:
                return cached[1]
            communities = self.graph_communities("concept")  # raises, saying how to build one, when there is none
            nodes = {n.id: n.chunk_ids for n in graph_tables.nodes(catalog, "concept")}
            graph = _Graph(communities, nodes, build.data_version if build is not None else 0)
            self._lazy_graph = (key, graph)
            return graph

    def _spread(self, word: str) -> float:
        """The share of the chunks in the concept graph's top-level communities in which ``word`` is frequent (in a
        tenth of their chunks or more): near 1 for a word that names the corpus (kenning.graph.scope). 1.0 for a word
        the lexical index ignores (a stop word)."""
        postings = self.collection().postings(word)
        if postings is None:
            return 1.0
        graph = self._concept_graph()
        total = sum(graph.top_sizes.values())
        if not total:
            return 0.0
        counts: dict[int, int] = defaultdict(int)
        for chunk_id in postings:
            top = graph.top_of.get(chunk_id)
            if top is not None:
                counts[top] += 1
        return sum(n for c, n in graph.top_sizes.items() if counts.get(c, 0) >= 0.1 * n) / total

    def lazy_search(
        self,
        question: str,
        *,
        budget: int | None = None,
        relevance: str | None = None,
        filters: Filters | Sequence[str] | None = None,
        llm: LLM | None = None,
        depth: int | None = None,
    ) -> LazySearch:
        """LazyGraphRAG over the collection's concept graph: at most ``budget`` (default ``graph.budget``) relevance
        tests (``relevance``, default ``graph.relevance``), steered by the hybrid ranking ``depth`` deep (default
        three times the budget, at least 100). With ``filters``, only chunks that pass them are tested."""
        self.sqlite_only("LazyGraphRAG (the concept graph)")
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        cfg = self.config.graph
        budget = cfg.budget if budget is None else budget
        if budget < 0:
            raise ConfigError(f"the relevance-test budget must be 0 or more; got {budget}")
        graph = self._concept_graph()
        catalog = self.collection().catalog
        notes: list[str] = []
        if graph.data_version < catalog.data_version():  # stale, as graph_info() says
            notes.append(
                f"the concept graph is older than the collection's chunks; run `kenning graph build -c "
                f"{self.collection_name}` to bring it up to date (chunks indexed since are searched outside it)"
            )
        from .index.graph_tables import chunk_vectors

        corpus = relevance is None and not focus(question, self._spread)
        filtered = bool(filters)
        depth = depth or max(100, 3 * budget)
        ranked_hits = (
            self.search(question, mode="hybrid", k=min(depth, 10_000), filters=filters, rerank=False)
            if filtered or not corpus
            else []
        )
        known: dict[str, Hit] = {h.chunk_id: h for h in ranked_hits}
        ranked = list(known)
        communities = graph.communities
        if filtered:
            allowed = set(ranked)  # a filtered search tests only chunks that pass the filters
            communities = [
                Community(
                    c.kind, c.id, c.level, c.parent, c.title, c.node_ids, tuple(x for x in c.chunk_ids if x in allowed)
                )
                for c in communities
            ]
        held = {ch for c in communities if c.parent is None for ch in c.chunk_ids}
        outside = tuple(c for c in ranked if c not in held)
        if outside:
            communities = [*communities, Community("concept", OUTSIDE, 0, None, "", (), outside)]

        def lookup(chunk_ids: Sequence[str]) -> Mapping[str, Hit]:
            missing = [c for c in chunk_ids if c not in known]
            if missing:
                rows = catalog.chunk_rows(missing, by="chunk_id")
                for cid, row in rows.items():
                    known[cid] = hit_from_row(row, 0, 0.0)
            return {c: known[c] for c in chunk_ids if c in known}

        by_id = {c.id: c for c in communities}

        def central(c: Community) -> Sequence[str]:
            return graph.central(by_id[c.id]) if c.id != OUTSIDE else c.chunk_ids

        if corpus:
            # nothing in the question narrows it: every chunk is relevant, and each theme is told by its most
            # representative chunks, the largest themes first (ranked is empty, so communities go by size)
            notes.append("a question about the whole collection: each theme is told by its most central chunks")
            place = {ch: 1.0 / (1 + i) for c in communities if c.parent is None for i, ch in enumerate(central(c))}
            test: Any = CentralityTest(place)
        else:
            model = llm
            name = relevance or cfg.relevance
            if name in ("auto", "llm") and model is None and (name == "llm" or self.config.llm.provider != "none"):
                model = self.retrieval_llm()
            reranker = self.reranker("auto") if name in ("auto", "reranker") else None
            test = relevance_test(
                name,
                question,
                lookup,
                embedder=self.embedder,
                vectors=lambda ids: chunk_vectors(catalog, ids),
                reranker=reranker,
                llm=model,
            )
        result = lazy_search(ranked, communities, test, budget=budget, margin=test.margin, centrality=central)
        lookup([t.chunk_id for t in result.tested])
        usage = getattr(test, "usage", Usage())
        return LazySearch(result, tuple(ranked), dict(known), by_id, test.name, usage, (*notes, *result.notes), corpus)

    def _lazy_ranking(self, query: str, k: int, filters: Filters | Sequence[str] | None) -> tuple[list[Hit], list[str]]:
        """The ``lazy`` search mode (:meth:`LazySearch.ranking`): a local question keeps the hybrid order, a question
        about the whole corpus gets each theme's most central chunks."""
        found = self.lazy_search(query, filters=filters)
        order = [c for c in found.ranking() if c in found.hits][:k]
        return [_ranked(found.hits[c], i) for i, c in enumerate(order, start=1)], list(found.notes)

    def _graph_draft(
        self,
        graph: str,
        question: str,
        model: LLM | None,
        notes: list[str],
        on_token: Callable[[str], None] | None,
        filters: Filters | Sequence[str] | None,
        draft_with: Callable[..., Draft],
    ) -> GraphDraft:
        """The draft of a graph answer mode: ``lazy`` (LazyGraphRAG), ``local`` (GraphRAG around the entities the
        question names) or ``global`` (GraphRAG's map-reduce over community reports; LazyGraphRAG, with a note, when
        no GraphRAG build made reports). Also says whether the question is about the whole corpus (then every
        claim drawn from it is about the question)."""
        from .graph.graphrag import KIND
        from .index import graph_tables

        if graph in ("global", "local"):
            built = graph_tables.last_build(self.collection().catalog, KIND) is not None
            if graph == "global" and not built:
                notes.append(
                    "no GraphRAG community reports (build them with `kenning graph build --graphrag --llm PROVIDER:MODEL`): "
                    "answered with LazyGraphRAG"
                )
            else:
                if filters:
                    notes.append("filters do not apply to GraphRAG's community reports; they were not used")
                draft = self.graphrag_draft(question, scope=graph, llm=model)  # type: ignore[attr-defined]
                whole = graph == "global" and not focus(question, self._spread)
                return GraphDraft(draft, list(draft.packed), Usage(), whole)
        return self._lazy_draft(question, model, notes, on_token, filters, draft_with)

    def _lazy_draft(
        self,
        question: str,
        model: LLM | None,
        notes: list[str],
        on_token: Callable[[str], None] | None,
        filters: Filters | Sequence[str] | None,
        draft_with: Callable[..., Draft],
    ) -> GraphDraft:
        """LazyGraphRAG's draft: the chunks that passed, by theme, drafted by ``model`` (``draft_with``, the Engine's
        usual drafter, within the context budget) or, with none, one cited sentence per theme (every theme: no
        model reads them). Returns the draft, the sources it was given, what the relevance tests spent, and whether
        the question was about the whole corpus."""
        found = self.lazy_search(question, filters=filters, llm=model if self.config.graph.relevance == "llm" else None)
        notes += list(found.notes)
        notes.append(
            f"LazyGraphRAG: {found.result.tests} of {found.result.budget} relevance tests ({found.test}), "
            f"{len(found.result.found)} chunks passed in {len({f.top for f in found.result.found})} themes"
        )
        themed = groups(found.result)
        # every theme's best chunk first, then the second ones, so the context budget covers themes before depth;
        # ranked in theme order, so that each theme's sources sit together in the prompt
        place = {f.chunk_id: 100 * t + j + 1 for t, g in enumerate(themed) for j, f in enumerate(g)}
        order = sorted(place, key=lambda c: (place[c] % 100, place[c]))
        packed = [_ranked(found.hits[c], place[c]) for c in order]
        if model is not None:
            packed = pack(
                packed, budget_tokens=self.config.answer.context_tokens, tokenizer=self.config.chunking.tokenizer
            )
        packed = [_ranked(h, i) for i, h in enumerate(sorted(packed, key=lambda h: h.rank), start=1)]
        reading = read_sources(self.embedder, question, packed)
        number = {h.chunk_id: i for i, h in enumerate(packed, start=1)}
        themes = []
        for g in themed:
            top = found.communities.get(g[0].top)
            title = top.title if top is not None else ""
            numbers = [number[f.chunk_id] for f in g if f.chunk_id in number]
            if numbers:
                themes.append((title, numbers))
        if model is not None:
            asked = question
            if len(themes) > 1:  # the model is told how the sources group, so that its answer covers every theme
                listed = "; ".join(t or "other" for t, _ in themes)
                asked = (
                    f"{question}\n\nThe sources fall into {len(themes)} themes ({listed}). Answer with one short "
                    "line per theme, each citing its sources."
                )
            draft = draft_with(asked, packed, reading, model, notes, on_token, spread=len(themes) > 1)
            if draft.answerable or not themes:
                return GraphDraft(draft, packed, found.usage, found.corpus, reading)
            # chunks passed the relevance tests, yet the model found nothing to say: say what each theme holds
            notes.append("the model wrote no answer from the chunks that passed; one cited sentence per theme instead")
        anchors = self.embedder.embed([t or question for t, _ in themes], is_query=True) if found.corpus else None
        draft = theme_draft(themes, packed, reading, anchors=anchors)
        return GraphDraft(draft, packed, found.usage, found.corpus, reading)


def _ranked(hit: Hit, rank: int) -> Hit:
    return dataclasses.replace(hit, rank=rank)
