"""Evaluate the generated-answer mode on a frozen question set, with what its guarantee is about.

    RAG_GENERATOR=openai:http://127.0.0.1:8000/v1#gemma-3-270m \\
        python scripts/eval_generated.py --set 7-844 --split test [--limit N] [--out DIR]

``rag eval --set`` runs a named configuration whose answer mode wins over RAG_ANSWER_MODE, and none of
them is "generated" (that needs a model server). This runs the same evaluation (eval.runner.run_sets,
the same metrics and report) with retrieval "hybrid" and answer mode "generated", then prints, beside
the report's summary table: facts DE/EN, answers with ungrounded numbers and with invalid [n] markers
(both must be 0), and how often the verifier kept the extractive answer instead of the generated one.
The report goes to --out (default: a temporary folder), so eval/reports stays the default mode's.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval import runner  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402

CONFIG = "hybrid-generated"


def guarantee(records: list[dict]) -> dict:
    """Counts over one split's records: answered, generated, fell back, ungrounded, invalid markers."""
    answered = [r for r in records if not r["refused"] and not r["error"]]
    return {"questions": len(records), "answered": len(answered),
            "generated": sum(r["mode"] == "generated" for r in answered),
            "fell_back": sum(r["mode"] != "generated" for r in answered),
            "errors": sum(bool(r["error"]) for r in records),
            "ungrounded_numbers": sum(len(r["scores"].get("ungrounded_numbers") or ()) for r in answered),
            "invalid_markers": sum(len(r["scores"].get("invalid_markers") or ()) for r in answered)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", dest="sets", choices=list(runner.PAPERS), required=True)
    ap.add_argument("--split", choices=["dev", "test", "both"], default="test")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", type=Path, default=None, help="reports folder (default: a temporary folder)")
    args = ap.parse_args(argv)
    try:
        if not Settings.from_env().generator.startswith("openai:"):
            raise RagError("set RAG_GENERATOR=openai:<base-url>#<model> (scripts/vllm_server.py serve prints it)")
        runner.CONFIGS.setdefault(CONFIG, {"retrieval": "hybrid", "answer_mode": "generated"})
        out = args.out or Path(tempfile.mkdtemp(prefix="eval-generated-"))
        out.mkdir(parents=True, exist_ok=True)
        report = runner.run_sets(args.sets, args.split, CONFIG, out, limit=args.limit)
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    import json

    results = json.loads(report.results_path.read_text(encoding="utf-8"))["configs"]
    print(report.summary_table)
    print(f"report: {report.report_path}")
    for label, data in results.items():
        facts = data["summary"]["by_language"]
        de, en = (facts.get(lang, {}).get("fact_accuracy") for lang in ("de", "en"))
        counts = guarantee(data["records"])
        print(f"{label}: facts DE {_f(de)}, EN {_f(en)}; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    sys.exit(main())
