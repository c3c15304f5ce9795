"""The offline verifiers: the lexical fallback on hand-made cases, the number/name checks, the training data
generators, a tiny real training run, and the error a missing model gives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from kenning.errors import ConfigError
from kenning.types import Verdict
from kenning.verify.checks import check_facts, evidence_spans
from kenning.verify.claims import Claim, Source, split_claims
from kenning.verify.offline import LexicalVerifier, OfflineVerifier, default_verifier_dir

SOURCES = [
    Source(
        "pg::1",
        "PostgreSQL has several maintenance commands. VACUUM FULL rewrites the whole table into a new "
        "file and takes an exclusive lock while it runs.",
    ),
    Source(
        "trial::7",
        "In the 2019 trial, mortality fell by 30% among the 1,200 treated patients. Aspirin was given daily.",
    ),
    Source("garden::2", "Tomatoes need full sun, regular watering and support from stakes or cages."),
]


def claim(text: str, *cites: int) -> Claim:
    return Claim(text, 0, len(text), tuple(cites))


def lexical(text: str, *cites: int, sources=SOURCES) -> Verdict:
    return LexicalVerifier().verify([claim(text, *cites)], sources).verdicts[0]


def test_lexical_supported_sentence_with_exact_evidence() -> None:
    v = lexical("VACUUM FULL rewrites the whole table and takes an exclusive lock.", 1)
    assert v.label == "SUPPORT", v.reasoning
    assert v.source_id == "pg::1"
    assert v.evidence in SOURCES[0].text
    assert "VACUUM FULL rewrites" in v.evidence and "maintenance" not in v.evidence
    assert "[1]" in v.reasoning


def test_number_mismatch_is_never_support_and_says_which_number() -> None:
    v = lexical("In the 2019 trial, mortality fell by 20% among treated patients.", 2)
    assert v.label != "SUPPORT"
    assert "20%" in v.reasoning
    same = lexical("In the 2019 trial, mortality fell by 30% among treated patients.", 2)
    assert same.label == "SUPPORT", same.reasoning


def test_entity_swap_is_not_support() -> None:
    v = lexical("In the 2019 trial, mortality fell by 30% among the patients given Ibuprofen daily.", 2)
    assert v.label != "SUPPORT"
    assert "Ibuprofen" in v.reasoning


def test_negated_claim_is_not_support() -> None:
    v = lexical("VACUUM FULL does not take an exclusive lock on the table.", 1)
    assert v.label != "SUPPORT"
    assert "negated" in v.reasoning


def test_unrelated_claim_is_not_supported() -> None:
    v = lexical("Kubernetes schedules pods onto worker nodes.", 1)
    assert v.label == "NOT_SUPPORTED"


def test_citations_decide_between_equal_sources() -> None:
    twins = [
        Source("a", "The bridge opened in 1932 after six years of work."),
        Source("b", "The bridge opened in 1932 after six years of work."),
    ]
    assert lexical("The bridge opened in 1932.", 2, sources=twins).source_id == "b"
    assert lexical("The bridge opened in 1932.", 1, sources=twins).source_id == "a"


def test_every_evidence_span_is_an_exact_slice() -> None:
    for span in evidence_spans(SOURCES):
        assert SOURCES[span.source].text[span.start : span.end] == span.text
    answer = "VACUUM FULL locks the table [1]. Mortality fell by 30% in 2019 [2]. Tomatoes need sun [3]."
    for v in LexicalVerifier().verify(split_claims(answer), SOURCES).verdicts:
        assert v.evidence and any(v.evidence in s.text for s in SOURCES if s.id == v.source_id)
        assert v.reasoning and "\n" not in v.reasoning


def test_fact_checks() -> None:
    assert check_facts("Mortality fell by 20% in 2019.", "Mortality fell by 30% in 2019.").missing_numbers == ("20%",)
    assert check_facts("Mortality fell by 20% in 2019.", "Mortality fell by 30% in 2019.").conflicting
    assert check_facts("Half of the 1,200 patients improved.", "600 of 1200 patients improved").missing_numbers == ()
    assert check_facts("IL-6 rose in mice.", "IL-6 levels rose in mice").ok
    assert check_facts("TNF rose in mice.", "IL-6 levels rose in mice").missing_names == ("TNF",)
    # an abbreviation explained in parentheses is not a name the evidence must repeat
    assert check_facts("Chronic kidney disease (CKD) worsens.", "chronic kidney disease worsens").ok


def test_training_data_generators() -> None:
    from kenning.train.verifier_data import CONTRADICT, SUPPORT, claimify, negate, synthetic_examples

    rng = random.Random(0)
    assert negate("Aspirin reduced the risk of stroke.", rng) == "Aspirin increased the risk of stroke."
    assert "not" not in (negate("The drug was not effective in mice.", random.Random(1)) or "not")
    assert claimify("RESULTS We found that aspirin lowered stroke risk (OR 0.8) in older adults.", rng) == (
        "Aspirin lowered stroke risk in older adults."
    )
    docs = [
        [
            "Aspirin reduced the risk of stroke in 1,200 adults over five years.",
            "Bleeding increased slightly in the IL-6 high group of patients.",
            "The trial was stopped early because the benefit was clear to the board.",
        ]
    ] * 5
    made = synthetic_examples(docs, 30, random.Random(0))
    assert len(made) == 30
    assert {e.label for e in made} >= {SUPPORT, CONTRADICT}
    assert all(e.claim != e.evidence or e.label == SUPPORT for e in made)


def test_missing_model_names_the_training_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kenning train verifier"):
        OfflineVerifier(tmp_path / "nowhere")
    assert default_verifier_dir(tmp_path) == tmp_path / "models" / "verifier"


def fake_model(folder: Path, **manifest: object) -> Path:
    """A model folder whose manifest is real but whose weights are never loaded (probabilities are patched)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    base = {"recipe": "kenning-verifier/1", "labels": ["NOT_ENOUGH_INFO", "SUPPORT", "CONTRADICT"]}
    (folder / "kenning_verifier.json").write_text(json.dumps(base | manifest))
    return folder


