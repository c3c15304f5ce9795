"""The prompts kenning sends to a model, in plain sight. Edit here; nothing else hides text from the user.

Each function takes typed input and returns the chat messages; the reply formats are described in the prompt
itself and parsed by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..providers.llm.base import Message
from ..types import Hit

__all__ = ["ANSWER_SYSTEM", "NOT_IN_SOURCES_ANSWER", "answer_messages", "retry_messages", "format_sources"]

NOT_IN_SOURCES_ANSWER = "The sources do not contain the answer."

ANSWER_SYSTEM = f"""You answer questions using ONLY the numbered sources provided.
Rules:
- Every sentence that states a fact must end with the number of the source it comes from, like [1] or [2][3].
- Use only facts stated in the sources. Do not add knowledge of your own, even if you are sure it is true.
- Cite only source numbers that exist in the list.
- If the sources do not hold the answer, reply exactly: "{NOT_IN_SOURCES_ANSWER}"
- Be concise: a few sentences, no preamble."""


def format_sources(packed: Sequence[Hit]) -> str:
    """``[n] title › heading`` followed by the chunk text, for each source in order."""
    blocks = []
    for i, hit in enumerate(packed, start=1):
        where = " › ".join(p for p in (hit.title, *hit.heading_path) if p)
        where = " › ".join(dict.fromkeys(where.split(" › "))) if where else hit.source
        blocks.append(f"[{i}] {where}\n{hit.text.strip()}")
    return "\n\n".join(blocks)


def answer_messages(question: str, packed: Sequence[Hit]) -> list[Message]:
    user = f"Sources:\n\n{format_sources(packed)}\n\nQuestion: {question.strip()}\n\nAnswer with citations:"
    return [Message("system", ANSWER_SYSTEM), Message("user", user)]


def retry_messages(question: str, packed: Sequence[Hit], previous: str, unsupported: Sequence[str]) -> list[Message]:
    """Ask once more, telling the model which of its claims the sources did not support."""
    listed = "\n".join(f"- {c}" for c in unsupported)
    note = (
        f"Your previous answer was:\n{previous.strip()}\n\n"
        f"A fact-checker found these claims NOT supported by the sources:\n{listed}\n\n"
        "Write the answer again using only what the sources state, with citations. Leave out what they do not support."
    )
    msgs = answer_messages(question, packed)
    return [*msgs, Message("assistant", previous), Message("user", note)]
