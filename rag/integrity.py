"""Trust what is on disk: checksums of index builds and model folders, the writable-folder check, quotes.

The manifest of an index build records the size and sha256 of every other file of the build, the sha256
of every document's clean text and card, and a checksum of itself (``seal``). ``check_files`` compares them all
before anything of the build is parsed, so one changed byte anywhere makes the build "damaged".
``quote_in_document`` is the last check before a quote is shown: it must be the very text at its place in
the document it came from, and that document's text the one recorded at build time.

A model folder carries a marker (``.verified.json``) with every file's size, sha256 and modification
time, written when it was fetched or verified. Every load compares sizes and times (about 3 ms with the
marker's parsing) and hashes in full only the files whose size or time changed (``check_model_folder``).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from .errors import IndexError_

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    """The sha256 of a file, or "missing" when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return "missing"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sums(folder: Path) -> dict:
    """``{name: {"size", "sha256"}}`` of every file in ``folder`` but the manifest."""
    return {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
            for p in sorted(Path(folder).iterdir()) if p.is_file() and p.name != MANIFEST}


def seal(manifest: dict) -> dict:
    """The manifest with a checksum of the rest of itself, so a changed manifest is found too."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return {**body, "checksum": text_sha256(json.dumps(body, sort_keys=True, ensure_ascii=False))}


def check_files(folder: Path, manifest) -> str | None:
    """What in ``folder`` does not match the manifest's checksums, or None when everything does."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        version = manifest.get("format") if isinstance(manifest, dict) else "?"
        return f"{MANIFEST} holds no checksums (index format {version})"
    if manifest.get("checksum") != seal(manifest)["checksum"]:
        return f"{MANIFEST} does not match its checksum"
    for name, want in sorted(files.items()):
        path = Path(folder) / name
        if not isinstance(want, dict) or "/" in name or name.startswith(".") or not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != want.get("size") or sha256_file(path) != want.get("sha256"):
            return f"{name} does not match its checksum"
    return None


def quote_in_document(index, citation) -> bool:
    """True only when ``citation.quote`` is exactly the text at its place in the document it came from,
    ``document.text[chunk.start + citation.start : chunk.start + citation.end]`` (for a card chunk:
    ``document.card[...]``, the card being derived from the text), lies inside its chunk, and that text
    is the one whose sha256 the index manifest recorded at build time.
    An empty quote or a citation without offsets is not a checked quote: False."""
    chunk = citation.chunk
    doc = next((d for d in index.documents if d.doc_id == chunk.doc_id), None)
    card = chunk.kind == "card"
    recorded = (index.manifest.get("cards" if card else "texts") or {}).get(chunk.doc_id)
    if doc is None or recorded is None or not citation.quote:
        return False
    if not 0 <= citation.start < citation.end <= chunk.end - chunk.start:
        return False
    source = doc.card if card else doc.text
    if text_sha256(source) != recorded:
        return False
    return source[chunk.start + citation.start:chunk.start + citation.end] == citation.quote


def check_index_dir(index_dir: Path) -> Path:
    """Make sure the index folder exists (its parent must already) and is writable, before any work is
    done: builds, the lock and the list of added documents are written there. One-line IndexError_ if not."""
    index_dir = Path(index_dir).expanduser()
    choose = "choose another folder with --index-dir or RAG_INDEX_DIR"
    if not index_dir.exists():
        parent = index_dir.absolute().parent
        if not parent.is_dir():
            raise IndexError_(f"cannot create the index folder {index_dir}: the folder {parent} does not exist; "
                              f"create it or {choose}")
        try:
            index_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise IndexError_(f"cannot create the index folder {index_dir} ({exc.strerror}); {choose}") from None
    if not index_dir.is_dir():
        raise IndexError_(f"the index folder {index_dir} is not a folder; {choose}")
    try:  # a real write: for root the permission bits say little, but a read-only mount still refuses
        handle, probe = tempfile.mkstemp(prefix=".probe-", dir=index_dir)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise IndexError_(f"the index folder {index_dir} is not writable ({exc.strerror}); make it writable "
                          f"or {choose}") from None
    return index_dir


# -- model folders ----------------------------------------------------------------------------------
MARKER = ".verified.json"  # in a model folder: every file's size, sha256 and mtime when it was verified


def read_marker(folder: Path) -> tuple[dict | None, str | None]:
    """The verification marker of a model folder, or why there is none to trust."""
    if not folder.is_dir():
        return None, "not installed"
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if not all(isinstance(f["size"], int) and isinstance(f["sha256"], str) for f in marker["files"].values()):
            raise ValueError("bad file entry")
    except FileNotFoundError:
        return None, "not verified (no marker)"
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, "damaged (unreadable marker)"
    return marker, None


def check_model_folder(folder: Path, marker: dict, *, full: bool = False, label: str = "sha256") -> str | None:
    """Every file of the marker present with its size, and the sha256 of each file whose size or
    modification time differs from the marker (of every file when ``full``). The outcome of hashing is
    written back: fresh mtimes when all is well (the next load is cheap again), the problem when not (the
    next load fails at once with the same words, until a fetch or a good ``verify`` replaces the marker)."""
    files, todo = marker["files"], []
    for rel, f in sorted(files.items()):
        path = folder / rel
        if not path.is_file():
            return f"damaged (missing {rel})"
        size = path.stat().st_size
        if size != f["size"]:
            return f"damaged ({rel} has {size} bytes, not {f['size']})"
        if full or path.stat().st_mtime_ns != f.get("mtime_ns"):
            todo.append(rel)
    if not todo:
        return None
    with tqdm(total=sum(files[rel]["size"] for rel in todo), desc=label, unit="B", unit_scale=True,
              file=sys.stderr) as bar:
        for rel in todo:
            _size, sha = hash_file(folder / rel, bar)
            if sha != files[rel]["sha256"]:
                problem = (f"damaged ({rel} changed since it was verified: sha256 {sha[:12]}..., "
                           f"not {files[rel]['sha256'][:12]}...)")
                _write_marker(folder, {**marker, "damaged": problem})
                return problem
    fresh = {rel: {**f, "mtime_ns": (folder / rel).stat().st_mtime_ns} for rel, f in files.items()}
    _write_marker(folder, {k: v for k, v in {**marker, "files": fresh}.items() if k != "damaged"})
    return None


def stamp_mtimes(folder: Path, files: dict) -> dict:
    """``files`` (rel -> {"size", "sha256"}) with each file's modification time, for a new marker."""
    return {rel: {**f, "mtime_ns": (Path(folder) / rel).stat().st_mtime_ns} for rel, f in files.items()}


def _write_marker(folder: Path, marker: dict) -> None:
    """Replace the marker atomically; a read-only cache keeps the old one (the check then repeats)."""
    tmp = folder / f"{MARKER}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(marker, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, folder / MARKER)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def copy_hashing(src, dst=None, bar=None) -> tuple[int, str]:
    """Copy ``src`` to ``dst`` (when given) in 1 MiB blocks; the byte count and sha256 of what passed."""
    digest, n = hashlib.sha256(), 0
    while block := src.read(1 << 20):
        digest.update(block)
        if dst is not None:
            dst.write(block)
        n += len(block)
        if bar is not None:
            bar.update(len(block))
    return n, digest.hexdigest()


def hash_file(path: Path, bar=None) -> tuple[int, str]:
    with open(path, "rb") as src:
        return copy_hashing(src, None, bar)
