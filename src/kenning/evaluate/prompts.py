"""The prompts the evaluate stage sends to a model, in plain sight, next to the reply format they ask for.

Query generation (``kenning eval synth --llm …``): one passage in, one search question out, as JSON matching
:class:`GeneratedQuestion` (parsed with :func:`~kenning.providers.llm.base.complete_json`, which re-asks once or twice
when the reply is not valid JSON). The passage is fenced as untrusted data (:mod:`kenning.providers.llm.fence`): an
instruction inside it must not write the evaluation set.

>>> msgs = query_messages("Statins and sepsis", "Statin use was associated with lower sepsis mortality.")
>>> [m.role for m in msgs]
['system', 'user']
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..providers.llm.base import Message
from ..providers.llm.fence import UNTRUSTED_RULE, fence, label

__all__ = ["QUERY_SYSTEM", "GeneratedQuestion", "query_messages"]

QUERY_SYSTEM = f"""You write questions for testing a search engine over a document collection.
You are shown one passage. Write ONE question that a person who has not seen the passage might type, and that this
passage answers.
Rules:
- The passage must contain the answer; the document title alone must not.
- Use your own words: do not copy a phrase of more than three words from the passage.
- Be specific enough that the question points at this passage, not at the topic in general.
- At most 25 words. No "according to the passage" or "in this text".
{UNTRUSTED_RULE}
Reply with only a JSON object:
{{"question": "...", "answer": "a short answer taken from the passage", "evidence": "the passage sentence that answers"}}"""


class GeneratedQuestion(BaseModel):
    """The reply :data:`QUERY_SYSTEM` asks for."""

    question: str = Field(min_length=1, description="The search question.")
    answer: str = Field("", description="A short reference answer from the passage.")
    evidence: str = Field("", description="The passage sentence that answers the question, quoted.")


def query_messages(title: str, passage: str) -> list[Message]:
    """The chat messages asking for one question about ``passage`` (from a document titled ``title``)."""
    head = f"Document title: {label(title)}\n\n" if title.strip() else ""
    return [
        Message("system", QUERY_SYSTEM),
        Message("user", f"{head}Passage:\n{fence(passage)}\n\nJSON:"),
    ]
