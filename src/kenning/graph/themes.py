"""An answer from LazyGraphRAG's groups without a model: one cited sentence per theme.

Each group (a top-level community of the concept graph, :func:`kenning.graph.lazy.groups`) gives the sentence of its
chunks that reads best against the question, under the community's title as a bold label; a label is not a claim
(:func:`kenning.verify.claims.split_claims`), so each line is checked against the chunk it cites.

>>> from kenning.types import Hit
>>> def hit(cid, text):
...     return Hit(0, 0.0, cid, cid.split("::")[0], text, "s", "text", cid, (), 0, len(text))
>>> from kenning.generate.reading import Reading
>>> import numpy as np
>>> from kenning.generate.sentences import Sentence
>>> packed = [hit("a::0", "VACUUM reclaims storage held by dead rows."), hit("b::0", "A standby replays WAL records.")]
>>> reading = Reading((Sentence(1, 0, 43, packed[0].text), Sentence(2, 0, 30, packed[1].text)),
...                   np.array([0.5, 0.4]), np.array([0.5, 0.4]), np.zeros((2, 1)))
>>> print(theme_draft([("vacuum · dead rows", [1]), ("standby · wal", [2])], packed, reading).text)
- **vacuum · dead rows**: VACUUM reclaims storage held by dead rows. [1]
- **standby · wal**: A standby replays WAL records. [2]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..generate.answer import Draft
from ..generate.prompts import NOT_IN_SOURCES_ANSWER
from ..generate.reading import Reading
from ..generate.sentences import Sentence
from ..types import Hit

__all__ = ["theme_draft"]

_CODE = re.compile(r"[/\\=;{}<>$`|\[\]]|->|::|\w\(|^\s*[-*•]")


def _statement(sentence: Sentence) -> bool:
    """A sentence that reads as a statement on its own: not leaning on what came before, not code, 6–60 words."""
    words = len(sentence.text.split())
    return not sentence.dependent and not _CODE.search(sentence.text) and 6 <= words <= 60


def theme_draft(
    themes: Sequence[tuple[str, Sequence[int]]],
    packed: Sequence[Hit],
    reading: Reading,
    *,
    anchors: np.ndarray | None = None,
) -> Draft:
    """One line per theme ``(title, source numbers)``: its best sentence, cited — the one that reads best against the
    question (``reading``'s scores), or, given ``anchors`` (a question about the whole corpus: one unit vector per
    theme, its title embedded), the one nearest its theme's title. Statements come first: sentences that lean on what
    came before, read as code, or are shorter than six words or longer than sixty come last. Themes with no usable
    sentence are left out."""
    lines: list[str] = []
    cited: set[int] = set()
    skipped = 0
    for title, numbers in themes:
        mine = [i for i, s in enumerate(reading.sentences) if s.source in numbers]
        if not mine:
            skipped += 1
            continue
        score = reading.scores
        if anchors is not None and reading.vectors.shape[0] == len(reading.sentences):
            score = reading.vectors @ anchors[len(lines) + skipped]
        best = max(mine, key=lambda i: (_statement(reading.sentences[i]), float(score[i])))
        sentence = reading.sentences[best]
        text = " ".join(sentence.text.split())
        label = f"**{title}**: " if title else ""
        lines.append(f"- {label}{text} [{sentence.source}]")
        cited.add(sentence.source)
    if not lines:
        return Draft(NOT_IN_SOURCES_ANSWER, tuple(packed), frozenset(), (), "extractive", "extractive")
    return Draft("\n".join(lines), tuple(packed), frozenset(cited), (), "extractive", "extractive")
