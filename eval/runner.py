"""Run the gold questions through named pipeline configurations and write a report.

    rag eval [--gold FILE] [--corpus PATH ...] [--config NAME ...] [--threshold [CFG:]METRIC>=X ...] [--limit N]
    python -m eval.runner ...   (the same, without the `rag` front end)
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from rag.config import Settings
from rag.errors import InputError, RagError
from rag.serialize import citation_to_dict, hit_to_dict

from .gold import GOLD, load_gold
from .metrics import score_record
from .report import REPORTS, Report, parse_thresholds, write_report

# The named configurations: Settings overrides, in report order.
CONFIGS: dict[str, dict[str, str]] = {
    "dense": {"retrieval": "dense", "answer_mode": "extractive"},
    "bm25": {"retrieval": "bm25", "answer_mode": "extractive"},
    "hybrid-extractive": {"retrieval": "hybrid", "answer_mode": "extractive"},
    "hybrid-verified": {"retrieval": "hybrid", "answer_mode": "verified"},
    # a model server writes the answer (RAG_GENERATOR=openai:...); only when asked for by name
    "hybrid-generated": {"retrieval": "hybrid", "answer_mode": "generated"},
}
DEFAULT_CONFIGS = ("dense", "bm25", "hybrid-extractive", "hybrid-verified")
SEARCH_K = 10  # hits fetched for the retrieval metrics: @1/@3/@5 plus the nDCG ideal (see metrics.ndcg_at_k)


def _default_pipeline(settings: Settings, shared: Mapping):
    """A Pipeline reusing the embedder/generator already loaded by an earlier configuration."""
    from rag.pipeline import Pipeline

    return Pipeline(settings, embedder=shared.get("embedder"), generator=shared.get("generator"))


def _shared_models(pipeline) -> dict:
    """The models a pipeline has loaded, to hand to the next configuration (without loading any)."""
    return {name: getattr(pipeline, "_" + name) for name in ("embedder", "generator")
            if getattr(pipeline, "_" + name, None) is not None}


def ask_case(pipeline, case: Mapping, search_k: int = SEARCH_K) -> dict:
    """One gold case through one pipeline: the record the metrics and the report read."""
    history = tuple(tuple(turn) for turn in case.get("history", ()))
    record = {key: case[key] for key in ("id", "language", "type", "question", "answerable", "facts", "evidence")}
    record["source"] = case.get("source", "")
    record.update(history=[list(t) for t in history], forbidden=list(case.get("forbidden", ())), retrieved=None,
                  answer="", direct="", answer_language=None, refused=False, mode=None, citations=[], timings={},
                  latency_total=None, latency_first_text=None, error=None)
    try:
        record["retrieved"] = [hit_to_dict(h) for h in pipeline.search(case["question"], history=history, k=search_k)]
        start, first, answer = time.perf_counter(), None, None
        for item in pipeline.ask_stream(case["question"], history=history):
            if isinstance(item, str):
                if first is None and item.strip():
                    first = time.perf_counter() - start
            else:
                answer = item
        total = time.perf_counter() - start
        if answer is None:
            raise RuntimeError("ask_stream ended without an Answer")
        record.update(answer=answer.text, direct=answer.direct, answer_language=answer.language, refused=bool(answer.refused),
                      mode=answer.mode, citations=[citation_to_dict(c) for c in answer.citations],
                      timings={k: float(v) for k, v in answer.timings.items()},
                      latency_total=total, latency_first_text=total if first is None else first)
    except Exception as err:  # one broken question is a scored failure, not a lost run
        record["error"] = f"{type(err).__name__}: {err}"
    record["scores"] = score_record(record)
    return record


def run(gold_path: Path | str = GOLD, configs: Sequence[str] | None = None, corpus: Sequence[Path | str] | None = None,
        out_dir: Path | str | None = None, thresholds=None, limit: int | None = None, *,
        settings_overrides: Mapping | None = None,
        pipeline_factory: Callable[[Settings, Mapping], object] | None = None, progress: bool = True) -> Report:
    """Evaluate each named configuration on the gold set and write the report folder.

    ``thresholds``: a mapping {"CFG.METRIC[.GROUP]": value or "<=value"} or a list of
    "[CFG:]METRIC[.GROUP](>=|<=|>|<)VALUE" strings (GROUP: a language or a question type).
    ``pipeline_factory(settings, shared_models)`` builds a pipeline (default: rag.pipeline.Pipeline).
    """
    from tqdm import tqdm

    names = list(configs or DEFAULT_CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise InputError(f"unknown configuration {unknown[0]!r} (choose from {', '.join(CONFIGS)})")
    if limit is not None and limit < 1:
        raise InputError("limit must be at least 1")
    checks = parse_thresholds(thresholds, names)  # fail on a bad threshold before any model loads
    cases = load_gold(gold_path)[:limit]
    factory = pipeline_factory or _default_pipeline
    overrides = dict(settings_overrides or {})
    if corpus:
        overrides["corpus"] = tuple(Path(p) for p in corpus)
    results, settings_used, shared = {}, {}, {}
    for name in names:
        settings = Settings.from_env(**{**overrides, **CONFIGS[name]})
        pipeline = factory(settings, shared)
        t0 = time.perf_counter()
        if hasattr(pipeline, "warm_up"):
            pipeline.warm_up()
        settings_used[name] = {**_describe(settings), "warm_up_seconds": round(time.perf_counter() - t0, 3)}
        shared.update(_shared_models(pipeline))
        bar = tqdm(cases, desc=name, unit="q", disable=not progress, file=sys.stderr)
        results[name] = [ask_case(pipeline, case) for case in bar]
    meta = {"gold": str(gold_path), "n_cases": len(cases), "limit": limit, "settings": settings_used}
    return write_report(results, out_dir or REPORTS, checks, meta)


SETS = Path(__file__).resolve().parent / "sets"
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "papers"
# Frozen question sets per paper: (extra documents indexed beside the default corpus). The second paper
# is added to the product's corpus, as a user would with `rag index build`.
PAPERS = {"7-844": (), "7-844-fresh": (), "bt-20-4711": (FIXTURES / "bt-20-4711.txt",), "lt-bw-17-999": (FIXTURES / "lt-bw-17-999.txt",),
          "lt-nrw-18-5678": (FIXTURES / "lt-nrw-18-5678.txt",), "lt-by-19-5832": (FIXTURES / "lt-by-19-5832.txt",)}


def set_files(name: str, split: str) -> list[Path]:
    if name not in PAPERS:
        raise InputError(f"unknown question set {name!r} (choose from {', '.join(PAPERS)})")
    splits = ("dev", "test") if split == "both" else (split,)
    return [SETS / f"{name}-{s}.jsonl" for s in splits if (SETS / f"{name}-{s}.jsonl").is_file()]


def run_sets(names: Sequence[str], split: str = "both", config: str = "hybrid-extractive", out_dir=None,
             thresholds=None, limit=None, progress: bool = True) -> Report:
    """Dev and test splits side by side (as the report's columns), one pipeline for all papers."""
    from tqdm import tqdm

    settings = _set_settings(names, CONFIGS[config])
    pipeline = _default_pipeline(settings, {})
    t0 = time.perf_counter()
    pipeline.warm_up()
    groups: dict[str, list] = {}
    for n in names:
        for path in set_files(n, split):
            groups[path.stem] = load_gold(path)[:limit]
    checks = parse_thresholds(thresholds, list(groups))
    results = {}
    for label, cases in groups.items():
        bar = tqdm(cases, desc=label, unit="q", disable=not progress, file=sys.stderr)
        results[label] = [ask_case(pipeline, case) for case in bar]
    meta = {"gold": ", ".join(groups), "n_cases": sum(map(len, groups.values())), "limit": limit,
            "settings": {label: {**_describe(settings), "warm_up_seconds": round(time.perf_counter() - t0, 3),
                                 "policy": pipeline.policy.fitted_on} for label in groups}}
    return write_report(results, out_dir or REPORTS, checks, meta)


def _describe(settings: Settings) -> dict:
    keys = ("retrieval", "answer_mode", "embedder", "generator", "quantize", "k", "index_type", "corpus")
    return {k: [str(p) for p in getattr(settings, k)] if k == "corpus" else getattr(settings, k) for k in keys}


# -- the command line -------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--gold", type=Path, default=GOLD, help="gold questions, JSONL (default eval/gold.jsonl)")
    parser.add_argument("--corpus", type=Path, nargs="+", metavar="PATH", help="documents to evaluate on")
    parser.add_argument("--config", action="append", choices=list(CONFIGS), dest="configs", metavar="NAME",
                        help=f"configuration to run, repeatable ({', '.join(CONFIGS)}; default all but "
                             "hybrid-generated, which needs a model server)")
    parser.add_argument("--threshold", action="append", dest="thresholds", metavar="[CFG:]METRIC>=X",
                        help="fail (exit 1) unless the metric meets it, e.g. hybrid-verified:fact_accuracy.de>=0.9")
    parser.add_argument("--limit", type=int, help="only the first N gold questions")
    parser.add_argument("--out", type=Path, default=REPORTS, help="reports folder (default eval/reports)")
    parser.add_argument("--set", action="append", dest="sets", choices=list(PAPERS), metavar="PAPER",
                        help=f"frozen question set(s) of a paper, dev and test side by side ({', '.join(PAPERS)})")
    parser.add_argument("--split", choices=["dev", "test", "both"], default="both", help="with --set: which split")
    parser.add_argument("--calibrate", action="store_true",
                        help="with --set: fit the answering policy on the dev split(s) and save it beside the index")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """Run as the CLI asked; 0 if every threshold holds, 1 if not. RagError propagates to the CLI."""
    overrides = {"index_dir": getattr(args, "index_dir", None)}
    if args.corpus and overrides["index_dir"] is None:
        # another corpus gets an index of its own, so the product's index stays as it is
        key = hashlib.sha256("\n".join(str(Path(p).resolve()) for p in args.corpus).encode()).hexdigest()[:12]
        overrides["index_dir"] = Path(Settings.from_env().home) / "eval-index" / key
    if getattr(args, "calibrate", False):
        return _calibrate(args)
    if getattr(args, "sets", None):
        report = run_sets(args.sets, args.split, (args.configs or ["hybrid-extractive"])[0], args.out,
                          args.thresholds, args.limit)
    else:
        report = run(args.gold, args.configs, corpus=args.corpus, out_dir=args.out, thresholds=args.thresholds,
                     limit=args.limit, settings_overrides={k: v for k, v in overrides.items() if v is not None})
    print(report.summary_table)
    print(f"report: {report.report_path}")
    for failure in report.failed_thresholds:
        print(f"threshold failed: {failure}", file=sys.stderr)
    return 1 if report.failed_thresholds else 0


def _set_settings(names, overrides=None) -> Settings:
    """Settings for the papers of some sets: the default corpus plus their documents, in an index of its
    own when documents are added (the product's index stays as it is)."""
    from rag.config import DEFAULT_CORPUS

    extra = [p for n in names for p in PAPERS[n]]
    corpus = (DEFAULT_CORPUS, *extra)
    values = {**(overrides or {}), "corpus": corpus}
    if extra:
        key = hashlib.sha256("\n".join(str(Path(p).resolve()) for p in corpus).encode()).hexdigest()[:12]
        values["index_dir"] = Path(Settings.from_env().home) / "eval-index" / key
        values["index_dir"].parent.mkdir(parents=True, exist_ok=True)
    return Settings.from_env(**values)


def _calibrate(args) -> int:
    from .calibrate import calibrate

    names = args.sets or list(PAPERS)
    files = [f for n in names for f in set_files(n, "dev")]
    settings = _set_settings(names)
    pipeline = _default_pipeline(settings, {})
    pol, info = calibrate(pipeline, files)
    print(f"policy fitted on {pol.fitted_on}: min_similarity={pol.min_similarity} min_focus={pol.min_focus} "
          f"strong_similarity={pol.strong_similarity}; English: min_similarity={pol.min_similarity_en} "
          f"min_focus={pol.min_focus_en} strong_similarity={pol.strong_similarity_en}\nsaved: {info['path']}")
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="rag eval", description=__doc__.splitlines()[0]))
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        return run_from_args(args)
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
