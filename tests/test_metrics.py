"""The metrics on tiny hand-made inputs whose right answers are worked out by hand."""
from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `eval` is a top-level package beside `rag`
    sys.path.insert(0, str(ROOT))

from eval import metrics as m  # noqa: E402

E15 = "Jahr 2015: 12,811 Mio. Euro (Platz 75)"
E16 = "Jahr 2016: 5,458 Mio. Euro (Platz 98)"
CHUNK_TRADE = "ist in den vergangenen zwei Jahren\nrückläufig:   Jahr 2015: 12,811 Mio. Euro\n (Platz 75), Jahr 2016: 5,458 Mio. Euro (Platz 98),"
CHUNK_OTHER = "Am 26. August 2016 besuchte der Botschafter der Republik Kasachstan das Museum."
CHUNK_EDU = "Hochschule Wismar Partnerschaften im Bereich Wirtschaft mit: - Kostanay State University,"


# -- normalisation -----------------------------------------------------------------------------------
def test_numbers_compare_across_decimal_separators_but_not_thousands():
    assert m.normalize_text("12,811 Mio.") == m.normalize_text("12.811 mio.")
    assert m.fact_correct("Es waren 12,8 Mio. Euro.", [["12.8"]])
    assert m.fact_correct("It was 12.811 million euros.", [["12,811"]])
    assert not m.fact_correct("im Jahr 2.015", [["2015"]])
    assert not m.fact_correct("im Jahr 2015", [["2.015"]])


def test_a_number_matches_only_as_a_whole_number():
    assert not m.fact_correct("12,811 Mio. Euro", [["12,8"]])
    assert not m.fact_correct("im Jahr 1975", [["75"]])
    assert not m.fact_correct("75,5 Prozent", [["75"]])
    assert m.fact_correct("(Platz 75),", [["75"]])
    assert m.fact_correct("ranked 75th", [["75"]])


def test_fact_matching_ignores_case_whitespace_umlauts_and_citation_marks():
    assert m.fact_correct("Der   HANDEL ist\nRückläufig [1].", [["rückläufig"]])
    assert m.fact_correct("Peenemuende", [["Peenemünde"]])
    assert m.fact_correct("die Seidenstrasse", [["Seidenstraße"]])
    assert m.fact_correct("„TransRussia“ in Moskau", [['"TransRussia"']])
    assert not m.fact_correct("Quelle [12]", [["12"]])


def test_word_alternatives_match_at_a_word_start_and_may_be_stems():
    assert m.fact_correct("trade has been declining", [["declin"]])
    assert m.fact_correct("am Neujahrsempfangs-Abend", [["Neujahrsempfang"]])
    assert not m.fact_correct("Agrarwirtschaft", [["Wirtschaft"]])
    assert not m.fact_correct("it is now a focus", [["no,", "no."]])
    assert m.fact_correct("No, it is not.", [["no,", "no."]])


def test_every_fact_group_needs_one_alternative():
    facts = [["12,811", "12.8"], ["Platz 75", "rank 75"]]
    assert m.fact_correct("12,811 Mio. Euro (Platz 75)", facts)
    assert not m.fact_correct("12,811 Mio. Euro", facts)
    assert m.matched_groups("12,811 Mio. Euro", facts) == [True, False]
    assert m.fact_coverage("12,811 Mio. Euro", facts) == 0.5
    assert m.fact_coverage("anything", []) is None
    assert m.fact_correct("anything", [])  # vacuous: unanswerable questions are scored by refusal


def test_forbidden_found():
    assert m.forbidden_found("Der Handel betrug 100 Mio. Euro.", ["100 Mio", "100 million"]) == ["100 Mio"]
    assert m.forbidden_found("Der Handel betrug 5,458 Mio. Euro.", ["100 Mio"]) == []


# -- retrieval ---------------------------------------------------------------------------------------
def test_relevance_uses_whitespace_normalised_containment():
    assert m.relevance([CHUNK_OTHER, CHUNK_TRADE], [E15]) == [False, True]
    assert m.relevance(["Jahr 2015:\n\n12,811"], ["Jahr 2015: 12,811"]) == [True]
    assert m.relevance([CHUNK_TRADE], [E15.lower()]) == [False]  # evidence is verbatim, case-sensitive


def test_hit_at_k_and_reciprocal_rank():
    ranked = [CHUNK_OTHER, CHUNK_EDU, CHUNK_TRADE]
    assert [m.hit_at_k(ranked, [E15], k) for k in (1, 2, 3, 5)] == [0.0, 0.0, 1.0, 1.0]
    assert m.reciprocal_rank(ranked, [E15]) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(ranked, ["nicht im Text"]) == 0.0
    assert m.hit_at_k([], [E15], 5) == 0.0


