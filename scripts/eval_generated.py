"""Evaluate the generated-answer mode on a frozen question set, with what its guarantee is about.

    RAG_GENERATOR=openai:http://127.0.0.1:8000/v1#gemma-3-270m \\
        python scripts/eval_generated.py --set 7-844 --split test [--askers 4] [--limit N] [--out DIR]
    python scripts/eval_generated.py --summarize DIR/records.jsonl      # the numbers of a run so far

``rag eval --set`` runs a named configuration whose answer mode wins over RAG_ANSWER_MODE, and none of
them is "generated" (that needs a model server). This runs the same cases through the same code
(eval.runner.ask_case, eval.metrics, eval.report) with retrieval "hybrid" and answer mode "generated",
and prints: facts DE/EN, answers with ungrounded numbers and with invalid [n] markers (both must be 0),
and how often the verifier kept the extractive answer instead of the generated one.

A slow server makes this a long run, so each record is appended to ``records.jsonl`` as it is done (a run
with the same --out resumes, keeping the records there), the
questions go in a fixed shuffled order (seed 0: any prefix is a random sample of the split), and
``--askers`` questions are in flight at once (the server batches them; latencies are then not those of
one asker). The report goes to --out (default: a temporary folder); eval/reports stays the default mode's.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.gold import load_gold  # noqa: E402
from eval.metrics import summarize  # noqa: E402
from eval.report import write_report  # noqa: E402
from eval.runner import PAPERS, ask_case, set_files  # noqa: E402
from rag.config import DEFAULT_CORPUS, Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402


def settings_for(names) -> Settings:
    """Hybrid retrieval, generated answers, the papers' corpus (an index of its own when papers are added,
    the same folder `rag eval --set` uses)."""
    extra = [p for n in names for p in PAPERS[n]]
    corpus = (DEFAULT_CORPUS, *extra)
    values = {"retrieval": "hybrid", "answer_mode": "generated", "corpus": corpus}
    if extra:
        key = hashlib.sha256("\n".join(str(Path(p).resolve()) for p in corpus).encode()).hexdigest()[:12]
        values["index_dir"] = Path(Settings.from_env().home) / "eval-index" / key
    return Settings.from_env(**values)


def guarantee(records: list[dict]) -> dict:
    """Counts over records: answered, generated, fell back, errors, ungrounded numbers, invalid markers."""
    answered = [r for r in records if not r["refused"] and not r["error"]]
    return {"questions": len(records), "answered": len(answered),
            "generated": sum(r["mode"] == "generated" for r in answered),
            "fell_back": sum(r["mode"] != "generated" for r in answered),
            "errors": sum(bool(r["error"]) for r in records),
            "ungrounded_numbers": sum(len(r["scores"].get("ungrounded_numbers") or ()) for r in answered),
            "invalid_markers": sum(len(r["scores"].get("invalid_markers") or ()) for r in answered)}


def summary_lines(groups: dict[str, list[dict]]) -> list[str]:
    out = []
    for label, records in groups.items():
        by_lang = summarize(records)["by_language"]
        de, en = (by_lang.get(lang, {}).get("fact_accuracy") for lang in ("de", "en"))
        counts = guarantee(records)
        out.append(f"{label}: facts DE {_f(de)}, EN {_f(en)}; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return out


def run(names, split: str, out: Path, askers: int, limit: int | None) -> list[str]:
    settings = settings_for(names)
    if not settings.generator.startswith("openai:"):
        raise RagError("set RAG_GENERATOR=openai:<base-url>#<model> (scripts/vllm_server.py serve prints it)")
    from rag.pipeline import Pipeline
    from tqdm import tqdm

    pipeline = Pipeline(settings).warm_up()
    groups = {path.stem: load_gold(path) for n in names for path in set_files(n, split)}
    todo = [(label, i, case) for label, cases in groups.items() for i, case in enumerate(cases)]
    random.Random(0).shuffle(todo)
    todo = todo[:limit]
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[int, dict]] = {label: {} for label in groups}
    for rec in read_records(out / "records.jsonl"):  # a run resumed: its finished records stand
        if rec.get("label") in done:
            done[rec["label"]][rec["i"]] = rec
    todo = [t for t in todo if t[1] not in done[t[0]]]
    log, lock = open(out / "records.jsonl", "a", encoding="utf-8"), threading.Lock()

    def one(item):
        label, i, case = item
        record = ask_case(pipeline, case)
        with lock:
            done[label][i] = record
            log.write(json.dumps({"label": label, "i": i, **record}, ensure_ascii=False, default=str) + "\n")
            log.flush()

    with ThreadPoolExecutor(askers) as pool:
        list(tqdm(pool.map(one, todo), total=len(todo), desc="generated", unit="q", file=sys.stderr))
    log.close()
    results = {label: [recs[i] for i in sorted(recs)] for label, recs in done.items() if recs}
    meta = {"gold": ", ".join(groups), "n_cases": sum(map(len, results.values())), "limit": limit,
            "settings": {label: {"retrieval": "hybrid", "answer_mode": "generated", "generator": settings.generator,
                                 "askers": askers, "policy": pipeline.policy.fitted_on} for label in results}}
    report = write_report(results, out, (), meta)
    print(report.summary_table)
    print(f"report: {report.report_path}")
    return summary_lines(results)


def read_records(path: Path) -> list[dict]:
    """The records of records.jsonl ([] when there is none); a line cut by an interrupted write is skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", dest="sets", choices=list(PAPERS))
    ap.add_argument("--split", choices=["dev", "test", "both"], default="test")
    ap.add_argument("--askers", type=int, default=4, help="questions in flight at once (default 4)")
    ap.add_argument("--limit", type=int, help="only the first N questions of the shuffled order")
    ap.add_argument("--out", type=Path, default=None,
                    help="reports folder (default: a temporary folder); a run there is resumed")
    ap.add_argument("--summarize", type=Path, metavar="JSONL", help="print the numbers of records.jsonl and stop")
    args = ap.parse_args(argv)
    try:
        if args.summarize:
            groups: dict[str, list[dict]] = {}
            for rec in read_records(args.summarize):
                groups.setdefault(rec["label"], []).append(rec)
            lines = summary_lines(groups)
        elif not args.sets:
            ap.error("--set is required (or --summarize)")
        else:
            out = args.out or Path(tempfile.mkdtemp(prefix="eval-generated-"))
            lines = run(args.sets, args.split, out, max(1, args.askers), args.limit)
    except (RagError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return getattr(err, "exit_code", 1)
    print("\n".join(lines))
    return 0


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    sys.exit(main())