def patched(monkeypatch: pytest.MonkeyPatch, nei: float, support: float, contradict: float) -> None:
    """Every (claim, span) pair gets the same probabilities, so only the verifier's rules decide."""

    def probabilities(self, pairs):  # noqa: ANN001, ANN202
        return np.tile(np.array([nei, support, contradict], dtype=np.float32), (len(pairs), 1))

    monkeypatch.setattr(OfflineVerifier, "probabilities", probabilities)


THRESHOLDS = {"support": 0.5, "partial": 0.3, "veto": 0.8, "rescue": 0.9}


def test_combined_model_vetoes_a_lexical_support_it_reads_as_contradicted(tmp_path, monkeypatch) -> None:
    folder = fake_model(tmp_path / "m", mode="combined", thresholds=THRESHOLDS)
    text = "VACUUM FULL rewrites the whole table and takes an exclusive lock."
    assert lexical(text, 1).label == "SUPPORT"
    patched(monkeypatch, 0.05, 0.05, 0.9)
    v = OfflineVerifier(folder).verify([claim(text, 1)], SOURCES).verdicts[0]
    assert v.label == "PARTIAL" and "contradicting" in v.reasoning and v.source_id == "pg::1"
    patched(monkeypatch, 0.2, 0.1, 0.7)  # below the veto threshold: the lexical verdict stands
    assert OfflineVerifier(folder).verify([claim(text, 1)], SOURCES).verdicts[0].label == "SUPPORT"


def test_combined_model_rescues_only_claims_whose_facts_match(tmp_path, monkeypatch) -> None:
    folder = fake_model(tmp_path / "m", mode="combined", thresholds=THRESHOLDS)
    patched(monkeypatch, 0.02, 0.95, 0.03)
    paraphrase = "Gardeners should give tomatoes plenty of light and water."
    assert lexical(paraphrase, 3).label != "SUPPORT"
    v = OfflineVerifier(folder).verify([claim(paraphrase, 3)], SOURCES).verdicts[0]
    assert v.label == "SUPPORT" and "the model finds it" in v.reasoning and v.evidence in SOURCES[2].text
    # a sure model never makes a wrong number or a swapped name SUPPORT, in either mode
    for mode in ("combined", "model"):
        verifier = OfflineVerifier(folder, mode=mode)
        wrong = verifier.verify(
            [claim("In the 2019 trial, mortality fell by 20% among treated patients.", 2)], SOURCES
        ).verdicts
        assert wrong[0].label != "SUPPORT" and "20%" in wrong[0].reasoning
        swapped = verifier.verify([claim("Mortality fell by 30% among patients given Ibuprofen.", 2)], SOURCES).verdicts
        assert swapped[0].label != "SUPPORT"


def test_thresholds_never_overrule_lexical_by_default(tmp_path, monkeypatch) -> None:
    folder = fake_model(tmp_path / "m")  # a manifest from before veto/rescue were calibrated
    patched(monkeypatch, 0.0, 0.0, 1.0)
    text = "VACUUM FULL rewrites the whole table and takes an exclusive lock."
    verifier = OfflineVerifier(folder)
    assert verifier.mode == "combined" and verifier.name == "offline"
    assert verifier.verify([claim(text, 1)], SOURCES) == LexicalVerifier().verify([claim(text, 1)], SOURCES)
    assert OfflineVerifier(folder, mode="model").name == "offline-model"
    with pytest.raises(ConfigError, match="mode"):
        OfflineVerifier(folder, mode="bogus")  # type: ignore[arg-type]


