"""Score the checked machine translation (rag/translate.py) against the blind reference translations.

    python -m eval.translation.score            # real models: translate all 65, fit, write report.md/.json
    python -m eval.translation.score --reuse    # re-check the outputs stored in report.json (no models)
    python -m eval.translation.score --save     # also store the fitted min_translation in the policy

The set is split by a stable hash of each sentence id (``half``): the fit half chooses
``min_translation`` (``fit_threshold``), the held-out half is judged with it. chrF is sacrebleu's
(character 6-grams, beta 2), corpus-level over a group; a rejected translation is scored as the model
wrote it (what the reader would have seen without the checks).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from pathlib import Path

from rag.translate import check_batch, check_name, problems

HERE = Path(__file__).parent
REFERENCE = HERE / "reference.jsonl"
REPORT = HERE / "report"  # .md and .json
MANUAL = HERE / "manual.jsonl"  # verdicts of the manual read, keyed by id and the output they judged
MIN_ACCEPTED = 5  # a threshold must leave at least this many accepted fit-half sentences


def load(path: Path = REFERENCE) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def half(sentence_id: str) -> str:
    """"fit" or "held": the parity of the first byte of sha256(id); stable across runs and machines."""
    return "fit" if hashlib.sha256(sentence_id.encode("utf-8")).digest()[0] % 2 == 0 else "held"


def translate_all(generator, embedder, rows: list[dict], progress: bool = True) -> list[dict]:
    """Each reference sentence through the product's checked path, one at a time (timed as one answer
    would be): the model output, its similarity to the source and the seconds it took."""
    from tqdm import tqdm

    out = []
    for row in tqdm(rows, desc="translating", unit="sentence", disable=not progress):
        t0 = time.perf_counter()
        c = check_batch(generator, embedder, [row["de"]], 0.0)[0]
        seconds = time.perf_counter() - t0
        out.append({"id": row["id"], "kind": row.get("kind", ""), "de": row["de"], "en": row["en"],
                    "output": c.text, "similarity": round(c.similarity, 4), "seconds": round(seconds, 3)})
    return out


def judge(runs: list[dict], threshold: float) -> list[dict]:
    """The runs with the checks applied at ``threshold`` and each sentence's chrF (pure: new dicts)."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    out = []
    for r in runs:
        found = problems(r["de"], r["output"], r["similarity"], threshold)
        out.append({**r, "half": half(r["id"]), "accepted": not found, "problems": found,
                    "failing": list(dict.fromkeys(check_name(p) for p in found)),
                    "chrf": round(chrf.sentence_score(r["output"], [r["en"]]).score, 1)})
    return out


def corpus_chrf(rows: list[dict]) -> float | None:
    if not rows:
        return None
    from sacrebleu.metrics import CHRF

    return round(CHRF().corpus_score([r["output"] for r in rows], [[r["en"] for r in rows]]).score, 1)


def summary(judged: list[dict]) -> dict:
    acc = [r for r in judged if r["accepted"]]
    rej = [r for r in judged if not r["accepted"]]
    a, b = corpus_chrf(acc), corpus_chrf(rej)
    return {"sentences": len(judged), "accepted": len(acc), "share_accepted": round(len(acc) / len(judged), 3) if judged else None,
            "chrf_all": corpus_chrf(judged), "chrf_accepted": a, "chrf_rejected": b,
            "gap": round(a - b, 1) if a is not None and b is not None else None}


def fit_threshold(runs: list[dict], verdicts: dict[str, dict] | None = None,
                  min_accepted: int = MIN_ACCEPTED) -> tuple[float, list[dict]]:
    """``min_translation`` fitted on ``runs``; returns it and the whole sweep.

    Candidates are the similarities of the outputs that pass every other check (the threshold only
    matters between them). With manual ``verdicts``: the lowest candidate at which no output read as
    "wrong meaning" is accepted (as much English as possible, no wrong fact shown). Without: the
    widest chrF gap (accepted minus rejected) among candidates leaving ``min_accepted`` accepted; ties
    go to the lower threshold. The result sits 0.0001 below its candidate, so the product (which sees
    the unrounded similarity) accepts the same translations as the report (which stores 4 decimals)."""
    others = judge(runs, float("-inf"))
    sims = sorted({r["similarity"] for r in others if r["accepted"]})
    sweep = []
    for t in sims:
        judged = judge(runs, t)
        wrong = sum(1 for r in judged if r["accepted"] and (verdicts or {}).get(r["id"], {}).get("verdict") == "wrong meaning")
        sweep.append({"threshold": t, **summary(judged), "wrong_accepted": wrong if verdicts else None})
    if not sweep:
        return 1.0, sweep
    if verdicts:
        safe = [s for s in sweep if s["wrong_accepted"] == 0]
        return (_below(safe[0]["threshold"]) if safe else round(sims[-1] + 1e-4, 4)), sweep
    allowed = [s for s in sweep if s["accepted"] >= min(min_accepted, len(sims)) and s["gap"] is not None]
    if not allowed:
        return _below(sims[0]), sweep
    return _below(max(allowed, key=lambda s: (s["gap"], -s["threshold"]))["threshold"]), sweep


