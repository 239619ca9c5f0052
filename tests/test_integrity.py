"""What is on disk, driven like the fault probe of issue 12: same-size corruption of every index file,
quotes checked against their documents, read-only and missing index folders through the real CLI.

Read-only folders: the tests run as root, for whom permission bits mean little (root writes into a
``chmod 555`` folder). So the folder is made really read-only: the CLI runs under ``unshare -m`` in a
private mount namespace where the folder is bind-mounted read-only, and the kernel answers every write
with EROFS, exactly as on a read-only disk. Nothing outside that one process sees the mount. Where the
machine does not allow ``unshare``, those tests are skipped (and say so).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import DEFAULT_CORPUS as CORPUS, REPO
from rag.embedding import FakeEmbedder
from rag.errors import IndexError_
from rag.index import check_index_dir, describe, load_or_build, quote_in_document, read_index, verify_index
from rag.text import evidence_units
from rag.types import Citation

KEY = {"id": "fake-embedder", "fingerprint": "fake-embedder"}
BUILD_FILES = ["chunks.faiss", "chunks.jsonl", "documents.json", "vectors.npy", "sentence_vectors.npy",
               "sentences.json", "manifest.json"]


def _build(index_dir: Path, sources=(CORPUS,), log=None):
    return load_or_build(index_dir, list(sources), FakeEmbedder(), KEY, log=log or (lambda m: None))


def _overwrite_inside(path: Path) -> None:
    """Same size, other bytes: 20,000 bytes (or half the file) from the middle, each complemented."""
    data = bytearray(path.read_bytes())
    n = min(20_000, len(data) // 2)
    start = (len(data) - n) // 2
    data[start:start + n] = bytes(b ^ 0xFF for b in data[start:start + n])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", BUILD_FILES)
def test_same_size_corruption_of_every_file_is_found_and_rebuilt(tmp_path, name):
    index_dir = tmp_path / "index"
    old = _build(index_dir)
    assert sorted(p.name for p in old.folder.iterdir()) == sorted(BUILD_FILES)  # the list above is complete
    assert verify_index(index_dir)["verified"] is True
    target = old.folder / name
    size = target.stat().st_size
    _overwrite_inside(target)
    assert target.stat().st_size == size
    problem = f"{name} is unreadable" if name == "manifest.json" else f"{name} does not match its checksum"
    with pytest.raises(IndexError_, match=f"damaged: {problem}"):
        read_index(index_dir)
    report = verify_index(index_dir)
    assert report["verified"] is False and name in report["problem"] and "rag index build" in report["problem"]
    assert describe(index_dir)["verified"] is False
    logs = []
    new = _build(index_dir, log=logs.append)
    assert logs == [f"index: building (index in {index_dir} is damaged: {problem})"]
    assert new.folder != old.folder and not old.folder.exists()
    assert [c.text for c in new.chunks] == [c.text for c in old.chunks]
    assert verify_index(index_dir)["verified"] is True


def test_a_consistent_edit_of_a_file_and_its_recorded_checksum_is_found(tmp_path):
    """The manifest is covered too: changing a file and writing its new hash into the manifest is found."""
    index_dir = tmp_path / "index"
    index = _build(index_dir)
    chunks = index.folder / "chunks.jsonl"
    chunks.write_text(chunks.read_text(encoding="utf-8").replace("5,458", "9,458"), encoding="utf-8")
    manifest = json.loads((index.folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["chunks.jsonl"]["sha256"] = hashlib.sha256(chunks.read_bytes()).hexdigest()
    (index.folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(IndexError_, match="manifest.json does not match its checksum"):
        read_index(index_dir)


def test_the_sed_probe_never_serves_the_altered_number(tmp_path, fake_pipeline):
    """`sed 's/5,458 Mio/9,458 Mio/'` on chunks.jsonl made the product quote 9,458 as if the paper said so."""
    index = fake_pipeline.index
    chunks = index.folder / "chunks.jsonl"
    assert "5,458 Mio" in chunks.read_text(encoding="utf-8")
    subprocess.run(["sed", "-i", "s/5,458 Mio/9,458 Mio/", str(chunks)], check=True)
    assert "9,458 Mio" in chunks.read_text(encoding="utf-8")

    from rag.pipeline import Pipeline

    logs = []
    fresh = Pipeline(fake_pipeline.settings, embedder=FakeEmbedder(), log=logs.append)
    answer = fresh.ask("Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?")
    assert any("chunks.jsonl does not match its checksum" in m for m in logs)
    shown = answer.text + "".join(c.quote + c.chunk.text for c in answer.citations)
    assert "9,458" not in shown and "5,458" in shown
    assert all(quote_in_document(fresh.index, c) for c in answer.citations)
    assert "9,458" not in "".join(c.text for c in fresh.index.chunks)


def test_a_damaged_index_without_its_sources_fails_in_one_line(tmp_path):
    source = tmp_path / "paper.txt"
    shutil.copy(CORPUS, source)
    index_dir = tmp_path / "index"
    old = _build(index_dir, [source])
    _overwrite_inside(old.folder / "vectors.npy")
    source.unlink()
    with pytest.raises(IndexError_) as err:
        _build(index_dir, [source])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"index in {index_dir} is damaged: vectors.npy does not match its checksum; "
                              f"it cannot be rebuilt:")


def test_index_verify_and_info_through_the_cli(tmp_path):
    index_dir = tmp_path / "index"
    index = _build(index_dir)
    ok = _cli("--index-dir", str(index_dir), "index", "verify", "--json")
    assert ok.returncode == 0 and ok.stderr == ""
    report = json.loads(ok.stdout)
    assert report["verified"] is True and report["files_checked"] == len(BUILD_FILES)
    info = json.loads(_cli("--index-dir", str(index_dir), "index", "info", "--json").stdout)
    assert info["verified"] is True and info["chunks"] == len(index.chunks) and set(info["files"]) == \
        set(BUILD_FILES) - {"manifest.json"}
    _overwrite_inside(index.folder / "sentence_vectors.npy")
    for verb in ("verify", "info"):
        bad = _cli("--index-dir", str(index_dir), "index", verb, "--json")
        assert bad.returncode == 4 and json.loads(bad.stdout)["verified"] is False
        assert bad.stderr.splitlines() == [f"error: index in {index_dir} is damaged: sentence_vectors.npy does "
                                           f"not match its checksum; run `rag index build` to build it again"]


# -- quotes against the document they came from -------------------------------------------------------
def _citation(chunk, start, end, quote=None):
    return Citation(n=1, chunk=chunk, quote=chunk.text[start:end] if quote is None else quote, start=start, end=end)


def test_every_evidence_unit_of_every_chunk_is_in_its_document(tmp_path):
    index = _build(tmp_path / "index")
    checked = 0
    for chunk in index.chunks:
        for start, end in evidence_units(chunk.text):
            assert quote_in_document(index, _citation(chunk, start, end)), (chunk.chunk_id, start, end)
            checked += 1
    assert checked > len(index.chunks)


def test_an_altered_quote_chunk_or_document_is_not_in_the_document(tmp_path):
    index = _build(tmp_path / "index")
    chunk = next(c for c in index.chunks if "5,458 Mio" in c.text)
    start = chunk.text.index("5,458 Mio")
    end = start + len("5,458 Mio. Euro")
    assert quote_in_document(index, _citation(chunk, start, end))
    # the quote altered, or the chunk store altered the same way (the sed probe), or both
    assert not quote_in_document(index, _citation(chunk, start, end, "9,458 Mio. Euro"))
    forged = dataclasses.replace(chunk, text=chunk.text.replace("5,458", "9,458"))
    assert not quote_in_document(index, _citation(forged, start, end))
    # offsets outside the chunk, an empty quote, an unknown document
    assert not quote_in_document(index, _citation(chunk, 0, len(chunk.text) + 5,
                                                  index.documents[0].text[chunk.start:chunk.end + 5]))
    assert not quote_in_document(index, _citation(chunk, start, start))
    assert not quote_in_document(index, _citation(dataclasses.replace(chunk, doc_id="other"), start, end))
    # the document text itself altered (in memory): its hash is no longer the recorded one
    doc = index.documents[0]
    altered = dataclasses.replace(doc, text=doc.text.replace("Landesregierung", "Landesregierunq"))
    tampered = dataclasses.replace(index, documents=[altered])
    assert altered.text[chunk.start + start:chunk.start + end] == "5,458 Mio. Euro"
    assert not quote_in_document(tampered, _citation(chunk, start, end))


def test_a_card_quote_is_checked_against_the_card(tmp_path):
    index = _build(tmp_path / "index")
    card = next(c for c in index.chunks if c.kind == "card")
    start, end = evidence_units(card.text)[0]
    assert quote_in_document(index, _citation(card, start, end))
    doc = index.documents[0]
    altered = dataclasses.replace(doc, card=doc.card.replace(card.text[start:end], "x" * (end - start), 1))
    assert not quote_in_document(dataclasses.replace(index, documents=[altered]), _citation(card, start, end))


# -- the index folder: read-only, missing parent -----------------------------------------------------
def _cli(*args, env=None, readonly: Path | None = None, timeout=120) -> subprocess.CompletedProcess:
    """The real `rag` command in a fresh process; ``readonly``: that folder is a read-only mount for it."""
    cmd = [sys.executable, "-m", "rag.cli", *args]
    if readonly is not None:
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
               'mount --bind -o ro "$0" "$0" && exec "$@"', str(readonly), *cmd]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO, timeout=timeout)


@pytest.fixture(scope="session")
def can_mount_readonly(tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("ro-probe")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            'mount --bind -o ro "$0" "$0" && ! touch "$0/x" 2>/dev/null', str(folder)],
                           capture_output=True)
    if probe.returncode != 0 or (folder / "x").exists():
        pytest.skip("cannot make a read-only bind mount here (unshare -m needs CAP_SYS_ADMIN)")


# RAG_EMBEDDER names a folder that does not exist: touching the embedder at all would end in exit 3
# (ModelError), so exit 4 shows the folder was checked before any model work.
NO_MODELS = {"RAG_EMBEDDER": "/nonexistent/embedder", "RAG_GENERATOR": "/nonexistent/generator"}
VERBS = [("index", "build"), ("ask", "Wie hoch war der Außenhandel 2016?"), ("search", "Außenhandel"),
         ("serve", "--port", "0")]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.parametrize("verb", VERBS, ids=[v[0] + ("-" + v[1] if v[0] == "index" else "") for v in VERBS])
def test_a_read_only_index_folder_is_one_line_and_exit_4(tmp_path, can_mount_readonly, verb):
    index_dir = tmp_path / "index"
    _build(index_dir)  # an index is there: nothing would have to change for the fake embedder
    before = _snapshot(index_dir)
    out = _cli("--index-dir", str(index_dir), *verb, env=NO_MODELS, readonly=index_dir)
    assert out.returncode == 4, out.stderr
    assert out.stderr.splitlines() == [f"error: the index folder {index_dir} is not writable (Read-only file "
                                       f"system); make it writable or choose another folder with --index-dir "
                                       f"or RAG_INDEX_DIR"]
    assert out.stdout == "" and _snapshot(index_dir) == before
    readable = _cli("--index-dir", str(index_dir), "index", "verify", "--json", readonly=index_dir)
    assert readable.returncode == 0 and json.loads(readable.stdout)["verified"] is True  # reading still works


@pytest.mark.parametrize("verb", VERBS, ids=[v[0] + ("-" + v[1] if v[0] == "index" else "") for v in VERBS])
def test_a_missing_parent_folder_is_one_line_and_exit_4(tmp_path, verb):
    index_dir = tmp_path / "missing" / "sub" / "index"
    out = _cli("--index-dir", str(index_dir), *verb, env=NO_MODELS)
    assert out.returncode == 4, out.stderr
    assert out.stderr.splitlines() == [f"error: cannot create the index folder {index_dir}: the folder "
                                       f"{index_dir.parent} does not exist; create it or choose another folder "
                                       f"with --index-dir or RAG_INDEX_DIR"]
    assert not (tmp_path / "missing").exists()


def test_no_model_work_before_the_folder_check(tmp_path, fake_settings):
    """In process: the pipeline checks the folder before it touches the embedder at all."""
    from rag.pipeline import Pipeline

    class Untouchable(FakeEmbedder):
        def __getattribute__(self, name):
            pytest.fail(f"the embedder was used ({name}) before the index folder was checked")

    settings = fake_settings.with_(index_dir=tmp_path / "missing" / "index")
    with pytest.raises(IndexError_, match="does not exist"):
        Pipeline(settings, embedder=Untouchable(), log=lambda m: None).warm_up()


def test_check_index_dir(tmp_path):
    assert check_index_dir(tmp_path / "new") == tmp_path / "new" and (tmp_path / "new").is_dir()
    assert list((tmp_path / "new").iterdir()) == []  # the write probe leaves nothing behind
    (tmp_path / "file").write_text("x")
    with pytest.raises(IndexError_, match="is not a folder"):
        check_index_dir(tmp_path / "file")


@pytest.mark.real
def test_the_sed_probe_with_the_real_models(real_extractive):
    """The probe as filed: the real pipeline, `sed` on the live chunk store, then the trade question."""
    from rag.pipeline import Pipeline

    chunks = real_extractive.index.folder / "chunks.jsonl"
    subprocess.run(["sed", "-i", "s/5,458 Mio/9,458 Mio/", str(chunks)], check=True)
    assert "9,458 Mio" in chunks.read_text(encoding="utf-8")
    logs = []
    fresh = Pipeline(real_extractive.settings, embedder=real_extractive.embedder, log=logs.append)
    answer = fresh.ask("Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?")
    assert any("chunks.jsonl does not match its checksum" in m for m in logs), logs
    assert "5,458 Mio" in answer.text and "9,458" not in answer.text
    assert answer.citations and all(quote_in_document(fresh.index, c) for c in answer.citations)
    assert verify_index(fresh.settings.index_dir)["verified"] is True
