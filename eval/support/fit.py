"""Fit the generated-answer mode's support threshold (``min_support``) on eval/support/dev.jsonl.

    python -m eval.support.fit                 # the packaged embedder; prints the threshold and its errors
    python -m eval.support.fit --json          # the same as one JSON object

Besides the threshold fitted on all pairs it reports a leave-one-quote-out estimate: for each quote,
the threshold fitted on the other quotes' pairs, judged on this quote's pairs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.generated import best_threshold, support_scores

DEV = Path(__file__).with_name("dev.jsonl")


def load(path: Path = DEV) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def errors(rows: list[dict], scores: list[float], threshold: float) -> dict:
    fa = sum(1 for r, s in zip(rows, scores) if s >= threshold and not r["supported"])
    fr = sum(1 for r, s in zip(rows, scores) if s < threshold and r["supported"])
    return {"pairs": len(rows), "false_accepts": fa, "false_rejects": fr,
            "unsupported": sum(not r["supported"] for r in rows), "supported": sum(r["supported"] for r in rows)}


def run(embedder, rows: list[dict]) -> dict:
    scores = support_scores(embedder, [(r["sentence"], [r["quote"]]) for r in rows])
    threshold = best_threshold(scores, [r["supported"] for r in rows])  # == fit_min_support(rows, embedder)
    held = {"false_accepts": 0, "false_rejects": 0}
    for quote in dict.fromkeys(r["quote"] for r in rows):
        train = [(s, r["supported"]) for r, s in zip(rows, scores) if r["quote"] != quote]
        t = best_threshold([s for s, _ in train], [y for _, y in train])
        test = [(r, s) for r, s in zip(rows, scores) if r["quote"] == quote]
        e = errors([r for r, _ in test], [s for _, s in test], t)
        held["false_accepts"] += e["false_accepts"]
        held["false_rejects"] += e["false_rejects"]
    return {"min_support": threshold, "embedder": embedder.name, "fit": errors(rows, scores, threshold),
            "leave_one_quote_out": held}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from rag import models
    from rag.config import Settings
    from rag.embedding import SentenceTransformerEmbedder

    settings = Settings.from_env()
    embedder = SentenceTransformerEmbedder(models.embedder_path(settings), models.embedder_id(settings),
                                           models.embedder_fingerprint(settings))
    result = run(embedder, load())
    if args.json:
        print(json.dumps(result))
        return
    fit, held = result["fit"], result["leave_one_quote_out"]
    print(f"min_support = {result['min_support']}  ({result['embedder']}, {fit['pairs']} pairs: "
          f"{fit['supported']} supported, {fit['unsupported']} unsupported)")
    print(f"on the fitted pairs: {fit['false_accepts']} false accepts, {fit['false_rejects']} false rejects")
    print(f"leave one quote out: {held['false_accepts']} false accepts, {held['false_rejects']} false rejects")


if __name__ == "__main__":
    main()
