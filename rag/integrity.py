"""Trust what is on disk: checksums of an index build, the writable-folder check, quotes against documents.

The manifest of an index build records the size and sha256 of every other file of the build, the sha256
of every document's clean text, and a checksum of itself (``seal``). ``check_files`` compares them all
before anything of the build is parsed, so one changed byte anywhere makes the build "damaged".
``quote_in_document`` is the last check before a quote is shown: it must be the very text at its place in
the document it came from, and that document's text the one recorded at build time.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

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
    ``document.text[chunk.start + citation.start : chunk.start + citation.end]``, lies inside its chunk,
    and that document's text is the one whose sha256 the index manifest recorded at build time.
    An empty quote or a citation without offsets is not a checked quote: False."""
    chunk = citation.chunk
    doc = next((d for d in index.documents if d.doc_id == chunk.doc_id), None)
    recorded = (index.manifest.get("texts") or {}).get(chunk.doc_id)
    if doc is None or recorded is None or not citation.quote:
        return False
    if not 0 <= citation.start < citation.end <= chunk.end - chunk.start:
        return False
    if text_sha256(doc.text) != recorded:
        return False
    return doc.text[chunk.start + citation.start:chunk.start + citation.end] == citation.quote


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
