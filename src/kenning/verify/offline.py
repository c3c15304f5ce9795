"""The offline verifier: kenning's own trained cross-encoder, alone or correcting the lexical verifier.

``kenning train verifier`` fine-tunes a MiniLM cross-encoder into a 3-way claim/evidence classifier, then judges
held-out training claims two ways and records the better one as the model's ``mode``:

- ``"combined"``: the lexical verdict, overruled only where the model is sure. A lexical SUPPORT is vetoed when the
  model reads a candidate span as contradicting the claim (P(CONTRADICT) >= ``veto``); a claim the lexical verifier
  missed is SUPPORTed when the model is sure of a span whose numbers, dates and names all match and that points the
  same way (P(SUPPORT) >= ``rescue``). A threshold above 1 means "never".
- ``"model"``: the model's best P(SUPPORT) over the candidate spans, against ``support`` and ``partial``.

The engine's "offline" verifier uses this class only when the training measured it better than the lexical verifier
(``beats_lexical`` in ``kenning_verifier.json``); so far, on SciFact, it has not (``bench/verifier.py``).

In every mode the numbers, dates and names in a claim must be in the evidence: "20%" against evidence saying "30%"
is never SUPPORT.

>>> verifier = OfflineVerifier()                                       # doctest: +SKIP
>>> verifier.verify([Claim("VACUUM FULL locks the table.", 0, 28, (1,))],
...                 [Source("pg::1", "VACUUM FULL takes an exclusive lock on the table.")]).verdicts[0].label  # doctest: +SKIP
'SUPPORT'
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError, ProviderError
from ..providers.embedders import import_sentence_transformers
from ..types import Verdict, VerdictLabel
from .base import Verification
from .checks import FactCheck, Span, check_facts, content_tokens, coverage, evidence_spans
from .claims import Claim, Source
from .lexical import LexicalVerifier, polarity_clash

__all__ = [
    "OfflineVerifier",
    "LexicalVerifier",
    "default_verifier_dir",
    "MANIFEST",
    "MODES",
    "read_manifest",
    "select_candidates",
]

MANIFEST = "kenning_verifier.json"
TRAIN_COMMAND = "kenning train verifier"
Mode = Literal["combined", "model"]
MODES: tuple[str, ...] = ("combined", "model")
# veto/rescue above 1: the model never overrules the lexical verdict (a manifest from before they were calibrated)
DEFAULT_THRESHOLDS = {"support": 0.5, "partial": 0.3, "veto": 1.01, "rescue": 1.01}


def default_verifier_dir(home: Path | None = None) -> Path:
    """Where ``kenning train verifier`` puts the model: ``<home>/models/verifier`` (home: $KENNING_HOME or
    ~/.kenning)."""
    if home is None:
        from ..config import default_home

        home = default_home()
    return Path(home).expanduser() / "models" / "verifier"


def read_manifest(folder: Path) -> dict | None:
    """A trained verifier's ``kenning_verifier.json``, or None when the folder holds no usable model."""
    try:
        if not (folder / "config.json").is_file():
            return None
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def select_candidates(
    claim: Claim, spans: Sequence[Span], span_tokens: Sequence[list[str]], *, k: int, n_sources: int
) -> list[int]:
    """Indices of the ``k`` spans that best cover the claim's words; spans of cited sources come first."""
    want = content_tokens(claim.text)
    cited = {c - 1 for c in claim.citations if 0 < c <= n_sources}
    scored = []
    for i, (span, toks) in enumerate(zip(spans, span_tokens, strict=True)):
        score = coverage(want, toks) - 0.002 * len(toks)  # at equal coverage the shorter span (a sentence) wins
        scored.append((span.source in cited, score, -i))
    scored.sort(reverse=True)
    top = [-neg for _, _, neg in scored[:k]]
    if cited:  # cited sources first, but the best uncited spans still get a look
        rest = sorted(scored[k:], key=lambda t: (t[1], t[2]), reverse=True)
        top += [-neg for in_cited, _, neg in rest[: max(1, k // 3)] if not in_cited]
    return top


@dataclass(frozen=True, slots=True)
class _Scored:
    span: int
    support: float
    contradict: float
    facts: FactCheck
    text: str


class OfflineVerifier:
    """The lexical verifier corrected by a trained cross-encoder (``kenning train verifier``); costs no tokens.

    ``mode``: ``"combined"`` (the lexical verdict, vetoed or rescued by the model) or ``"model"`` (the model alone);
    by default the one that did better on held-out claims when the model was trained (``kenning_verifier.json``).
    ``candidates`` is how many spans per claim the model reads (most word overlap first); ``thresholds`` override
    the calibrated ones from ``kenning_verifier.json`` (keys ``support``, ``partial``, ``veto``, ``rescue``).
    """

    name = "offline"

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        mode: Mode | None = None,
        candidates: int = 6,
        batch_size: int = 32,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        folder = Path(model_dir).expanduser() if model_dir is not None else default_verifier_dir()
        manifest = folder / MANIFEST
        if not manifest.is_file() or not (folder / "config.json").is_file():
            raise ConfigError(
                f"no trained verifier at {folder} (missing {MANIFEST} or config.json). "
                f"Train it with: {TRAIN_COMMAND}   (or use the lexical verifier: --verifier lexical)"
            )
        try:
            self.manifest = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{manifest} is unreadable ({exc}); retrain with: {TRAIN_COMMAND}") from exc
        if candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {candidates}")
        mode = mode or self.manifest.get("mode", "combined")
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.path = folder
        self.mode = mode
        self.name = "offline" if mode == "combined" else "offline-model"
        self.candidates = candidates
        self.batch_size = batch_size
        self.thresholds = {**DEFAULT_THRESHOLDS, **self.manifest.get("thresholds", {}), **(thresholds or {})}
        self.labels = list(self.manifest.get("labels", ["NOT_ENOUGH_INFO", "SUPPORT", "CONTRADICT"]))
        self.max_length = int(self.manifest.get("max_length", 256))
        self._lexical = LexicalVerifier()
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):  # noqa: ANN201 - a sentence_transformers.CrossEncoder, imported lazily
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_cross_encoder(self.path, self.max_length)
        return self._model

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Per (claim, evidence) pair: the probability of each of ``self.labels``."""
        if not pairs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        import torch

        with torch.inference_mode():
            logits = self.model.predict(
                list(pairs),
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                activation_fn=torch.nn.Identity(),
            )
        logits = np.asarray(logits, dtype=np.float64).reshape(len(pairs), -1)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def score_claims(self, claims: Sequence[Claim], sources: Sequence[Source]) -> list[list[_Scored]]:
        """For each claim, its candidate spans scored by the model and checked for numbers and names."""
        return self._score(claims, sources, evidence_spans(sources))

    def _score(self, claims: Sequence[Claim], sources: Sequence[Source], spans: Sequence[Span]) -> list[list[_Scored]]:
        span_tokens = [content_tokens(s.text) for s in spans]
        chosen = [select_candidates(c, spans, span_tokens, k=self.candidates, n_sources=len(sources)) for c in claims]
        pairs = [(c.text, spans[i].text) for c, idx in zip(claims, chosen, strict=True) for i in idx]
        probs = self.probabilities(pairs)
        sup, con = self.labels.index("SUPPORT"), self.labels.index("CONTRADICT") if "CONTRADICT" in self.labels else -1
        out, row = [], 0
        for claim, idx in zip(claims, chosen, strict=True):
            scored = []
            for i in idx:
                facts = check_facts(claim.text, spans[i].text, context=sources[spans[i].source].text)
                p = probs[row]
                scored.append(_Scored(i, float(p[sup]), float(p[con]) if con >= 0 else 0.0, facts, spans[i].text))
                row += 1
            out.append(scored)
        return out

    def verify(self, claims: Sequence[Claim], sources: Sequence[Source], *, question: str = "") -> Verification:
        if not claims:
            return Verification()
        if not sources:
            return Verification(
                tuple(
                    Verdict(c.text, "NOT_SUPPORTED", "", "", "no sources to check against", c.start, c.end, 0.0)
                    for c in claims
                )
            )
        spans = evidence_spans(sources)  # per call, never on self: one verifier serves many threads
        all_scored = self._score(claims, sources, spans)
        if self.mode == "model":
            judged = [self._judge(c, scored, spans, sources) for c, scored in zip(claims, all_scored, strict=True)]
            return Verification(tuple(judged))
        lexical = self._lexical.verify(claims, sources).verdicts
        return Verification(
            tuple(
                self._combine(c, verdict, scored, spans, sources)
                for c, verdict, scored in zip(claims, lexical, all_scored, strict=True)
            )
        )

    def _combine(
        self, claim: Claim, lexical: Verdict, scored: list[_Scored], spans: Sequence[Span], sources: Sequence[Source]
    ) -> Verdict:
        """The lexical verdict, unless the model is sure it is wrong (thresholds ``veto`` and ``rescue``)."""
        if not scored:
            return lexical
        veto, rescue = self.thresholds["veto"], self.thresholds["rescue"]
        contra = max(scored, key=lambda s: s.contradict)
        if lexical.label == "SUPPORT" and contra.contradict >= veto:
            span = spans[contra.span]
            why = (
                f"{lexical.reasoning}, but the model reads [{span.source + 1}] as contradicting it "
                f"(P={contra.contradict:.2f})"
            )
            return Verdict(
                claim.text, "PARTIAL", span.text, sources[span.source].id, why, claim.start, claim.end, lexical.score
            )
        if lexical.label != "SUPPORT":
            backed = [s for s in scored if s.facts.ok and polarity_clash(claim.text, s.text) is None]
            best = max(backed, key=lambda s: s.support, default=None)
            if best is not None and best.support >= rescue:
                span = spans[best.span]
                why = (
                    f"the model finds it in [{span.source + 1}] (P={best.support:.2f}); {best.facts.describe()} "
                    f"(by word overlap: {lexical.label})"
                )
                return Verdict(
                    claim.text,
                    "SUPPORT",
                    span.text,
                    sources[span.source].id,
                    why,
                    claim.start,
                    claim.end,
                    round(best.support, 4),
                )
        return lexical

    def _judge(self, claim: Claim, scored: list[_Scored], spans: Sequence[Span], sources: Sequence[Source]) -> Verdict:
        t_sup, t_part = self.thresholds["support"], self.thresholds["partial"]
        if not scored:
            return Verdict(
                claim.text,
                "NOT_SUPPORTED",
                "",
                "",
                "no sentence in the sources to check against",
                claim.start,
                claim.end,
                0.0,
            )
        cited = {c - 1 for c in claim.citations}
        # the best span whose numbers and names match; ties go to the cited sources
        ranked = sorted(
            scored, key=lambda s: (s.facts.ok, s.support + 0.02 * (spans[s.span].source in cited)), reverse=True
        )
        best = ranked[0] if ranked[0].facts.ok and ranked[0].support >= t_part else max(scored, key=lambda s: s.support)
        span = spans[best.span]
        where = f"[{span.source + 1}]"
        label: VerdictLabel
        if best.support >= t_sup and best.facts.ok:
            label, why = "SUPPORT", f"best evidence in {where} scores {best.support:.2f}; {best.facts.describe()}"
        elif best.support >= t_sup:
            label = "NOT_SUPPORTED" if best.facts.conflicting else "PARTIAL"
            why = f"evidence in {where} scores {best.support:.2f} but {best.facts.describe()}"
        elif best.support >= t_part:
            label = "PARTIAL"
            why = f"best evidence in {where} scores {best.support:.2f}, below {t_sup:.2f}; {best.facts.describe()}"
        else:
            label = "NOT_SUPPORTED"
            contra = max(scored, key=lambda s: s.contradict)
            if contra.contradict > 0.5:
                span = spans[contra.span]
                why = f"evidence in [{span.source + 1}] contradicts it ({contra.contradict:.2f})"
            else:
                why = f"no span supports it (best {best.support:.2f} in {where}, needs {t_sup:.2f})"
        return Verdict(
            claim.text, label, span.text, sources[span.source].id, why, claim.start, claim.end, round(best.support, 4)
        )


_CACHE: dict[tuple[str, int], object] = {}
_CACHE_LOCK = threading.Lock()


def _load_cross_encoder(folder: Path, max_length: int):  # noqa: ANN202
    key = (str(folder.resolve()), max_length)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        CrossEncoder = import_sentence_transformers("The offline verifier").CrossEncoder
        try:
            model = CrossEncoder(str(folder), device="cpu", local_files_only=True)
            model.max_seq_length = max_length
        except Exception as exc:  # the library raises many kinds; all mean "not a usable model folder"
            raise ProviderError(f"cannot load the verifier model at {folder}: {exc}; retrain: {TRAIN_COMMAND}") from exc
        _CACHE[key] = model
        return model
