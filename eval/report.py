"""The report of one evaluation run: report.md, results.json and charts in a timestamped folder,
plus eval/reports/latest.md; and the thresholds a run must meet."""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

from rag.errors import InputError

from .charts import write_charts
from .gold import LANGUAGES, TYPES
from .metrics import LOWER_IS_BETTER, METRICS, score_record, summarize

REPORTS = Path(__file__).resolve().parent / "reports"
_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}
_SPEC = re.compile(r"^\s*(?:(?P<config>[\w-]+)\s*:)?\s*(?P<metric>[\w@]+)(?:\.(?P<group>[\w-]+))?\s*"
                   r"(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+))\s*$")


@dataclass(frozen=True)
class Threshold:
    config: str | None  # None: every configuration that ran
    metric: str
    group: str | None  # None: all questions; else a language or a question type
    op: str
    value: float

    def __str__(self) -> str:
        where = f"{self.config}:" if self.config else ""
        group = f".{self.group}" if self.group else ""
        return f"{where}{self.metric}{group}{self.op}{self.value:g}"


@dataclass(frozen=True)
class Report:
    run_dir: Path
    report_path: Path
    results_path: Path
    latest_path: Path
    charts: dict
    summaries: dict  # config -> summarize(records)
    failed_thresholds: tuple[str, ...]
    summary_table: str  # markdown


# -- thresholds ------------------------------------------------------------------------------------
def _threshold(config, metric, group, op, value, configs) -> Threshold:
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r} in a threshold (one of {', '.join(METRICS)})")
    if group is not None and group not in LANGUAGES + TYPES:
        raise InputError(f"unknown group {group!r} in a threshold (a language or a question type)")
    if config is not None and config not in configs:
        raise InputError(f"a threshold names configuration {config!r}, which is not run")
    return Threshold(config, metric, group, op, float(value))


def parse_thresholds(thresholds, configs: Sequence[str]) -> list[Threshold]:
    """Thresholds from "[CFG:]METRIC[.GROUP]OP VALUE" strings (OP one of >= <= > <), or from a mapping
    {"CFG.METRIC[.GROUP]" or "METRIC[.GROUP]": value (meaning >=) or "OP VALUE"}; raises InputError."""
    out = []
    if isinstance(thresholds, Mapping):
        for key, value in thresholds.items():
            parts = key.split(".")
            config = parts.pop(0) if len(parts) > 1 and parts[0] not in METRICS else None
            if len(parts) > 2 or not parts[0]:
                raise InputError(f"bad threshold key {key!r} (CFG.METRIC[.GROUP])")
            m = re.fullmatch(r"\s*(>=|<=|>|<)?\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*", str(value))
            if not m:
                raise InputError(f"bad threshold value {value!r} for {key!r}")
            group = parts[1] if len(parts) == 2 else None
            out.append(_threshold(config, parts[0], group, m.group(1) or ">=", m.group(2), configs))
        return out
    for spec in thresholds or ():
        if isinstance(spec, Threshold):
            out.append(spec)
            continue
        m = _SPEC.match(str(spec))
        if not m:
            raise InputError(f"bad threshold {spec!r} (expected [CFG:]METRIC[.GROUP]>=VALUE)")
        out.append(_threshold(m["config"], m["metric"], m["group"], m["op"], m["value"], configs))
    return out


def check_thresholds(checks: Sequence[Threshold], summaries: Mapping[str, Mapping]) -> list[str]:
    failures = []
    for t in checks:
        for config in [t.config] if t.config else list(summaries):
            summary = summaries[config]
            scope = summary["overall"] if t.group is None else (
                summary["by_language"].get(t.group) or summary["by_type"].get(t.group) or {})
            value = scope.get(t.metric)
            label = str(Threshold(config, t.metric, t.group, t.op, t.value))
            if value is None:
                failures.append(f"{label} (undefined: no questions to measure it on)")
            elif not _OPS[t.op](value, t.value):
                failures.append(f"{label} (got {value:.3f})")
    return failures


