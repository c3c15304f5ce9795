"""kenning: retrieval-augmented generation you can trust — cited answers, checked claims, measured retrieval.

>>> import kenning
>>> kenning.Engine.__name__
'Engine'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import KenningError
from .types import Chunk, Document, Hit, IndexReport, Section, Skipped

if TYPE_CHECKING:
    from .config import KenningConfig
    from .engine import Engine

__all__ = ["Engine", "KenningConfig", "KenningError", "Chunk", "Document", "Hit", "IndexReport", "Section", "Skipped"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Engine pulls in the whole pipeline; import it only when asked for, so `import kenning.types` stays light.
    if name == "Engine":
        from .engine import Engine

        return Engine
    if name == "KenningConfig":
        from .config import KenningConfig

        return KenningConfig
    raise AttributeError(f"module 'kenning' has no attribute {name!r}")
