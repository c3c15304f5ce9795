"""Hierarchical Leiden over the entity graph, then a report per community, deepest level first.

A report's input is its entities' and relationships' descriptions (most connected first) within
:data:`REPORT_INPUT_TOKENS`; a community too large for that, whose sub-communities were reported already, gives
their summaries instead of the entities that did not fit. A community of one entity with no relationship gets no
report (nothing to say that its description does not; global search reads reports only). The report, typed
(:class:`~kenning.graph.graphrag.prompts.Report`), is stored as a dict on :class:`Community.report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...chunking import get_tokenizer
from ..communities import hierarchical_leiden
from ..types import Community, GraphEdge, GraphNode
from .calls import CachedCaller
from .prompts import REPORT, ReportInput

__all__ = ["REPORT_INPUT_TOKENS", "detect_communities", "report_input", "write_reports", "report_text"]

REPORT_INPUT_TOKENS = 1_500


def detect_communities(
    nodes: Sequence[GraphNode], edges: Sequence[GraphEdge], *, max_size: int, seed: int
) -> list[Community]:
    """Hierarchical Leiden communities of the entity graph (weights: summed strengths), each with its chunk ids:
    those of its entities and of the relationships inside it. Reports are empty until :func:`write_reports`."""
    clusters = hierarchical_leiden(len(nodes), [(e.a, e.b, e.weight) for e in edges], max_size=max_size, seed=seed)
    out = []
    for c in clusters:
        members = set(c.nodes)
        chunks = {ch for n in c.nodes for ch in nodes[n].chunk_ids}
        chunks |= {ch for e in edges if e.a in members and e.b in members for ch in e.chunk_ids}
        title = " · ".join(nodes[n].name for n in sorted(c.nodes, key=lambda n: -nodes[n].weight)[:3])
        out.append(Community("entity", c.index, c.level, c.parent, title, c.nodes, tuple(sorted(chunks))))
    return out


def report_input(
    community: Community,
    nodes: Sequence[GraphNode],
    edges: Sequence[GraphEdge],
    subreports: Sequence[dict],
    *,
    budget: int = REPORT_INPUT_TOKENS,
    tokenizer: str = "cl100k_base",
) -> ReportInput:
    """The report prompt's input: entity and relationship lines, most connected first, until ``budget`` tokens;
    when something did not fit and sub-community reports exist, their summaries take the rest of the room."""
    tok = get_tokenizer(tokenizer)
    members = set(community.node_ids)
    ents = sorted(community.node_ids, key=lambda n: (-nodes[n].weight, nodes[n].name))
    inner = sorted((e for e in edges if e.a in members and e.b in members), key=lambda e: (-e.weight, e.a, e.b))
    ent_lines = [_entity_line(nodes[n]) for n in ents]
    rel_lines = [f"{nodes[e.a].name} -> {nodes[e.b].name}: {e.description}" for e in inner]
    sub_lines = [f"{r.get('title', '')}: {r.get('summary', '')}" for r in subreports if r]
    used, keep_e, keep_r = 0, [], []
    for line in _interleave(ent_lines, rel_lines):
        cost = tok.count(line) + 2
        if used + cost > budget:
            break
        used += cost
        (keep_e if line in ent_lines else keep_r).append(line)
    fits = len(keep_e) == len(ent_lines) and len(keep_r) == len(rel_lines)
    subs: list[str] = []
    if not fits and sub_lines:
        room = budget // 2
        keep_e, keep_r, used = keep_e[: len(keep_e) // 2 or 1], keep_r[: len(keep_r) // 2], 0
        for line in sub_lines:
            cost = tok.count(line) + 2
            if used + cost > room:
                break
            used += cost
            subs.append(line)
    return ReportInput(entities=keep_e, relationships=keep_r, subreports=subs)


def _entity_line(node: GraphNode) -> str:
    kind = f" ({node.type})" if node.type else ""
    return f"{node.name}{kind}: {node.description}" if node.description else f"{node.name}{kind}"


def _interleave(a: list[str], b: list[str]) -> list[str]:
    """Entities and relationships taken in turn, so a tight budget keeps some of each."""
    out = []
    for i in range(max(len(a), len(b))):
        out += a[i : i + 1] + b[i : i + 1]
    return out


def write_reports(
    caller: CachedCaller,
    communities: Sequence[Community],
    nodes: Sequence[GraphNode],
    edges: Sequence[GraphEdge],
    *,
    tokenizer: str = "cl100k_base",
    progress: Callable[[int, int], None] | None = None,
) -> list[Community]:
    """The communities with their reports written (or read from the cache), deepest level first."""
    by_id = {c.id: c for c in communities}
    reports: dict[int, dict] = {}
    children: dict[int, list[int]] = {}
    for c in communities:
        if c.parent is not None:
            children.setdefault(c.parent, []).append(c.id)
    linked = {e.a for e in edges} | {e.b for e in edges}
    todo = [c for c in sorted(communities, key=lambda c: (-c.level, c.id)) if _reportable(c, linked)]
    for done, c in enumerate(todo, 1):
        subs = [reports[k] for k in children.get(c.id, []) if k in reports]
        inp = report_input(c, nodes, edges, subs, tokenizer=tokenizer)
        report = caller.call(REPORT, inp, item=f"community {c.id}")
        if report is not None:
            reports[c.id] = report.model_dump()
        if progress is not None:
            progress(done, len(todo))
    out = []
    for c in communities:
        rep = reports.get(c.id, {})
        title = str(rep.get("title") or c.title)
        out.append(Community(c.kind, c.id, c.level, c.parent, title, c.node_ids, c.chunk_ids, rep))
    assert len(out) == len(by_id)
    return out


def _reportable(c: Community, linked: set[int]) -> bool:
    return len(c.node_ids) > 1 or any(n in linked for n in c.node_ids)


def report_text(report: dict) -> str:
    """A report as the text the global search's map step reads."""
    findings = "\n".join(f"- {f.get('summary', '')}: {f.get('explanation', '')}" for f in report.get("findings", []))
    return f"{report.get('title', '')}\n{report.get('summary', '')}\n{findings}".strip()
