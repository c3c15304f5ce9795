"""Every prompt GraphRAG sends, each a named, versioned template next to its typed input and output.

A prompt's id is ``name@version`` (``graphrag.extract@1``); the LLM cache keys on it, so changing a prompt's text
means bumping its version, and every reply it cached is then paid for again (and only those). Prompts are short on
purpose: the packaged 0.5B/1.5B local models must cope, and JSON outputs are constrained by their schema where the
provider can (llama.cpp's grammar).

>>> [p.id for p in PROMPTS]  # doctest: +NORMALIZE_WHITESPACE
['graphrag.extract@1', 'graphrag.glean@1', 'graphrag.merge@1', 'graphrag.report@1', 'graphrag.map@1',
 'graphrag.reduce@1', 'graphrag.local@1']
>>> print(EXTRACT.messages(ExtractInput(text="VACUUM reclaims storage."))[1].content)  # doctest: +ELLIPSIS
Text:
<document>
VACUUM reclaims storage.
</document>
...
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field

from ...providers.llm.base import Message
from ...providers.llm.fence import UNTRUSTED_RULE, fence, fenced_sources

__all__ = [
    "Prompt",
    "PROMPTS",
    "prompt_named",
    "ExtractInput",
    "GleanInput",
    "Entity",
    "Relationship",
    "Extraction",
    "MergeInput",
    "MergedDescription",
    "ReportInput",
    "Finding",
    "Report",
    "MapInput",
    "Point",
    "MapOutput",
    "ReduceInput",
    "LocalInput",
    "Answer",
    "EXTRACT",
    "GLEAN",
    "MERGE",
    "REPORT",
    "MAP",
    "REDUCE",
    "LOCAL",
]

I = TypeVar("I", bound=BaseModel)  # noqa: E741 - input
O = TypeVar("O", bound=BaseModel)  # noqa: E741 - output


# -- typed inputs and outputs ------------------------------------------------------------------------------------------


def _cut(n: int) -> BeforeValidator:
    """Keep the first ``n`` items / characters: the schema's ``maxItems``/``maxLength`` bounds what a constrained
    model writes (a small model otherwise lists until ``max_tokens``); an unconstrained one is cut, not refused."""
    return BeforeValidator(lambda v: v[:n] if isinstance(v, list | str) else v)


def Short(n: int) -> Any:  # noqa: N802 - a type
    return Annotated[str, Field(max_length=n), _cut(n)]


def Few(item: Any, n: int) -> Any:  # noqa: N802 - a type
    return Annotated[list[item], Field(max_length=n), _cut(n)]


class ExtractInput(BaseModel):
    text: str


class GleanInput(BaseModel):
    text: str
    found: list[str] = Field(description="Entity names the earlier passes found.")


class Entity(BaseModel):
    name: Short(80) = Field(min_length=1)
    type: Short(40) = ""
    description: Short(160) = ""


class Relationship(BaseModel):
    source: Short(80) = Field(min_length=1)
    target: Short(80) = Field(min_length=1)
    description: Short(160) = ""
    strength: int = Field(5, ge=1, le=10)


class Extraction(BaseModel):
    entities: Few(Entity, 8) = Field(default_factory=list)
    relationships: Few(Relationship, 8) = Field(default_factory=list)


class MergeInput(BaseModel):
    name: str
    descriptions: list[str]


class MergedDescription(BaseModel):
    description: Short(600)


class ReportInput(BaseModel):
    entities: list[str] = Field(description="'name (type): description' lines")
    relationships: list[str] = Field(description="'source -> target: description' lines")
    subreports: list[str] = Field(default_factory=list, description="Summaries of the sub-communities' reports.")


class Finding(BaseModel):
    summary: Short(200)
    explanation: Short(400) = ""


class Report(BaseModel):
    title: Short(100)
    summary: Short(600)
    rating: float = Field(5.0, ge=0, le=10)
    findings: Few(Finding, 5) = Field(default_factory=list)


class MapInput(BaseModel):
    question: str
    reports: list[str] = Field(description="The batch's reports as text, numbered from 1 in the prompt.")


class Point(BaseModel):
    description: Short(400)
    score: int = Field(ge=0, le=100)
    report: int = Field(0, ge=0, description="The number of the report it comes from (0: not said).")


class MapOutput(BaseModel):
    points: Few(Point, 8) = Field(default_factory=list)


class ReduceInput(BaseModel):
    question: str
    points: list[str] = Field(description="The ranked points, numbered from 1 in the prompt.")


class LocalInput(BaseModel):
    question: str
    entities: list[str]
    relationships: list[str]
    sources: list[tuple[str, str]] = Field(description="(label, text) of each numbered source chunk.")


class Answer(BaseModel):
    """The output of a free-text prompt (the answer with its ``[n]`` markers)."""

    text: str


# -- the prompt type ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt(Generic[I, O]):
    """One versioned prompt: ``render`` turns its typed input into the user message; ``output`` is the JSON it must
    return (``json=False``: free text, wrapped in :class:`Answer`)."""

    name: str
    version: int
    system: str
    input: type[I]
    output: type[O]
    render: Callable[[I], str]
    max_tokens: int = 700
    json: bool = True

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def messages(self, inp: I) -> list[Message]:
        return [Message("system", self.system), Message("user", self.render(inp))]

    def schema(self) -> dict:
        return self.output.model_json_schema()


def _lines(items: list[str]) -> str:
    return "\n".join(f"- {x}" for x in items) if items else "(none)"


def _numbered(items: list[str]) -> str:
    return "\n\n".join(f"[{i}] {x}" for i, x in enumerate(items, 1))


_JSON_ONLY = "Reply with JSON only."

EXTRACT: Prompt[ExtractInput, Extraction] = Prompt(
    "graphrag.extract",
    1,
    f"You extract a knowledge graph from text. {UNTRUSTED_RULE}",
    ExtractInput,
    Extraction,
    lambda i: (
        f"Text:\n{fence(i.text)}\n\n"
        "List the important entities (people, organisations, products, commands, concepts, places) in the text: "
        "name, type, one-sentence description. Then the relationships between them: source and target entity "
        "names, one-sentence description, strength 1-10. " + _JSON_ONLY
    ),
    max_tokens=800,
)

GLEAN: Prompt[GleanInput, Extraction] = Prompt(
    "graphrag.glean",
    1,
    f"You extract a knowledge graph from text. {UNTRUSTED_RULE}",
    GleanInput,
    Extraction,
    lambda i: (
        f"Text:\n{fence(i.text)}\n\nAlready found: {', '.join(i.found) or '(nothing)'}.\n\n"
        "List only entities and relationships in the text that were missed, in the same form (name, type, "
        "description; source, target, description, strength 1-10). " + _JSON_ONLY
    ),
    max_tokens=600,
)

MERGE: Prompt[MergeInput, MergedDescription] = Prompt(
    "graphrag.merge",
    1,
    "You write concise, factual descriptions.",
    MergeInput,
    MergedDescription,
    lambda i: (
        f"Entity: {i.name}\nDescriptions:\n{_lines(i.descriptions)}\n\n"
        "Write one description (at most three sentences) that combines them without contradiction. " + _JSON_ONLY
    ),
    max_tokens=200,
)

REPORT: Prompt[ReportInput, Report] = Prompt(
    "graphrag.report",
    1,
    f"You write reports on communities of related entities. {UNTRUSTED_RULE}",
    ReportInput,
    Report,
    lambda i: (
        f"Entities:\n{fence(_lines(i.entities))}\n\nRelationships:\n{fence(_lines(i.relationships))}\n\n"
        + (f"Sub-community reports:\n{fence(_lines(i.subreports))}\n\n" if i.subreports else "")
        + "Write a report on this community: a short title, a summary (two or three sentences), a rating 0-10 of "
        "its importance, and up to five findings (summary, explanation). Use only the data above. " + _JSON_ONLY
    ),
    max_tokens=700,
)

MAP: Prompt[MapInput, MapOutput] = Prompt(
    "graphrag.map",
    1,
    f"You pick the facts that answer a question. {UNTRUSTED_RULE}",
    MapInput,
    MapOutput,
    lambda i: (
        f"Reports:\n{fence(_numbered(i.reports))}\n\nQuestion: {i.question}\n\n"
        "List the key points from the reports that help answer the question: each a description, a score 0-100 of "
        "how much it helps (0: not at all) and the number of its report. " + _JSON_ONLY
    ),
    max_tokens=600,
)

REDUCE: Prompt[ReduceInput, Answer] = Prompt(
    "graphrag.reduce",
    1,
    f"You answer questions from numbered points only. {UNTRUSTED_RULE}",
    ReduceInput,
    Answer,
    lambda i: (
        f"Points:\n{fence(_numbered(i.points))}\n\nQuestion: {i.question}\n\n"
        "Answer from the points only, citing each statement's point number like [1]. If they do not answer, "
        "say it is not in the sources."
    ),
    max_tokens=700,
    json=False,
)

LOCAL: Prompt[LocalInput, Answer] = Prompt(
    "graphrag.local",
    1,
    f"You answer questions from numbered sources only. {UNTRUSTED_RULE}",
    LocalInput,
    Answer,
    lambda i: (
        f"Entities:\n{fence(_lines(i.entities))}\n\nRelationships:\n{fence(_lines(i.relationships))}\n\n"
        f"Sources:\n{fenced_sources(i.sources)}\n\nQuestion: {i.question}\n\n"
        "Answer from the sources only, citing each statement's source number like [1]. If they do not answer, "
        "say it is not in the sources."
    ),
    max_tokens=700,
    json=False,
)

PROMPTS: tuple[Prompt, ...] = (EXTRACT, GLEAN, MERGE, REPORT, MAP, REDUCE, LOCAL)
"""Every GraphRAG prompt, in the order a build and a search use them."""


def prompt_named(name: str) -> Prompt:
    """The prompt with this name (``graphrag.extract``) or id (``graphrag.extract@1``); unknown → KeyError naming
    the known ones."""
    for p in PROMPTS:
        if name in (p.name, p.id):
            return p
    raise KeyError(f"no GraphRAG prompt {name!r}; known: {', '.join(p.id for p in PROMPTS)}")


def canonical(inp: BaseModel) -> str:
    """The typed input as canonical JSON (sorted keys, no spaces): what the cache key hashes."""
    return json.dumps(inp.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
