"""Training kenning's own models offline: the grounding verifier (a cross-encoder on the packaged MiniLM)."""
