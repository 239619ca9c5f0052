"""The report writer on hand-made records, and the runner end to end with a fake pipeline (no models)."""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `eval` is a top-level package beside `rag`
    sys.path.insert(0, str(ROOT))

from eval import runner  # noqa: E402
from eval.report import Threshold, parse_thresholds, write_report  # noqa: E402
from rag.errors import InputError  # noqa: E402
from rag.types import Answer, Chunk, Citation, Hit  # noqa: E402

E15 = "Jahr 2015: 12,811 Mio. Euro (Platz 75)"
TRADE = "Jahr 2015: 12,811 Mio. Euro (Platz 75), Jahr 2016: 5,458 Mio. Euro (Platz 98),"
OTHER = "Am 26. August 2016 besuchte der Botschafter der Republik Kasachstan das Museum."
PNG = b"\x89PNG\r\n\x1a\n"


def rec(**kw) -> dict:
    base = {"id": "de-trade-2015", "language": "de", "type": "fact", "question": "Wie hoch war der Handel 2015?",
            "history": [], "answerable": True, "facts": [["12,811", "12.8"]], "evidence": [E15],
            "retrieved": [{"text": TRADE}, {"text": OTHER}], "answer": "12,811 Mio. Euro [1]",
            "answer_language": "de", "refused": False, "citations": [{"n": 1, "quote": E15, "text": TRADE}],
            "latency_total": 0.8, "latency_first_text": 0.1, "error": None}
    return {**base, **kw}


def hand_made() -> dict:
    good = [
        rec(),
        rec(id="en-trade-2015", language="en", answer_language="en", answer="12.811 million euros [1]",
            latency_total=1.2),
        rec(id="en-un-2019", language="en", answer_language="en", type="unanswerable", answerable=False,
            facts=[], evidence=[], refused=True, answer="The paper does not say.", citations=[]),
    ]
    bad = [
        rec(answer="Der Handel betrug 14 Mio. Euro [1]", latency_total=2.0),
        rec(id="en-trade-2015", language="en", answer_language="de", refused=True, answer="Keine Angabe.",
            citations=[], latency_total=1.5),
        rec(id="en-un-2019", language="en", answer_language="en", type="unanswerable", answerable=False,
            facts=[], evidence=[], answer="It was 20 million | euros.", citations=[], error=None),
    ]
    return {"good": good, "bad": bad}


def test_report_files_charts_and_tables(tmp_path):
    results = hand_made()
    before = copy.deepcopy(results)
    report = write_report(results, tmp_path, meta={"gold": "hand-made"})
    assert results == before  # inputs untouched
    assert report.run_dir.parent == tmp_path and report.run_dir.name.endswith("Z")
    for path in (report.report_path, report.results_path, report.latest_path, *report.charts.values()):
        assert path.is_file() and path.stat().st_size > 0, path
    for png in report.charts.values():
        assert png.suffix == ".png" and png.read_bytes()[:8] == PNG and png.stat().st_size > 2000
    md = report.report_path.read_text(encoding="utf-8")
    for chart in report.charts.values():
        assert f"]({chart.name})" in md
    assert "| metric | good | good de | good en | bad | bad de | bad en |" in md
    assert "### good: 0 of 3 wrong" in md and "### bad: 3 of 3 wrong" in md
    assert "missing: 12,811" in md and "refused an answerable question" in md
    assert "answered instead of refusing" in md and "20 million \\| euros" in md  # pipes escaped
    assert "`de-trade-2015` (14)" in md  # the ungrounded number is listed
    assert report.summaries["good"]["overall"]["accuracy"] == 1.0
    assert report.summaries["bad"]["overall"]["accuracy"] == 0.0
    latest = report.latest_path.read_text(encoding="utf-8")
    assert report.latest_path == tmp_path / "latest.md"
    assert f"]({report.run_dir.name}/report.md)" in latest and report.summary_table in latest
    data = json.loads(report.results_path.read_text(encoding="utf-8"))
    assert set(data["configs"]) == {"good", "bad"}
    assert len(data["configs"]["bad"]["records"]) == 3
    assert data["configs"]["bad"]["records"][0]["scores"]["missed_facts"] == [["12,811", "12.8"]]
    assert data["configs"]["good"]["summary"]["overall"]["n"] == 3


