"""What the `rag` command reads and prints: batch and history files (checked before any model loads),
readable answers, index and model reports, JSON lines; and quiet model loading for single questions."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from .errors import InputError

QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


@contextlib.contextmanager
def quiet_libraries():
    """No "Loading weights" bars or advice from transformers while a single question runs (the models
    may load late: a translation loads the generator). Read at import by a fresh process; set directly
    when transformers is already loaded. Our own progress bars (index builds) are plain tqdm and stay."""
    saved = {name: os.environ.get(name) for name in QUIET_ENV}
    os.environ.update(QUIET_ENV)
    hf = sys.modules.get("transformers.utils.logging")
    state = (hf.is_progress_bar_enabled(), hf.get_verbosity()) if hf else None
    if hf:
        hf.disable_progress_bar()
        hf.set_verbosity_error()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if hf and state:
            if state[0]:
                hf.enable_progress_bar()
            hf.set_verbosity(state[1])


def load_models(pipe) -> float:
    """Load the models (and the index) now; seconds taken, so answers can report it as timings.load."""
    t0 = time.perf_counter()
    pipe.warm_up()
    return time.perf_counter() - t0


def read_questions(question: str | None, batch: Path | None, history: Path | None, settings) -> list[tuple[str, list]]:
    """The questions asked (one, with its history file, or a batch file), each checked with
    pipeline.check_question before any model loads."""
    from .pipeline import check_question

    if batch and (question or history):
        raise InputError("give a question (with --history) or --batch FILE, not both")
    if batch:
        items = read_batch(batch)
    elif question is None:
        raise InputError("no question given")
    else:
        items = [(question, read_history(history) if history else [])]
    for n, (text, _history) in enumerate(items, 1):
        try:
            check_question(text, settings)
        except InputError as exc:
            raise InputError(f"{batch}:{n}: {exc}" if batch else str(exc)) from None
    return items


def read_json_file(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None


def read_history(path: Path) -> list[list[str]]:
    from .pipeline import check_history

    try:
        return [list(turn) for turn in check_history(read_json_file(path))]
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def read_batch(path: Path) -> list[tuple[str, list]]:
    """Validate the whole batch file before anything runs."""
    from .pipeline import check_history

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or not obj["question"].strip():
            raise InputError(f'{path}:{n}: expected {{"question": "...", "history": [...]}}')
        try:
            history = check_history(obj.get("history") or [])
        except InputError as exc:
            raise InputError(f"{path}:{n}: {exc}") from None
        items.append((obj["question"], history))
    if not items:
        raise InputError(f"{path} holds no questions")
    return items


def print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def print_answer(answer, documents: dict, title: str | None = None, n: int = 0) -> None:
    """The answer, then its sources in the answer's language (quotes the answer holds are not repeated)."""
    from . import format as fmt

    if title:
        print(f"{chr(10) if n else ''}{title}")
    print(fmt.plain_text(answer, documents, repeat_quotes=False), flush=True)


def print_hits(hits, language: str, title: str | None = None, n: int = 0) -> None:
    """ "[1] S. 2, section  (score 0.016)" and the best sentences of each hit."""
    from . import format as fmt

    if title:
        print(f"{chr(10) if n else ''}{title}")
    for i, h in enumerate(hits, 1):
        print(f"[{i}] {fmt.page(h.chunk.page, language)}, {h.chunk.section or '-'}  (score {h.score:.3f})")
        for sentence in h.sentences:
            print(f"    » {fmt.flat(sentence)}")


def print_index(info: dict) -> None:
    if "chunks" in info:
        embedder = info.get("embedder") or {}
        print(f"index      {info.get('folder', info.get('index_dir'))}")
        print(f"chunks     {info['chunks']} ({info.get('index_type', '?')} index, {info.get('dim', '?')} dimensions, "
              f"chunker {info.get('chunker_version', '?')}, format {info.get('format', '?')})")
        print(f"embedder   {embedder.get('id', '?')} (fingerprint {str(embedder.get('fingerprint', '?'))[:16]})")
        docs = info.get("documents") or []
        print(f"documents  {len(docs)}")
        for d in docs:
            source = d.get("source", "?")
            print(f"  {Path(source).name}  sha256 {str(d.get('sha256', '?'))[:16]}  {source}")
    if info.get("verified"):
        print(f"verified   {info.get('files_checked', '?')} files, {info.get('bytes_checked', 0) / 1e6:.1f} MB "
              f"in {info.get('seconds', 0):.2f} s: every checksum matches")  # else: the error line says why


def print_models(rows: list[dict], as_json: bool) -> None:
    if as_json:
        for m in rows:
            print_json(m)
        return
    for m in rows:
        state = ("verified" if m.get("verified") else "NOT verified") if m.get("installed") else "not installed"
        size = f", {m['size_bytes'] / 1e9:.2f} GB" if m.get("size_bytes") else ""
        print(f"{m.get('kind', '?'):<10} {m.get('name', '?')}: {state}{size}")
        for key in ("path", "source", "licence", "problem", "error"):
            if m.get(key):
                print(f"{'':<10} {key}: {m[key]}")
