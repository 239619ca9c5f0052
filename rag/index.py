"""FAISS index + chunk store + manifest. Builds go to a new folder and are switched in atomically.

Every load checks the checksums in the manifest (rag/integrity.py) before parsing anything: a damaged
build is rebuilt from the sources by load_or_build and reported by `rag index verify`. The index folder
must be writable (it holds the lock and the builds); ``check_index_dir`` says so before any work is done.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from .chunking import CHUNKER_VERSION, chunk_document
from .errors import IndexError_, InputError
from .ingest import load_document
from .integrity import MANIFEST, check_files, check_index_dir, file_sums, quote_in_document, seal, text_sha256
from .integrity import sha256_file as _sha256
from .text import evidence_units
from .types import Chunk, Document

FORMAT = 6  # 5: checksums of every file and document text in the manifest; 6: of every card too
POINTER = "CURRENT"  # a one-line file naming the live build folder; replaced atomically
REPAIR = "run `rag index build` to build it again"
__all__ = ["Index", "read_index", "load_or_build", "build", "verify_index", "describe", "check_index_dir",
           "quote_in_document", "reading_context", "unit_context"]


@dataclass
class Index:
    folder: Path
    manifest: dict
    documents: list[Document]
    chunks: list[Chunk]
    vectors: np.ndarray  # (n_chunks, dim), normalised
    faiss_index: object
    sentences: list[tuple[int, int, int]]  # (chunk index, start, end) within chunk.text
    sentence_vectors: np.ndarray


def expected_manifest(sources: Sequence[Path], embedder_key: dict, dim: int, index_type: str) -> dict:
    docs = []
    for src in sources:
        p = Path(src).resolve()
        docs.append({"source": str(p), "sha256": _sha256(p)})
    return {
        "format": FORMAT,
        "embedder": embedder_key,
        "dim": dim,
        "chunker_version": CHUNKER_VERSION,
        "index_type": index_type,
        "documents": sorted(docs, key=lambda d: d["source"]),
    }


def mismatch(stored: dict, wanted: dict) -> str | None:
    """Why a stored manifest does not fit what is wanted, or None when it fits."""
    for key in ("format", "embedder", "dim", "chunker_version", "index_type"):
        if stored.get(key) != wanted.get(key):
            return f"{key} changed ({stored.get(key)!r} -> {wanted.get(key)!r})"
    have = {(d["source"], d["sha256"]) for d in stored.get("documents", [])}
    want = {(d["source"], d["sha256"]) for d in wanted["documents"]}
    if have != want:
        return "the documents changed"
    return None


def read_index(index_dir: Path) -> Index:
    """Load the live build after checking every checksum; raises IndexError_ when it is missing or damaged."""
    index_dir = Path(index_dir)
    try:
        folder = index_dir / (index_dir / POINTER).read_text().strip()
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except ValueError:  # not UTF-8 or not JSON
            raise IndexError_(f"index in {index_dir} is damaged: {MANIFEST} is unreadable") from None
        problem = check_files(folder, manifest)
        if problem:
            raise IndexError_(f"index in {index_dir} is damaged: {problem}")
        docs = [Document(**{**d, "page_starts": tuple(d["page_starts"])})
                for d in json.loads((folder / "documents.json").read_text())]
        with open(folder / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [Chunk(**json.loads(line)) for line in fh if line.strip()]
        vectors = np.load(folder / "vectors.npy")
        fidx = faiss.read_index(str(folder / "chunks.faiss"))
        sentences = [tuple(s) for s in json.loads((folder / "sentences.json").read_text())]
        sentence_vectors = np.load(folder / "sentence_vectors.npy")
    except IndexError_:
        raise
    except FileNotFoundError as exc:
        raise IndexError_(f"no index in {index_dir} ({Path(exc.filename or '').name or exc} missing)") from exc
    except Exception as exc:
        raise IndexError_(f"index in {index_dir} is damaged: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if not (len(chunks) == fidx.ntotal == len(vectors)) or len(sentences) != len(sentence_vectors) \
            or vectors.shape[1:] != (manifest.get("dim"),):
        raise IndexError_(f"index in {index_dir} is damaged: counts or dimensions do not match")
    return Index(folder, manifest, docs, chunks, vectors, fidx, sentences, sentence_vectors)


def verify_index(index_dir: Path) -> dict:
    """`rag index verify`: check every checksum of the live build; never raises for a damaged index."""
    return _verify(Path(index_dir))[1]


def describe(index_dir: Path) -> dict:
    """`rag index info`: the manifest of the live build with the result of verifying it."""
    index, report = _verify(Path(index_dir))
    if index is None:
        return report
    return {**index.manifest, "chunks": len(index.chunks), **report}


def _verify(index_dir: Path) -> tuple[Index | None, dict]:
    started = time.perf_counter()
    try:
        index = read_index(index_dir)
    except IndexError_ as exc:
        return None, {"index_dir": str(index_dir), "verified": False, "problem": f"{exc}; {REPAIR}"}
    files = index.manifest["files"]
    return index, {"index_dir": str(index_dir), "folder": str(index.folder), "verified": True, "problem": None,
                   "files_checked": len(files) + 1, "bytes_checked": sum(f["size"] for f in files.values()),
                   "seconds": round(time.perf_counter() - started, 3)}


def load_or_build(index_dir: Path, sources: Sequence[Path], embedder, embedder_key: dict,
                  index_type: str = "flat", log=None) -> Index:
    """The live index if it matches sources, embedder and chunker; otherwise (re)build it, saying why."""
    log = log or _log
    check_index_dir(index_dir)
    sources = _unique(sources)
    wanted = expected_manifest(sources, embedder_key, embedder.dim, index_type)
    old, damaged = None, False
    try:
        old = read_index(index_dir)
        why = mismatch(old.manifest, wanted)
        if why is None:
            return old
    except IndexError_ as exc:
        why, damaged = str(exc), (Path(index_dir) / POINTER).exists()
    log(f"index: building ({why})")
    try:
        return build(index_dir, sources, embedder, embedder_key, index_type, reuse=old)
    except InputError as exc:
        if damaged:  # never fall back to the damaged build
            raise IndexError_(f"{why}; it cannot be rebuilt: {exc}") from None
        raise


def build(index_dir: Path, sources: Sequence[Path], embedder, embedder_key: dict,
          index_type: str = "flat", reuse: Index | None = None) -> Index:
    """Ingest, chunk, embed and write a new build, then switch to it atomically.

    Every source is read and checked before anything is written, so a bad input changes nothing.
    A crash before the pointer switch leaves the previous build live.
    """
    index_dir = check_index_dir(index_dir)
    sources = _unique(sources)
    docs = [load_document(p) for p in sources]
    wanted = expected_manifest(sources, embedder_key, embedder.dim, index_type)
    chunks = [c for d in docs for c in chunk_document(d)]
    sentences = [(i, s, e) for i, c in enumerate(chunks) for s, e in evidence_units(c.text)]

    # vectors of unchanged chunks and sentences are kept from the previous build (same embedder)
    reusable: dict = {}
    if reuse is not None and reuse.manifest.get("embedder") == embedder_key and reuse.manifest.get("dim") == embedder.dim:
        reusable = {c.chunk_id: reuse.vectors[i] for i, c in enumerate(reuse.chunks)}
        reusable.update({(reuse.chunks[ci].chunk_id, s, e): reuse.sentence_vectors[row]
                         for row, (ci, s, e) in enumerate(reuse.sentences)})
    keys = [c.chunk_id for c in chunks] + [(chunks[ci].chunk_id, s, e) for ci, s, e in sentences]
    texts = [_embed_text(c) for c in chunks] + [unit_context(chunks[ci], s, e) for ci, s, e in sentences]
    todo = [i for i, key in enumerate(keys) if key not in reusable]
    fresh = _embed(embedder, [texts[i] for i in todo])
    all_vecs = np.zeros((len(keys), embedder.dim), dtype="float32")
    for row, i in enumerate(todo):
        all_vecs[i] = fresh[row]
    for i, key in enumerate(keys):
        if key in reusable:
            all_vecs[i] = reusable[key]
    vectors, sentence_vectors = all_vecs[:len(chunks)], all_vecs[len(chunks):]
    fidx = _faiss_index(vectors, index_type)

    with FileLock(index_dir / ".lock"):
        # a fresh name each time, so a rebuild (of a damaged build, say) is switched in atomically too
        name = f"build-{hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:12]}" \
               f"-{secrets.token_hex(3)}"
        tmp = index_dir / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            (tmp / "documents.json").write_text(json.dumps([dataclasses.asdict(d) for d in docs], ensure_ascii=False))
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for c in chunks:
                    fh.write(json.dumps(dataclasses.asdict(c), ensure_ascii=False) + "\n")
            np.save(tmp / "vectors.npy", vectors)
            faiss.write_index(fidx, str(tmp / "chunks.faiss"))
            (tmp / "sentences.json").write_text(json.dumps(sentences))
            np.save(tmp / "sentence_vectors.npy", sentence_vectors)
            sealed = seal({**wanted, "files": file_sums(tmp), "texts": {d.doc_id: text_sha256(d.text) for d in docs},
                           "cards": {d.doc_id: text_sha256(d.card) for d in docs}})
            (tmp / MANIFEST).write_text(json.dumps(sealed, indent=1, ensure_ascii=False))
            final = index_dir / name
            os.replace(tmp, final)
            pointer_tmp = index_dir / f".{POINTER}.{os.getpid()}"
            pointer_tmp.write_text(name + "\n")
            os.replace(pointer_tmp, index_dir / POINTER)  # the atomic switch
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for stale in index_dir.iterdir():  # old builds and leftovers of crashed ones
            if stale.is_dir() and stale.name != name and stale.name.startswith(("build-", ".tmp-")):
                shutil.rmtree(stale, ignore_errors=True)
        return read_index(index_dir)  # what was written, checked, before another build may replace it


def _embed_text(chunk: Chunk) -> str:
    # the section path tells the embedder what the passage is about ("... > Verkehr")
    return f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text


def unit_context(chunk: Chunk, start: int, end: int) -> str:
    """A sentence as embedded: with the heading it stands under and, for a list item, the
    sentence introducing the list ("... rückläufig:")."""
    leaf = chunk.section.rsplit(">", 1)[-1].strip()
    units = evidence_units(chunk.text)
    i = next((n for n, (s, _) in enumerate(units) if s == start), 0)
    intro = ""
    for s, e in reversed(units[:i]):
        if chunk.text[s:e].endswith(":"):
            intro = chunk.text[s:e] + " "
            break
        if not chunk.text[s:e].endswith(","):  # not inside a list any more
            break
    text = intro + chunk.text[start:end]
    return f"{leaf}: {text}" if leaf else text


ROW_CHARS = 60  # a line this short without a full stop is a table row, a table header cell or a list line


def reading_context(chunk: Chunk, start: int, end: int) -> str:
    """What a reader sees around a sentence when judging what it is about: ``unit_context``, and for a
    row of a table (or a line of a list) every short line above it up to the sentence introducing the
    table, so "2021 38,2 33,6" is read with "Bewilligte Fördermittel (in Mio. Euro)"."""
    base = unit_context(chunk, start, end)
    if len(chunk.text[start:end].strip()) > ROW_CHARS:
        return base
    units = evidence_units(chunk.text)
    i = next((n for n, (s, _) in enumerate(units) if s == start), None)
    if i is None:
        return base
    above = []
    for s, e in reversed(units[max(0, i - 15):i]):
        line = chunk.text[s:e].strip()
        above.insert(0, line)
        if line.endswith(":") or len(line) > ROW_CHARS:
            break
    return f"{' '.join(above)} {base}" if above else base


def _embed(embedder, texts: list[str], batch: int = 16) -> np.ndarray:
    out = [np.zeros((0, embedder.dim), dtype="float32")]
    with tqdm(total=len(texts), desc="embedding", unit="text", file=sys.stderr,
              disable=len(texts) < batch) as bar:
        for i in range(0, len(texts), batch):
            out.append(np.asarray(embedder.embed_documents(texts[i:i + batch]), dtype="float32"))
            bar.update(len(texts[i:i + batch]))
    return np.concatenate(out)


def _faiss_index(vectors: np.ndarray, index_type: str):
    dim = vectors.shape[1]
    if index_type == "hnsw":
        fidx = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    else:
        fidx = faiss.IndexFlatIP(dim)
    if len(vectors):
        fidx.add(vectors)
    return fidx


def _unique(sources: Sequence[Path]) -> list[Path]:
    seen, out = set(), []
    for s in sources:
        p = Path(s).resolve()
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