def test_a_second_run_gets_its_own_folder_and_latest_follows(tmp_path):
    first = write_report(hand_made(), tmp_path)
    second = write_report(hand_made(), tmp_path)
    assert first.run_dir != second.run_dir and first.report_path.is_file()
    assert f"]({second.run_dir.name}/report.md)" in second.latest_path.read_text(encoding="utf-8")


def test_thresholds_produce_failures(tmp_path):
    report = write_report(hand_made(), tmp_path, thresholds=[
        "good:accuracy>=0.9", "bad:accuracy>=0.9", "fact_accuracy.de>=0.5", "latency_p95<=1.0",
        "bad:refusal_precision>=0.5", "good:forbidden_rate<=0"])
    failed = report.failed_thresholds
    assert not any(f.startswith("good:accuracy") for f in failed)
    assert "bad:accuracy>=0.9 (got 0.000)" in failed
    assert "bad:fact_accuracy.de>=0.5 (got 0.000)" in failed
    assert not any(f.startswith("good:fact_accuracy.de") for f in failed)
    assert any(f.startswith("good:latency_p95<=1") for f in failed)  # 1.2 s in the good run too
    assert "bad:refusal_precision>=0.5 (got 0.000)" in failed  # its one refusal was of an answerable question
    assert any(f.startswith("good:forbidden_rate") and "undefined" in f for f in failed)  # no injection cases
    md = report.report_path.read_text(encoding="utf-8")
    assert "FAILED bad:accuracy>=0.9" in md


def test_threshold_mapping_form(tmp_path):
    report = write_report(hand_made(), tmp_path, thresholds={"good.accuracy.en": 0.9, "bad.hit@1": "<=0.5",
                                                             "mrr": 0.99})
    assert report.failed_thresholds == ("bad:hit@1<=0.5 (got 1.000)",)


@pytest.mark.parametrize("bad", ["good:acuracy>=0.9", "good:accuracy=0.9", "nope:accuracy>=0.9",
                                 "good:accuracy.fr>=0.9", "accuracy>=high"])
def test_bad_thresholds_are_input_errors(bad):
    with pytest.raises(InputError):
        parse_thresholds([bad], ["good", "bad"])


def test_threshold_parsing():
    assert parse_thresholds(["hybrid-verified:fact_accuracy.de>=0.9", "hit@5 > .5"], ["hybrid-verified"]) == [
        Threshold("hybrid-verified", "fact_accuracy", "de", ">=", 0.9), Threshold(None, "hit@5", None, ">", 0.5)]
    assert parse_thresholds({"hybrid-verified.fact_accuracy.de": 0.9}, ["hybrid-verified"]) == [
        Threshold("hybrid-verified", "fact_accuracy", "de", ">=", 0.9)]
    assert parse_thresholds({"fact_accuracy.followup": "<0.5"}, ["x"]) == [
        Threshold(None, "fact_accuracy", "followup", "<", 0.5)]
    assert str(Threshold("x", "hit@5", "en", ">=", 0.75)) == "x:hit@5.en>=0.75"


