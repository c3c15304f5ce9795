"""Full GraphRAG over a collection: an LLM-extracted entity graph with provenance, hierarchical communities with a
report each, local and global search that cite chunks, every LLM call cached by content, and the build's cost
estimated before it is paid.

>>> from kenning.graph.graphrag import PROMPTS
>>> PROMPTS[0].id
'graphrag.extract@1'
"""

from __future__ import annotations

from .build import KIND, build_graphrag
from .calls import CachedCaller, CallFailure, call_key
from .estimate import DEFAULT_RATES, GraphRAGEstimate, Rates, estimate_graphrag_build, rates_from_history
from .prompts import PROMPTS, Prompt, prompt_named
from .search import NO_GRAPH, global_search, local_search, reports_at_level

__all__ = [
    "KIND",
    "PROMPTS",
    "Prompt",
    "prompt_named",
    "CachedCaller",
    "CallFailure",
    "call_key",
    "build_graphrag",
    "local_search",
    "global_search",
    "reports_at_level",
    "NO_GRAPH",
    "GraphRAGEstimate",
    "Rates",
    "DEFAULT_RATES",
    "estimate_graphrag_build",
    "rates_from_history",
]