def _below(similarity: float) -> float:
    return round(similarity - 1e-4, 4)


def reference_rejections(rows: list[dict]) -> list[dict]:
    """The checks other than similarity applied to the reference translations themselves: each one
    they reject is a false rejection (the oracle for the checks' strictness)."""
    out = []
    for r in rows:
        found = problems(r["de"], r["en"], 1.0, float("-inf"))
        if found:
            out.append({"id": r["id"], "problems": found})
    return out


def manual_verdicts(runs: list[dict], path: Path = MANUAL) -> dict[str, dict]:
    """The manual read's verdicts that still apply: same id and the very output that was read."""
    if not path.is_file():
        return {}
    out = {r["id"]: r["output"] for r in runs}
    return {v["id"]: v for v in load(path) if out.get(v["id"]) == v["output"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", action="store_true", help="re-check the model outputs stored in report.json")
    ap.add_argument("--save", action="store_true", help="store the fitted min_translation in the policy")
    ap.add_argument("--threshold", type=float, help="judge with this min_translation instead of fitting")
    args = ap.parse_args(argv)
    from rag.config import Settings
    from rag import models

    from .report import write

    settings = Settings.from_env()
    fingerprint = models.embedder_fingerprint(settings)
    stored = REPORT.with_suffix(".json")
    if args.reuse:
        if not stored.is_file():
            raise SystemExit(f"no stored outputs in {stored}; run without --reuse first")
        meta = json.loads(stored.read_text(encoding="utf-8"))
        runs, env = meta["runs"], meta["environment"]
    else:
        runs, env = _run_models(settings)
    verdicts = manual_verdicts(runs)
    fit_runs = [r for r in runs if half(r["id"]) == "fit"]
    fitted, sweep = fit_threshold(fit_runs, verdicts)
    threshold = fitted if args.threshold is None else args.threshold
    judged = judge(runs, threshold)

    def group(rows):
        return {**summary(rows), "wrong_accepted": sum(1 for r in rows if r["accepted"] and
                                                      verdicts.get(r["id"], {}).get("verdict") == "wrong meaning")}

    result = {"threshold": threshold, "fitted": fitted, "criterion": "no wrong meaning" if verdicts else "chrF gap",
              "min_accepted": MIN_ACCEPTED, "sweep": sweep, "all": group(judged),
              "fit": group([r for r in judged if r["half"] == "fit"]),
              "held": group([r for r in judged if r["half"] == "held"]),
              "references_rejected": reference_rejections(runs),
              "median_seconds": round(statistics.median(r["seconds"] for r in runs), 2), "environment": env}
    write(REPORT, result, judged, verdicts, runs)
    a, h = result["all"], result["held"]
    print(f"min_translation {threshold} (fitted on {len(fit_runs)} fit-half sentences); "
          f"all {a['sentences']}: chrF {a['chrf_all']}, accepted {a['accepted']} ({a['share_accepted']}) "
          f"chrF {a['chrf_accepted']}, rejected chrF {a['chrf_rejected']}; held-out {h['sentences']}: "
          f"accepted chrF {h['chrf_accepted']} vs rejected {h['chrf_rejected']}; "
          f"median {result['median_seconds']} s a sentence; report in {REPORT}.md")
    if args.save:
        from rag import policy

        for p in policy.update(settings.index_dir, fingerprint, min_translation=threshold,
                               note=f"min_translation: eval/translation fit half ({len(fit_runs)} sentences)"):
            print(f"saved min_translation {threshold} in {p}")


def _run_models(settings) -> tuple[list[dict], dict]:
    import os
    import platform

    from rag import models
    from rag.embedding import SentenceTransformerEmbedder
    from rag.generation import make_generator

    t0 = time.perf_counter()
    embedder = SentenceTransformerEmbedder(models.embedder_path(settings), models.embedder_id(settings),
                                           models.embedder_fingerprint(settings))
    generator = make_generator(settings)
    embedder.warm_up()
    generator.warm_up()
    load_s = time.perf_counter() - t0
    before = os.getloadavg()[0]
    runs = translate_all(generator, embedder, load(REFERENCE))
    env = {"date": time.strftime("%Y-%m-%d %H:%M"), "embedder": embedder.name, "generator": generator.name,
           "cpus": os.cpu_count(), "machine": platform.machine(), "model_load_s": round(load_s, 1),
           "loadavg_before": round(before, 2), "loadavg_after": round(os.getloadavg()[0], 2)}
    return runs, env


if __name__ == "__main__":
    main()
