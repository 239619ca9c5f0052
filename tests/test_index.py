"""Index: manifest checks, atomic builds, damage, incremental documents (fast, fake embedder)."""
from __future__ import annotations

import json
import pytest

from rag.embedding import FakeEmbedder
from rag.errors import IndexError_, InputError
from rag.index import build, load_or_build, read_index
from rag.config import DEFAULT_CORPUS as CORPUS

KEY = {"id": "fake-embedder", "fingerprint": "fake-embedder"}


def _build(tmp_path, sources=(CORPUS,), key=KEY, emb=None):
    return load_or_build(tmp_path / "index", list(sources), emb or FakeEmbedder(), key, log=lambda m: None)


def test_build_then_load_reuses(tmp_path):
    first = _build(tmp_path)
    assert first.chunks and first.faiss_index.ntotal == len(first.chunks)
    again = _build(tmp_path)
    assert again.folder == first.folder
    assert [c.chunk_id for c in again.chunks] == [c.chunk_id for c in first.chunks]


def test_manifest_records_what_it_was_built_with(tmp_path):
    index = _build(tmp_path)
    m = index.manifest
    assert m["embedder"] == KEY and m["dim"] == 64 and m["chunker_version"]
    assert m["documents"][0]["sha256"] and m["index_type"] == "flat"


@pytest.mark.parametrize("change", ["embedder", "dim", "corpus"])
def test_mismatch_triggers_rebuild(tmp_path, change):
    old = _build(tmp_path)
    logs = []
    src = CORPUS
    key, emb = KEY, FakeEmbedder()
    if change == "embedder":
        key = {"id": "other", "fingerprint": "other"}
    elif change == "dim":
        emb = FakeEmbedder(dim=32)
    else:
        src = tmp_path / "copy.txt"
        src.write_text(CORPUS.read_text(encoding="utf-8") + "\nNeuer Absatz über Häfen.\n", encoding="utf-8")
    new = load_or_build(tmp_path / "index", [src], emb, key, log=logs.append)
    assert new.folder != old.folder
    assert logs and "building" in logs[0]
    assert new.manifest["embedder"] == key and new.vectors.shape[1] == emb.dim


def test_interrupted_build_leaves_old_index(tmp_path, monkeypatch):
    old = _build(tmp_path)
    import rag.index as index_mod

    def boom(*a, **k):
        raise KeyboardInterrupt("killed mid-build")

    monkeypatch.setattr(index_mod.faiss, "write_index", boom)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "index", [CORPUS], FakeEmbedder(32), {"id": "x", "fingerprint": "x"})
    still = read_index(tmp_path / "index")
    assert still.folder == old.folder and still.manifest == old.manifest
    assert not [p for p in (tmp_path / "index").iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("damage", ["delete-faiss", "truncate-chunks", "garbage-manifest", "pointer"])
def test_damaged_index_is_rebuilt(tmp_path, damage):
    old = _build(tmp_path)
    if damage == "delete-faiss":
        (old.folder / "chunks.faiss").unlink()
    elif damage == "truncate-chunks":
        lines = (old.folder / "chunks.jsonl").read_text().splitlines()
        (old.folder / "chunks.jsonl").write_text("\n".join(lines[:3]))
    elif damage == "garbage-manifest":
        (old.folder / "manifest.json").write_text("{not json")
    else:
        (tmp_path / "index" / "CURRENT").write_text("build-doesnotexist\n")
    with pytest.raises(IndexError_):
        read_index(tmp_path / "index")
    logs = []
    new = load_or_build(tmp_path / "index", [CORPUS], FakeEmbedder(), KEY, log=logs.append)
    assert logs and len(new.chunks) == len(old.chunks)


def test_bad_input_changes_nothing(tmp_path):
    old = _build(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    with pytest.raises(InputError):
        build(tmp_path / "index", [CORPUS, empty], FakeEmbedder(), KEY)
    assert read_index(tmp_path / "index").folder == old.folder


def test_adding_documents_and_readding_adds_nothing(tmp_path, fake_pipeline):
    extra = tmp_path / "extra.txt"
    extra.write_text("Der Hafen Rostock plant eine neue Fährverbindung nach Klaipėda.\n\n"
                     "Die Verbindung soll im Jahr 2018 starten.\n", encoding="utf-8")
    base = fake_pipeline.index
    added = fake_pipeline.add_documents([extra])
    assert len(added.documents) == len(base.documents) + 1
    assert len(added.chunks) > len(base.chunks)
    again = fake_pipeline.add_documents([extra])
    assert [c.chunk_id for c in again.chunks] == [c.chunk_id for c in added.chunks]
    assert json.loads((again.folder / "manifest.json").read_text()) == again.manifest
    from rag.pipeline import Pipeline

    later = Pipeline(fake_pipeline.settings, embedder=FakeEmbedder(), log=lambda m: None)
    assert later.index.folder == again.folder  # a new process keeps the added document, builds nothing


def test_manifest_records_a_checksum_of_every_file_and_document_text(tmp_path):
    import hashlib

    index = _build(tmp_path)
    m = index.manifest
    files = sorted(p.name for p in index.folder.iterdir() if p.name != "manifest.json")
    assert sorted(m["files"]) == files
    for name, entry in m["files"].items():
        data = (index.folder / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert m["texts"] == {d.doc_id: hashlib.sha256(d.text.encode("utf-8")).hexdigest() for d in index.documents}
    assert m["cards"] == {d.doc_id: hashlib.sha256(d.card.encode("utf-8")).hexdigest() for d in index.documents}
    assert len(m["checksum"]) == 64 and m["format"] == 6


def test_an_index_without_checksums_is_rebuilt(tmp_path):
    """A build of the previous format (no checksums) is not trusted: it is rebuilt, saying why."""
    old = _build(tmp_path)
    manifest = json.loads((old.folder / "manifest.json").read_text())
    for key in ("files", "texts", "cards", "checksum"):
        del manifest[key]
    manifest["format"] = 4
    (old.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexError_, match=r"manifest.json holds no checksums \(index format 4\)"):
        read_index(tmp_path / "index")
    logs = []
    new = load_or_build(tmp_path / "index", [CORPUS], FakeEmbedder(), KEY, log=logs.append)
    assert "holds no checksums" in logs[0] and new.manifest["format"] == 6


def test_concurrent_builds_are_serialised_by_the_lock(tmp_path):
    """Two builds at once (threads here; the file lock works across processes the same way) leave
    one intact live build and no scratch folders."""
    import threading

    errors = []

    def run():
        try:
            build(tmp_path / "index", [CORPUS], FakeEmbedder(), KEY)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    live = read_index(tmp_path / "index")
    leftovers = [p.name for p in (tmp_path / "index").iterdir() if p.is_dir() and p != live.folder]
    assert leftovers == []
