"""The agent loop over kenning's own tools: search_docs, fetch_doc, submit_answer (verified before accepting)."""

from __future__ import annotations

from .loop import Agent, AgentResult, ToolCall

__all__ = ["Agent", "AgentResult", "ToolCall"]
