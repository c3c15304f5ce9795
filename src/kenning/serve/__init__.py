"""Serving kenning: the HTTP API and web UI (:mod:`kenning.serve.app`) and the MCP server (:mod:`kenning.serve.mcp`).

Both reach the engine only through :class:`kenning.Engine`, one per collection, held by :class:`Engines`.
"""

from .pool import Engines

__all__ = ["Engines"]