def test_calibration_uses_the_model_only_when_it_clearly_beats_lexical() -> None:
    from kenning.train.verifier import NEVER, choose_thresholds

    # (gold SUPPORT, lexical SUPPORT, P(SUPPORT) facts ok, same but same direction, P(CONTRADICT))
    agree = [(True, True, 0.9, 0.9, 0.1), (False, False, 0.1, 0.1, 0.1)] * 30
    vetoed = [(False, True, 0.6, 0.6, 0.95)]  # lexical wrong; the model reads a contradiction
    chosen = choose_thresholds(agree + vetoed * 2)
    assert chosen["thresholds"]["veto"] < NEVER and chosen["heldout"]["wins_over_lexical"] == 2
    assert chosen["beats_lexical"] is False  # two claims is noise
    chosen = choose_thresholds(agree + vetoed * 12)
    assert chosen["beats_lexical"] is True and chosen["mode"] in ("combined", "model")
    assert chosen["heldout"]["binary_accuracy"] > chosen["heldout"]["lexical_accuracy"]
    nothing = choose_thresholds(agree)
    assert nothing["thresholds"]["veto"] == nothing["thresholds"]["rescue"] == NEVER  # ties: never overrule
    assert nothing["beats_lexical"] is False


def test_engine_offline_is_lexical_unless_the_model_measured_better(home: Path) -> None:
    from kenning.engine import Engine

    engine = Engine(home)
    check, notes = engine.verifier("offline")
    assert check.name == "lexical" and "kenning train verifier" in notes[0]
    with pytest.raises(ConfigError, match="kenning train verifier"):
        engine.verifier("trained")
    heldout = {"pairs": 132, "binary_accuracy": 0.73, "lexical_accuracy": 0.71}
    fake_model(default_verifier_dir(home), mode="combined", beats_lexical=False, heldout=heldout)
    check, notes = Engine(home).verifier("offline")
    assert check.name == "lexical" and "did not measurably beat" in notes[0] and "0.73 vs 0.71" in notes[0]
    assert Engine(home).verifier("trained")[0].name == "offline"
    (default_verifier_dir(home) / "kenning_verifier.json").write_text(
        json.dumps({"mode": "model", "beats_lexical": True, "heldout": heldout})
    )
    check, notes = Engine(home).verifier("offline")
    assert isinstance(check, OfflineVerifier) and check.name == "offline-model" and notes == []


@pytest.mark.slow
def test_cli_quick_training_makes_a_working_verifier(tmp_path: Path, shared_data: Path) -> None:
    from typer.testing import CliRunner

    from kenning.cli import app

    pairs = shared_data / "verify" / "scifact-claims" / "claims_train_pairs.jsonl"
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": s.id, "title": "", "text": s.text}) + "\n" for s in SOURCES * 4))
    out = tmp_path / "verifier"
    args = ["train", "verifier", "--quick", "--out", str(out), "--train-pairs", str(pairs), "--corpus", str(corpus)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest == json.loads((out / "kenning_verifier.json").read_text())
    assert manifest["recipe"].startswith("kenning-verifier/") and manifest["limit_pairs"] == 60
    assert manifest["mode"] in ("combined", "model") and isinstance(manifest["beats_lexical"], bool)
    assert 0 <= manifest["thresholds"]["partial"] <= manifest["thresholds"]["support"] <= 1.01
    assert manifest["heldout"]["pairs"] == manifest["counts"]["claim_pairs_heldout"] > 0
    assert manifest["steps"] >= 1 and manifest["train_seconds"] > 0

    for mode in ("combined", "model"):
        verifier = OfflineVerifier(out, mode=mode)
        answer = "VACUUM FULL takes an exclusive lock [1]. Mortality fell by 20% in 2019 [2]."
        checked = verifier.verify(split_claims(answer), SOURCES)
        verdicts = checked.verdicts
        assert len(verdicts) == 2 and checked.usage.total_tokens == 0
        for v in verdicts:
            assert v.label in ("SUPPORT", "PARTIAL", "NOT_SUPPORTED")
            assert v.evidence in next(s.text for s in SOURCES if s.id == v.source_id)
            assert 0.0 <= (v.score or 0.0) <= 1.0 and v.reasoning
        assert verdicts[1].label != "SUPPORT" and "20%" in verdicts[1].reasoning

    again = CliRunner().invoke(app, ["train", "verifier", "--calibrate-only", "--out", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["thresholds"] == manifest["thresholds"]  # same held-out slice, same choice