# -- the runner with a fake pipeline ---------------------------------------------------------------------
class OraclePipeline:
    """Answers from the gold evidence (or refuses): every metric should come out perfect."""

    def __init__(self, settings, gold):
        self.settings, self.gold, self.warmed = settings, {c["question"]: c for c in gold}, False

    def warm_up(self):
        self.warmed = True
        return self

    def _chunk(self, text):
        return Chunk(chunk_id=str(abs(hash(text))), doc_id="d", text=text, start=0, end=len(text), page=1, section="")

    def search(self, question, history=(), k=None):
        case = self.gold[question]
        return [Hit(self._chunk(" ".join(case["evidence"]) or OTHER), 1.0)] + [Hit(self._chunk(OTHER), 0.5)]

    def ask_stream(self, question, history=()):
        case = self.gold[question]
        if not case["answerable"]:
            yield Answer(question, "Dazu enthält das Dokument keine Angaben.", case["language"], True, mode="refusal")
            return
        chunk = self.search(question)[0].chunk
        text = " ".join(group[0] for group in case["facts"]) + " [1]"
        yield text[:5]
        yield text[5:]
        yield Answer(question, text, case["language"], False, (Citation(1, chunk, case["evidence"][0]),),
                     mode=self.settings.answer_mode, timings={"total": 0.01})


class BrokenPipeline(OraclePipeline):
    def ask_stream(self, question, history=()):
        raise RuntimeError("model on fire")
        yield  # pragma: no cover


def test_run_end_to_end_with_a_fake_pipeline(tmp_path):
    gold = [json.loads(line) for line in (ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    built = []

    def factory(settings, shared):
        built.append(settings)
        return OraclePipeline(settings, gold)

    report = runner.run(configs=["bm25", "hybrid-verified"], out_dir=tmp_path, limit=12, pipeline_factory=factory,
                        thresholds=["accuracy>=1", "hit@1>=1", "citation_recall>=1"], progress=False)
    assert [(s.retrieval, s.answer_mode) for s in built] == [("bm25", "extractive"), ("hybrid", "verified")]
    assert report.failed_thresholds == ()
    overall = report.summaries["hybrid-verified"]["overall"]
    assert overall["n"] == 12 and overall["fact_accuracy"] == 1.0 and overall["language_accuracy"] == 1.0
    assert overall["quotes_verbatim"] == 1.0 and overall["first_text_p50"] <= overall["latency_p50"]
    data = json.loads(report.results_path.read_text(encoding="utf-8"))
    assert data["meta"]["settings"]["bm25"]["retrieval"] == "bm25"
    first = data["configs"]["bm25"]["records"][0]
    assert first["retrieved"][0]["chunk_id"] and first["citations"][0]["quote"] == gold[0]["evidence"][0]
    assert "text" not in first["retrieved"][0] and "text" not in first["citations"][0]  # compact: ids, not chunks


def test_a_failing_question_is_recorded_not_raised(tmp_path):
    report = runner.run(configs=["dense"], out_dir=tmp_path, limit=2, progress=False,
                        pipeline_factory=lambda s, shared: BrokenPipeline(s, [json.loads(x) for x in (
                            ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]))
    assert report.summaries["dense"]["overall"]["error_rate"] == 1.0
    assert "error: RuntimeError: model on fire" in report.report_path.read_text(encoding="utf-8")


def test_cli_arguments_and_exit_codes(tmp_path, monkeypatch, capsys):
    gold = [json.loads(line) for line in (ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    monkeypatch.setattr(runner, "_default_pipeline", lambda settings, shared: OraclePipeline(settings, gold))
    parser = runner.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--config", "bm25", "--limit", "3", "--out", str(tmp_path),
                              "--threshold", "bm25:accuracy>=0.5"])
    assert (args.configs, args.limit, args.thresholds) == (["bm25"], 3, ["bm25:accuracy>=0.5"])
    assert runner.run_from_args(args) == 0
    assert "report:" in capsys.readouterr().out
    assert runner.main(["--config", "bm25", "--limit", "3", "--out", str(tmp_path),
                        "--threshold", "bm25:wrongly_refused_rate>0.5"]) == 1
    assert "threshold failed: bm25:wrongly_refused_rate>0.5" in capsys.readouterr().err
    assert runner.main(["--config", "bm25", "--out", str(tmp_path), "--threshold", "bm25:bogus>=1"]) == 2
    assert runner.main(["--gold", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["--config", "no-such-config"])