# -- markdown --------------------------------------------------------------------------------------
def _fmt(metric: str, value) -> str:
    if value is None:
        return "n/a"
    if metric.startswith(("latency", "first_text", "retrieval_p")):
        return f"{value:.2f} s"
    if metric in ("n", "n_answerable", "n_unanswerable"):
        return str(int(value))
    return f"{value:.3f}"


def _cell(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def summary_table(summaries: Mapping[str, Mapping]) -> str:
    """Metrics as rows; per configuration, columns for all questions and each language."""
    langs = sorted({lang for s in summaries.values() for lang in s["by_language"]})
    header, columns = ["metric"], []
    for cfg, s in summaries.items():
        header += [f"{cfg}"] + [f"{cfg} {lang}" for lang in langs]
        columns += [s["overall"]] + [s["by_language"].get(lang, {}) for lang in langs]
    rows = []
    for metric in ("n", "n_answerable", *METRICS):
        name = f"{metric} ↓" if metric in LOWER_IS_BETTER else metric
        rows.append([name] + [_fmt(metric, col.get(metric)) for col in columns])
    return _table(header, rows)


def _type_table(summaries: Mapping[str, Mapping]) -> str:
    types = [t for t in TYPES if any(t in s["by_type"] for s in summaries.values())]
    rows = []
    for t in types:
        n = next(s["by_type"][t]["n"] for s in summaries.values() if t in s["by_type"])
        rows.append([t, str(n)] + [_fmt("accuracy", s["by_type"].get(t, {}).get("accuracy"))
                                   for s in summaries.values()])
    return _table(["type", "n", *summaries], rows)


def _expected(record: Mapping) -> str:
    if not record["answerable"]:
        return "(refusal)"
    return " ∧ ".join("/".join(group[:3]) for group in record["facts"])


def _why(record: Mapping, s: Mapping) -> str:
    if record.get("error"):
        return f"error: {record['error']}"
    if record["answerable"]:
        if s["refused"]:
            return "refused an answerable question"
        return "missing: " + " ∧ ".join(group[0] for group in s.get("missed_facts", ()))
    if s["forbidden"]:
        return "said: " + ", ".join(s["forbidden"])
    return "answered instead of refusing"


def _question(record: Mapping) -> str:
    history = record.get("history") or []
    return record["question"] + (f" (after: {history[-1][0]})" if history else "")


def failures_section(results: Mapping[str, Sequence[Mapping]]) -> str:
    parts = []
    for cfg, records in results.items():
        failed = [r for r in records if not r["scores"]["correct"]]
        parts.append(f"### {cfg}: {len(failed)} of {len(records)} wrong\n")
        if failed:
            rows = [[r["id"], r["language"], r["type"], _cell(_question(r)), _cell(_expected(r), 80),
                     _cell(r.get("answer") or ""), _cell(_why(r, r["scores"]), 120)] for r in failed]
            parts.append(_table(["id", "lang", "type", "question", "expected", "answer", "why"], rows) + "\n")
        flagged = [r for r in records if r["scores"].get("ungrounded_numbers")]
        if flagged:
            parts.append("Answers with numbers found in no cited passage: " + ", ".join(
                f"`{r['id']}` ({', '.join(r['scores']['ungrounded_numbers'])})" for r in flagged) + "\n")
    return "\n".join(parts)


def _latency_table(summaries: Mapping[str, Mapping], meta: Mapping) -> str:
    keys = ("retrieval_p50", "retrieval_p95", "first_text_p50", "first_text_p95", "latency_p50", "latency_p95")
    rows = [[cfg] + [_fmt(k, s["overall"].get(k)) for k in keys]
            + [_fmt("latency", meta.get("settings", {}).get(cfg, {}).get("warm_up_seconds"))]
            for cfg, s in summaries.items()]
    return _table(["config", "retrieval p50", "retrieval p95", "first text p50", "first text p95", "answer p50",
                   "answer p95", "warm-up"], rows)


def _settings_lines(meta: Mapping) -> str:
    lines = []
    for cfg, st in meta.get("settings", {}).items():
        shown = ", ".join(f"{k}={v}" for k, v in st.items() if k not in ("warm_up_seconds", "corpus"))
        lines.append(f"- `{cfg}`: {shown}")
    return "\n".join(lines) or "(settings not recorded)"


# -- writing ---------------------------------------------------------------------------------------
def _run_dir(out_dir: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for i in range(1, 1000):
        path = out_dir / (stamp if i == 1 else f"{stamp}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise InputError(f"cannot create a run folder in {out_dir}")


def _compact(record: dict) -> dict:
    """A record as stored: retrieved passages and citations by id and place, not whole chunk texts."""
    out = dict(record)
    out["retrieved"] = [{k: h.get(k) for k in ("chunk_id", "page", "section", "score")} for h in record.get("retrieved") or ()]
    out["citations"] = [{k: v for k, v in c.items() if k != "text"} for c in record.get("citations") or ()]
    return out


def write_report(results: Mapping[str, Sequence[Mapping]], out_dir: Path | str = REPORTS, thresholds=(),
                 meta: Mapping | None = None) -> Report:
    """Write one run's folder from per-question records ({config: [record, ...]}); the inputs are not changed."""
    meta = dict(meta or {})
    checks = parse_thresholds(thresholds, list(results))
    scored = {cfg: [{**r, "scores": r.get("scores") or score_record(r)} for r in recs] for cfg, recs in results.items()}
    summaries = {cfg: summarize(recs) for cfg, recs in scored.items()}
    failed = tuple(check_thresholds(checks, summaries))
    now = datetime.now(timezone.utc)
    out_dir = Path(out_dir)
    run_dir = _run_dir(out_dir, now)
    charts = write_charts(summaries, scored, run_dir)
    table = summary_table(summaries)
    when = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    n = max((len(r) for r in scored.values()), default=0)
    verdict = ("\n".join(f"- FAILED {f}" for f in failed) or "- all thresholds met") if checks else "- none set"
    thresholds_md = "\n".join([f"- `{t}`" for t in checks]) + ("\n\n" if checks else "") + verdict
    report_md = f"""# Evaluation run {run_dir.name}

{when}; gold `{meta.get('gold', '?')}` ({n} questions); configurations:

{_settings_lines(meta)}

Metrics are defined in `eval/README.md`; ↓ marks a metric where lower is better; n/a means undefined
(e.g. no refusals to take a precision of).

## Summary

{table}

![metrics per configuration]({charts['metrics'].name})

## By question type (accuracy)

{_type_table(summaries)}

![accuracy by language and type]({charts['groups'].name})

## Latency

Percentiles interpolate linearly between closest ranks (numpy's default).

{_latency_table(summaries, meta)}

![latency]({charts['latency'].name})

## Thresholds

{thresholds_md}

## Failures

{failures_section(scored)}
"""
    report_path = run_dir / "report.md"
    report_path.write_text(report_md, encoding="utf-8")
    results_path = run_dir / "results.json"
    payload = {"run": run_dir.name, "created": when, "meta": meta, "thresholds": [str(t) for t in checks],
               "failed_thresholds": list(failed),
               "configs": {cfg: {"summary": summaries[cfg], "records": [_compact(r) for r in scored[cfg]]}
                           for cfg in scored}}
    results_path.write_text(json.dumps(payload, ensure_ascii=False, default=str), encoding="utf-8")
    summary = {k: v for k, v in payload.items() if k != "configs"}
    summary["configs"] = {cfg: summaries[cfg] for cfg in scored}
    (out_dir / "latest.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1, default=str),
                                         encoding="utf-8")
    latest = out_dir / "latest.md"
    tmp = out_dir / "latest.md.tmp"
    tmp.write_text(f"""# Latest evaluation

Run [{run_dir.name}]({run_dir.name}/report.md), {when}, {n} gold questions (the run folder with charts,
per-type breakdown and failures is not committed; `latest.json` beside this file holds the summary).

{table}

Thresholds:
{verdict}
""", encoding="utf-8")
    shutil.move(tmp, latest)
    return Report(run_dir, report_path, results_path, latest, charts, summaries, failed, table)