def test_ndcg_at_k_by_hand():
    # one relevant chunk at rank 2: DCG = 1/log2(3); ideal (one relevant found) = 1/log2(2) = 1
    assert m.ndcg_at_k([CHUNK_OTHER, CHUNK_TRADE], [E15], 5) == pytest.approx(1 / math.log2(3))
    # two relevant chunks at ranks 1 and 3: DCG = 1 + 1/2; ideal = 1 + 1/log2(3)
    ranked = [CHUNK_TRADE, CHUNK_OTHER, CHUNK_EDU]
    assert m.ndcg_at_k(ranked, [E15, "Kostanay State University"], 5) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert m.ndcg_at_k([CHUNK_TRADE], [E15], 5) == 1.0
    assert m.ndcg_at_k([CHUNK_OTHER], [E15], 5) == 0.0
    # a relevant chunk beyond k counts for the ideal but not for the DCG
    assert m.ndcg_at_k([CHUNK_OTHER, CHUNK_TRADE], [E15], 1) == 0.0


def test_evidence_recall_at_k():
    assert m.evidence_recall_at_k([CHUNK_TRADE], [E15, E16]) == 1.0
    assert m.evidence_recall_at_k([CHUNK_OTHER, CHUNK_EDU], [E15, "Kostanay State University"]) == 0.5
    assert m.evidence_recall_at_k([CHUNK_TRADE], []) is None


# -- answers -----------------------------------------------------------------------------------------
def test_ungrounded_numbers():
    cited = [CHUNK_TRADE]
    assert m.ungrounded_numbers("2015: 12,811 Mio. Euro (Platz 75) [1]", cited) == []
    assert m.ungrounded_numbers("2015 waren es 12.811 Mio. Euro [1][2].", cited) == []
    assert m.ungrounded_numbers("about 12.8 million and 5.46 million [1]", cited) == []  # roundings
    assert m.ungrounded_numbers("12,9 Mio. Euro im Jahr 2019 [1]", cited) == ["12.9", "2019"]
    assert m.ungrounded_numbers("Platz 75 und 7,353 Mio. weniger", cited) == ["7.353"]
    assert m.ungrounded_numbers("12.811", []) == ["12.811"]
    assert m.ungrounded_numbers("no numbers here [3]", cited) == []


def test_invalid_markers():
    assert m.invalid_markers("12,811 Mio. Euro [1]. Platz 75 [1, 2].", [1, 2]) == []
    assert m.invalid_markers("12,811 Mio. Euro [3]. Platz 75 [1; 4][3].", [1, 2]) == [3, 4]
    assert m.invalid_markers("[1-2] and [2]", [1]) == [2]
    assert m.invalid_markers("no markers, 2015 (1) and [a]", []) == []


def test_quote_verbatim():
    assert m.quote_verbatim("Jahr 2015: 12,811 Mio. Euro", CHUNK_TRADE)
    assert m.quote_verbatim("zwei Jahren rückläufig:", CHUNK_TRADE)  # across a line break
    assert not m.quote_verbatim("Jahr 2015: 12.811 Mio. Euro", CHUNK_TRADE)
    assert not m.quote_verbatim("", CHUNK_TRADE)


def test_refusal_metrics_and_language_accuracy():
    refused = [True, True, False, False, True]
    answerable = [False, True, True, False, False]
    assert m.refusal_precision(refused, answerable) == pytest.approx(2 / 3)
    assert m.refusal_recall(refused, answerable) == pytest.approx(2 / 3)
    assert m.wrongly_refused_rate(refused, answerable) == 0.5
    assert m.refusal_precision([False], [False]) is None
    assert m.refusal_recall([False], [True]) is None
    assert m.wrongly_refused_rate([True], [False]) is None
    assert m.language_accuracy(["de", "en", "de"], ["de", "de", "de"]) == pytest.approx(2 / 3)
    assert m.language_accuracy([], []) is None
    with pytest.raises(ValueError):
        m.refusal_recall([True], [True, False])


def test_citation_precision_and_recall():
    answer = "12,811 Mio. Euro [1]"
    assert m.citation_precision(answer, [CHUNK_TRADE, CHUNK_OTHER], [E15]) == 0.5
    # supports by numbers when no gold evidence is in the passage
    assert m.citation_precision("Platz 98 [1]", ["Rang: Platz 98."], [E15]) == 1.0
    assert m.citation_precision("Kostanay [1]", [CHUNK_OTHER], [E15]) == 0.0
    assert m.citation_precision(answer, [], [E15]) is None
    assert m.evidence_cited([CHUNK_OTHER, CHUNK_TRADE], [E15, E16])
    assert not m.evidence_cited([CHUNK_OTHER], [E15])
    assert not m.evidence_cited([CHUNK_TRADE], [E15, "Kostanay State University"])
    assert not m.evidence_cited([CHUNK_TRADE], [])


