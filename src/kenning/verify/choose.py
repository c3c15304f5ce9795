"""Which verifier judges an answer: a registry of kinds, and the ``auto`` choice per answer mode.

Kinds: ``llm`` (the LLM fact-checker with the configured model, remote or local), ``offline`` (the trained
cross-encoder where its calibration showed it beats the lexical verifier, else lexical), ``trained`` (that model
whenever it exists), ``lexical`` and ``none``. ``auto`` picks by what was measured in ``bench/verifier.py`` on SciFact
dev claims:

- a remote LLM answers → that LLM fact-checks;
- the local generator answers → :data:`LOCAL_AUTO` (the kind that measured best with the local model);
- extractive answers → ``offline``.

>>> registered_verifiers()
['auto', 'llm', 'offline', 'trained', 'lexical', 'none']
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..providers.llm.base import LLM
from .base import Verifier

__all__ = ["choose_verifier", "registered_verifiers", "LOCAL_AUTO"]

LOCAL_AUTO = "offline"
"""``auto``'s kind for answers from the local generator (see ``bench/verifier.py`` and bench/README.md)."""

_KINDS = ("auto", "llm", "offline", "trained", "lexical", "none")


def registered_verifiers() -> list[str]:
    return list(_KINDS)


def choose_verifier(
    kind: str,
    *,
    llm: LLM | None,
    remote: bool,
    home: Path,
    cache: dict[str, Verifier] | None = None,
) -> tuple[Verifier | None, list[str]]:
    """The verifier of ``kind`` (None for ``none``) and notes for the user about the choice.

    ``llm`` is the model answering (None: extractive); ``remote`` says whether it is a paid remote model.
    ``cache`` keeps loaded offline models between calls.
    """
    if kind not in _KINDS:
        raise ConfigError(f"verifier: unknown kind {kind!r}; use one of {', '.join(_KINDS)}")
    cache = cache if cache is not None else {}
    notes: list[str] = []
    if kind == "none":
        return None, notes
    if kind == "auto":
        kind = "llm" if llm is not None and remote else (LOCAL_AUTO if llm is not None else "offline")
    if kind == "llm":
        if llm is None:
            raise ConfigError(
                "verifier 'llm' needs a language model: set --llm PROVIDER:MODEL (or [llm] in kenning.toml), "
                "or --llm local for the packaged local model"
            )
        from .llm_verifier import LLMVerifier

        return LLMVerifier(llm), notes
    if kind in ("offline", "trained"):
        # "offline" uses the trained model only where its training measured it better than the lexical verifier
        # on held-out claims; "trained" uses it whenever it exists (to compare, or after retraining elsewhere).
        from .offline import OfflineVerifier, default_verifier_dir, read_manifest

        folder = default_verifier_dir(home)
        manifest = read_manifest(folder)
        if manifest is None:
            if kind == "trained":
                return OfflineVerifier(folder), notes  # raises ConfigError: how to train it
            notes.append(
                "claims checked by the lexical verifier; kenning train verifier makes a model, used once it "
                "measures better than lexical on held-out claims"
            )
        elif kind == "trained" or manifest.get("beats_lexical"):
            if "offline" not in cache:
                cache["offline"] = OfflineVerifier(folder)
            return cache["offline"], notes
        else:
            held = manifest.get("heldout", {})
            notes.append(
                "the lexical verifier judged: the trained one did not measurably beat it on held-out claims "
                f"({held.get('binary_accuracy', '?')} vs {held.get('lexical_accuracy', '?')} accuracy on "
                f"{held.get('pairs', '?')} pairs); use --verifier trained to use it anyway"
            )
    from .lexical import LexicalVerifier

    if "lexical" not in cache:
        cache["lexical"] = LexicalVerifier()
    return cache["lexical"], notes
