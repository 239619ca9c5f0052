"""Fit the answering policy on a dev split: `rag eval calibrate --set 7-844`.

Each dev question is answered once with a permissive policy (every threshold off) to learn what the
answer would be and whether it is right, and the evidence features the decision uses are recorded.
A grid search then picks the thresholds that maximise balanced accuracy: answerable questions
answered correctly, unanswerable ones refused. The result is saved beside the index, keyed by the
embedder's fingerprint. Only dev files may be given.
"""
from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

from rag import policy as policies
from rag.errors import InputError

from .gold import load_gold
from .metrics import fact_correct

GRID = {  # fitted per language: English questions meet the German text at lower cosines
    "min_similarity": [0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45],
    "min_focus": [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    "strong_similarity": [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 1.1],
}


def features(pipeline, cases) -> list[dict]:
    from tqdm import tqdm

    base = pipeline.policy
    pipeline.policy = base.with_(min_similarity=-1.0, min_focus=0.0, min_focus_en=0.0, strong_similarity=-1.0,
                                 min_similarity_en=-1.0, strong_similarity_en=-1.0)
    rows = []
    try:
        for case in tqdm(cases, desc="calibrate", unit="q", file=sys.stderr):
            history = [tuple(t) for t in case.get("history", ())]
            q, hits, decision = pipeline.explain(case["question"], history)
            answer = pipeline.ask(case["question"], history)
            hard = bool(decision.reason)  # refused even with thresholds off: no type, no year, no evidence
            rows.append({"answerable": case["answerable"], "hard_refusal": hard,
                         "correct": (not answer.refused) and fact_correct(answer.text, case["facts"]),
                         "meta": bool(q.meta), "english": q.language == "en", **{k: v for k, v in decision.features.items() if k != "links"}})
    finally:
        pipeline.policy = base
    return rows


def refuses(row: dict, p: dict) -> bool:
    """Would thresholds ``p`` (GRID's keys, for the row's language) refuse this question?"""
    if row["meta"] and not row["hard_refusal"]:
        return False
    if row["hard_refusal"] or row.get("similarity", 0.0) < p["min_similarity"]:
        return True
    return row.get("coverage", 1.0) < p["min_focus"] and row.get("best_similarity", 0.0) < p["strong_similarity"]


def score(rows: list[dict], p) -> float:
    """Balanced accuracy under thresholds ``p`` (a dict, or a function of the row giving one)."""
    of = p if callable(p) else (lambda r: p)  # noqa: E731
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    a = sum((not refuses(r, of(r))) and r["correct"] for r in ans) / max(1, len(ans))
    u = sum(refuses(r, of(r)) for r in una) / max(1, len(una))
    return 0.5 * a + 0.5 * u


def fit_languages(rows: list[dict]) -> dict:
    """German and English thresholds, each fitted on the questions of its language; the score is the
    balanced accuracy of both together."""
    de, en = fit([r for r in rows if not r.get("english")]), fit([r for r in rows if r.get("english")])
    both = {**{k: de[k] for k in GRID}, **{f"{k}_en": en[k] for k in GRID}}
    joined = score(rows, lambda r: {k: both[f"{k}_en" if r.get("english") else k] for k in GRID})
    return {**both, "score": joined, "score_de": de["score"], "score_en": en["score"]}


TIE = 0.01  # thresholds scoring within this of the best are equals (at least; see ``standard_error``)


def standard_error(rows: list[dict], p: dict) -> float:
    """The standard error of ``score(rows, p)``: half the root of the two proportions' variances."""
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    a = sum((not refuses(r, p)) and r["correct"] for r in ans) / max(1, len(ans))
    u = sum(refuses(r, p) for r in una) / max(1, len(una))
    return 0.5 * math.sqrt(a * (1 - a) / max(1, len(ans)) + u * (1 - u) / max(1, len(una)))


def fit(rows: list[dict]) -> dict:
    """The thresholds with the best balanced accuracy; among those within one standard error of it (at
    least ``TIE``: the one-standard-error rule of model selection), the ones that refuse the fewest dev
    questions. When the dev set cannot tell them apart, answer: every answer carries its quote, a
    refusal gives the reader nothing."""
    scored = []
    for values in itertools.product(*GRID.values()):
        p = dict(zip(GRID, values))
        scored.append((score(rows, p), sum(refuses(r, p) for r in rows), p))
    top, _, best = max(scored, key=lambda x: x[0])
    tie = max(TIE, standard_error(rows, best))
    s, _, p = min((x for x in scored if x[0] >= top - tie), key=lambda x: (x[1], -x[0]))
    return {**p, "score": s, "best_score": top, "tie": tie}


def calibrate(pipeline, gold_paths: list[Path]) -> tuple[policies.Policy, dict]:
    if any("test" in Path(g).name for g in gold_paths):
        raise InputError("calibrate only on dev files: test splits stay frozen")
    cases = [c for g in gold_paths for c in load_gold(g)]
    pipeline.warm_up()
    rows = features(pipeline, cases)
    rows_path = Path(pipeline.settings.index_dir) / "calibration-rows.json"
    rows_path.write_text(json.dumps(rows, default=float), encoding="utf-8")  # to study a fit without re-running
    fitted = fit_languages(rows)
    names = ", ".join(Path(g).name for g in gold_paths)
    # the thresholds fitted elsewhere (generated-sentence support, translations) stay as shipped
    shipped = policies.load(policies.SHIPPED, pipeline.embedder.fingerprint)
    others = "; ".join(shipped.fitted_on.split("; ")[1:])  # the notes of those other fits
    pol = pipeline.policy.with_(**{k: fitted[k] for k in (*GRID, *(f"{k}_en" for k in GRID))},
                                min_support=shipped.min_support,
                                min_translation=shipped.min_translation,
                                fitted_on=f"{names} ({len(cases)} questions, balanced accuracy {fitted['score']:.3f})"
                                + (f"; {others}" if others else ""))
    path = policies.save(pol, Path(pipeline.settings.index_dir), pipeline.embedder.fingerprint)
    pipeline.policy = pol
    return pol, {"path": str(path), **fitted}
