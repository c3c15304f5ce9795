"""Graphs over a collection's chunks, for questions about a whole corpus.

* the concept graph (:mod:`kenning.graph.concepts`, :mod:`kenning.graph.build`): noun-phrase concepts per chunk, PMI
  co-occurrence edges and hierarchical Leiden communities, built without an LLM and kept in the catalog;
* LazyGraphRAG search (:mod:`kenning.graph.lazy`): relevance tests under a budget, best-first within communities and
  breadth-first across them;
* GraphRAG (:mod:`kenning.graph.graphrag`): LLM-extracted entities and relationships, community reports, local and
  global search;
* the cost advisor (:mod:`kenning.graph.plan`).
"""
