"""``kenning verify``: verdicts for answers made anywhere, one JSON line in, one JSON line out.

Input line: ``{"id": ..., "answer": "...", "sources": [{"id": ..., "text": "..."}]}``; ``[n]`` in the answer cites
``sources[n-1]``. Output line: ``{"id": ..., "claims": [{"claim", "verdict", "evidence", "source_id", "reasoning"}]}``.
A bad line gives ``{"id": ..., "line": N, "error": "..."}`` and the run goes on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InputError
from ..evaluate._lines import json_object
from .base import Verifier
from .claims import Source, claims_or_whole

__all__ = ["verify_jsonl", "VerifyStats", "parse_line"]


@dataclass
class VerifyStats:
    lines: int = 0
    claims: int = 0
    errors: int = 0
    unchecked: int = 0  # answers the verifier could not judge at all (e.g. an unreachable LLM): no verdicts written
    labels: Counter = field(default_factory=Counter)


def parse_line(raw: str, where: str) -> tuple[Any, str, list[Source]]:
    """``(id, answer, sources)`` of one input line; InputError names the line and the field."""
    rec = json_object(raw, where)
    rid = rec.get("id")
    answer = rec.get("answer")
    if not isinstance(answer, str):
        raise InputError(f"{where}: field 'answer' must be a string")
    raw_sources = rec.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise InputError(f'{where}: field \'sources\' must be a non-empty list of {{"id", "text"}}')
    sources = []
    for i, s in enumerate(raw_sources):
        if not isinstance(s, dict) or not isinstance(s.get("text"), str):
            raise InputError(f"{where}: sources[{i}] needs a string 'text'")
        sources.append(Source(str(s.get("id", i + 1)), s["text"]))
    return rid, answer, sources


def verify_jsonl(
    path: Path,
    verifier: Verifier,
    sink: IO[str],
    *,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> VerifyStats:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    stats = VerifyStats()
    total = sum(1 for x in lines if x.strip())
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        stats.lines += 1
        try:
            rid, answer, sources = parse_line(raw, f"{path}:{n}")
        except InputError as exc:
            stats.errors += 1
            rid = _id_of(raw)
            sink.write(json.dumps({"id": rid, "line": n, "error": str(exc)}, ensure_ascii=False) + "\n")
            continue
        claims = claims_or_whole(answer)
        checked = verifier.verify(claims, sources) if claims else None
        if checked is not None and checked.failed:  # placeholders are not judgements: never write them as verdicts
            stats.unchecked += 1
            sink.write(json.dumps({"id": rid, "line": n, "error": f"not checked: {checked.failed}"}) + "\n")
            continue
        verdicts = checked.verdicts if checked is not None else ()
        stats.claims += len(verdicts)
        stats.labels.update(v.label for v in verdicts)
        out = {
            "id": rid,
            "claims": [
                {
                    "claim": v.claim,
                    "verdict": v.label,
                    "evidence": v.evidence,
                    "source_id": v.source_id,
                    "reasoning": v.reasoning,
                }
                for v in verdicts
            ],
        }
        sink.write(json.dumps(out, ensure_ascii=False) + "\n")
        if progress:
            progress("verifying", stats.lines, total)
    return stats


def _id_of(raw: str) -> Any:
    try:
        rec = json.loads(raw)
        return rec.get("id") if isinstance(rec, dict) else None
    except ValueError:
        return None
