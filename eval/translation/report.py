"""report.md (for people) and report.json (everything, including the raw model outputs that
``score --reuse`` re-checks) for the translation scorer."""
from __future__ import annotations

import json
from pathlib import Path

VERDICTS = ("correct", "partly", "wrong meaning")


def _cell(text) -> str:
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")


def _row(name: str, s: dict) -> str:
    return (f"| {name} | {s['sentences']} | {s['accepted']} ({s['share_accepted']}) | {_cell(s['chrf_all'])} | "
            f"{_cell(s['chrf_accepted'])} | {_cell(s['chrf_rejected'])} | {_cell(s['gap'])} | "
            f"{_cell(s.get('wrong_accepted'))} |")


def markdown(result: dict, judged: list[dict], verdicts: dict[str, dict]) -> str:
    env = result["environment"]
    counts: dict[str, int] = {}
    for r in judged:
        for c in r["failing"]:
            counts[c] = counts.get(c, 0) + 1
    read = [r for r in judged if r["accepted"] and r["id"] in verdicts]
    tally = {v: sum(1 for r in read if verdicts[r["id"]]["verdict"] == v) for v in VERDICTS}
    every = {v: sum(1 for r in judged if verdicts.get(r["id"], {}).get("verdict") == v) for v in VERDICTS}
    lines = [
        "# Machine translation of evidence: chrF and checks",
        "",
        f"`python -m eval.translation.score` on {env.get('date', '?')}: {env.get('generator')} translates, "
        f"{env.get('embedder')} measures similarity; {result['all']['sentences']} German sentences of "
        "Drucksache 7/844 with blind English references (`reference.jsonl`). chrF: sacrebleu 2.6.0 "
        "(corpus-level per group; a rejected translation is scored as the model wrote it).",
        "",
        f"**min_translation = {result['threshold']}**, fitted on the fit half (first byte of sha256(id) even) "
        + ("as the lowest similarity at which no fit-half translation read as *wrong meaning* passes every "
           "check" if result["criterion"] == "no wrong meaning" else
           f"by the widest chrF gap among thresholds leaving >= {result['min_accepted']} accepted")
        + "; the held-out half (first byte odd) was not used for fitting.",
        "",
        "| group | sentences | accepted (share) | chrF all | chrF accepted | chrF rejected | gap | wrong meaning accepted |",
        "|---|---|---|---|---|---|---|---|",
        _row("all", result["all"]), _row("fit half", result["fit"]), _row("held-out half", result["held"]),
        "",
        "Rejections by check (a sentence can fail several): "
        + (", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none") + ".",
        "",
        f"Oracle: the checks other than similarity reject {len(result['references_rejected'])} of "
        f"{result['all']['sentences']} reference translations ("
        + ("; ".join(f"{x['id']}: {', '.join(x['problems'])}" for x in result["references_rejected"]) or "none")
        + "): quoted names that a careful translator translates are rejected, which errs on the safe side.",
        "",
        f"Latency of the checked translation (generate + embed both + checks), median "
        f"**{result['median_seconds']} s** a sentence on {env.get('cpus')} CPU cores shared with other "
        f"jobs (load average {env.get('loadavg_before')} before, {env.get('loadavg_after')} after; models "
        f"loaded once beforehand in {env.get('model_load_s')} s).",
        "",
        "## Manual read of the accepted translations",
        "",
        f"{len(read)} of {sum(r['accepted'] for r in judged)} accepted read against the German: "
        + ", ".join(f"{k} {v}" for k, v in tally.items()) + ". All "
        f"{sum(every.values())} model outputs were read (verdicts in `manual.jsonl`, column *verdict* below): "
        + ", ".join(f"{k} {v}" for k, v in every.items()) + ".",
        "",
        "| id | German | machine translation | verdict | note |",
        "|---|---|---|---|---|",
    ]
    for r in read:
        v = verdicts[r["id"]]
        lines.append(f"| {r['id']} | {_cell(r['de'])} | {_cell(r['output'])} | {v['verdict']} | {_cell(v.get('note', ''))} |")
    lines += ["", "## Every sentence", "",
              "| id | half | German | reference | machine translation | sim | accepted | failing check | chrF | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in judged:
        lines.append(f"| {r['id']} | {r['half']} | {_cell(r['de'])} | {_cell(r['en'])} | {_cell(r['output'])} | "
                     f"{r['similarity']:.3f} | {'yes' if r['accepted'] else 'no'} | {_cell(', '.join(r['failing']))} | "
                     f"{r['chrf']} | {_cell(verdicts.get(r['id'], {}).get('verdict'))} |")
    lines += ["", "## Threshold sweep on the fit half", "",
              "| min_translation | accepted | chrF accepted | chrF rejected | gap | wrong meaning accepted |",
              "|---|---|---|---|---|---|"]
    for s in result["sweep"]:
        lines.append(f"| {s['threshold']} | {s['accepted']} | {_cell(s['chrf_accepted'])} | "
                     f"{_cell(s['chrf_rejected'])} | {_cell(s['gap'])} | {_cell(s.get('wrong_accepted'))} |")
    return "\n".join(lines) + "\n"


def write(stem: Path, result: dict, judged: list[dict], verdicts: dict[str, dict], runs: list[dict]) -> None:
    stem.with_suffix(".md").write_text(markdown(result, judged, verdicts), encoding="utf-8")
    data = {**result, "sentences": [{**r, "verdict": verdicts.get(r["id"], {}).get("verdict")} for r in judged],
            "runs": runs}
    stem.with_suffix(".json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