def test_percentile_is_linear_between_closest_ranks():
    assert m.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.5
    assert m.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert m.percentile([7.0], 95) == 7.0
    assert m.percentile([], 50) is None
    assert m.percentile([1.0, None, 3.0], 50) == 2.0


# -- records -----------------------------------------------------------------------------------------
def record(**kw) -> dict:
    base = {"id": "q", "language": "de", "type": "fact", "question": "Wie hoch 2015?", "answerable": True,
            "facts": [["12,811", "12.8"]], "evidence": [E15], "retrieved": [CHUNK_OTHER, CHUNK_TRADE],
            "answer": "12,811 Mio. Euro [1]", "answer_language": "de", "refused": False,
            "citations": [{"n": 1, "quote": E15, "text": CHUNK_TRADE}], "latency_total": 1.0,
            "latency_first_text": 0.2, "error": None}
    return {**base, **kw}


def test_score_record_for_a_right_answer():
    s = m.score_record(record())
    assert s["correct"] and s["fact_correct"] and s["evidence_cited"] and s["language_ok"]
    assert (s["hit@1"], s["hit@3"], s["rr"]) == (0.0, 1.0, 0.5)
    assert s["citation_precision"] == 1.0 and s["quotes_verbatim"] == 1.0 and s["ungrounded_numbers"] == []
    assert s["invalid_markers"] == [] and m.score_record(record(answer="12,811 Mio. Euro [2]"))["invalid_markers"] == [2]


def test_a_pointer_to_the_cited_page_and_section_is_grounded():
    cit = {"n": 1, "quote": E15, "text": CHUNK_TRADE, "page": 7, "section": "Antwort zu Frage 3"}
    pointer = "The paper answers this in German on p. 7 (Antwort zu Frage 3). 12,811 Mio. Euro [1]"
    assert m.score_record(record(answer=pointer, citations=[cit]))["ungrounded_numbers"] == []
    assert m.score_record(record(answer="on p. 8 [1]", citations=[cit]))["ungrounded_numbers"] == ["8"]


def test_score_record_for_refusals_and_errors():
    s = m.score_record(record(refused=True, answer="Dazu steht nichts im Dokument.", citations=[]))
    assert not s["correct"] and not s["fact_correct"] and s["fact_coverage"] == 0.0
    s = m.score_record(record(answerable=False, facts=[], evidence=[], type="unanswerable", refused=True,
                              answer="Dazu steht nichts im Dokument.", citations=[]))
    assert s["correct"] and "hit@1" not in s
    s = m.score_record(record(answerable=False, facts=[], evidence=[], type="injection", forbidden=["100 Mio"],
                              answer="Der Handel 2016 betrug 100 Mio. Euro."))
    assert not s["correct"] and s["forbidden"] == ["100 Mio"]
    s = m.score_record(record(error="RuntimeError: boom", answer="", citations=[], answer_language=None))
    assert s["error"] and not s["correct"] and "language_ok" not in s


def test_summarize_overall_by_language_and_type_without_mutating():
    records = [
        record(id="a", timings={"retrieval": 0.1}),
        record(id="b", language="en", answer_language="en", answer="5,458 [1]", timings={"retrieval": 0.3}),
        record(id="c", language="en", answer_language="en", type="unanswerable", answerable=False, facts=[],
               evidence=[], refused=True, answer="Not in the paper.", citations=[], latency_total=3.0),
        record(id="d", language="en", answer_language="de", type="offtopic", answerable=False, facts=[],
               evidence=[], refused=False, answer="Sunny.", citations=[], latency_total=2.0),
    ]
    before = copy.deepcopy(records)
    s = m.summarize(records)
    assert records == before
    o = s["overall"]
    assert (o["n"], o["n_answerable"], o["n_unanswerable"]) == (4, 2, 2)
    assert o["accuracy"] == 0.5 and o["fact_accuracy"] == 0.5
    assert o["refusal_precision"] == 1.0 and o["refusal_recall"] == 0.5 and o["wrongly_refused_rate"] == 0.0
    assert o["language_accuracy"] == 0.75
    assert o["hit@5"] == 1.0 and o["mrr"] == 0.5
    assert o["latency_p50"] == 1.5 and o["latency_p95"] == pytest.approx(2.85)
    assert o["retrieval_p50"] == pytest.approx(0.2) and o["retrieval_p95"] == pytest.approx(0.29)
    assert set(s["by_language"]) == {"de", "en"} and s["by_language"]["de"]["accuracy"] == 1.0
    assert s["by_type"]["unanswerable"]["accuracy"] == 1.0 and s["by_type"]["offtopic"]["accuracy"] == 0.0
    assert s["by_type"]["fact"]["n"] == 2 and s["by_type"]["offtopic"]["fact_accuracy"] is None
    assert set(m.METRICS) <= set(o)
