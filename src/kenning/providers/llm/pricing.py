"""What a model call costs: a small default price table, merged with ``LLMConfig.prices``.

Prices are USD per 1 million tokens, (prompt, completion), as the providers published them in **2025-08**. They
change: check the providers' pricing pages and set your own in ``kenning.toml``, which wins over this table::

    [llm.prices]
    "gpt-4o-mini" = [0.15, 0.60]

A dated snapshot (``gpt-4o-mini-2024-07-18``, ``claude-3-5-haiku-20241022``) or ``-latest`` alias costs what its
base name costs; a ``vendor/`` prefix (``openai/gpt-4o``) is ignored. Unknown models cost ``None`` (not zero).

>>> cost("gpt-4o-mini", 1_000_000, 1_000_000)
0.75
>>> cost("my-finetune", 10, 10) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PRICES_AS_OF", "DEFAULT_PRICES", "ANTHROPIC_CACHE_WRITE", "ANTHROPIC_CACHE_READ", "PriceTable", "cost"]

PRICES_AS_OF = "2025-08"

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    # Anthropic
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-1": (15.00, 75.00),
}

# Anthropic's prompt caching: writing a prefix to the cache costs 1.25x the input price, reading it 0.1x
ANTHROPIC_CACHE_WRITE = 1.25
ANTHROPIC_CACHE_READ = 0.1

# what may follow a base name and still be the same model: a date, "latest", or Anthropic's "-0" alias
_SNAPSHOT = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest|0)$")


class PriceTable:
    """The default prices with ``overrides`` on top (``LLMConfig.prices``).

    >>> PriceTable({"my-model": (1.0, 2.0)}).cost("my-model", 500_000, 0)
    0.5
    """

    def __init__(self, overrides: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.prices: dict[str, tuple[float, float]] = {**DEFAULT_PRICES, **(overrides or {})}

    def lookup(self, model: str) -> tuple[float, float] | None:
        """(prompt, completion) USD per 1M tokens for ``model``, or None when it is not in the table."""
        for name in (model, model.rsplit("/", 1)[-1]):
            if name in self.prices:
                return self.prices[name]
            base = _SNAPSHOT.sub("", name)
            if base != name and base in self.prices:
                return self.prices[base]
        return None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for one call, or None when the model's price is unknown."""
        price = self.lookup(model)
        if price is None:
            return None
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def cost(
    model: str, prompt_tokens: int, completion_tokens: int, *, prices: Mapping[str, tuple[float, float]] | None = None
) -> float | None:
    """USD for one call of ``model`` (None when unknown), with ``prices`` overriding the default table."""
    return PriceTable(prices).cost(model, prompt_tokens, completion_tokens)
