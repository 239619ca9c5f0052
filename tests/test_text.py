"""Sentence splitting, BM25 tokens, language detection and number helpers (rag/text.py)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.text import detect_language, fold, normalize_number, numbers, sentences, split_sentences, tokenize


@pytest.mark.parametrize("text, expected", [
    ("Es waren 12,811 Mio. Euro. Danach weniger.", ["Es waren 12,811 Mio. Euro.", "Danach weniger."]),
    ("Am 26. August 2016 besuchte er Peenemünde. Am 9. Januar 2017 nahm er teil.",
     ["Am 26. August 2016 besuchte er Peenemünde.", "Am 9. Januar 2017 nahm er teil."]),
    ("Die Veranstaltung am 29. März 2017 (siehe unten) war gut. Sie war voll.",
     ["Die Veranstaltung am 29. März 2017 (siehe unten) war gut.", "Sie war voll."]),
    ("Das gilt z. B. für Häfen bzw. Bahnen, ca. 3 Stück usw. und mehr.",
     ["Das gilt z. B. für Häfen bzw. Bahnen, ca. 3 Stück usw. und mehr."]),
    ("Die Fragen 1, 2, 2 a) und 2 b) werden beantwortet. Gut.",
     ["Die Fragen 1, 2, 2 a) und 2 b) werden beantwortet.", "Gut."]),
    ("Es war Platz 75. Im Jahr darauf Platz 98.", ["Es war Platz 75.", "Im Jahr darauf Platz 98."]),
    ("Die 7. Wahlperiode begann. Sie dauert.", ["Die 7. Wahlperiode begann.", "Sie dauert."]),
    ("der „Neuen Seidenstraße“. Dieser Erklärung folgten 26.",
     ["der „Neuen Seidenstraße“.", "Dieser Erklärung folgten 26."]),
    ("Bücher usw. Die Liste endet.", ["Bücher usw.", "Die Liste endet."]),
    ("Was nun? Wer weiß! Ende", ["Was nun?", "Wer weiß!", "Ende"]),
])
def test_split_sentences_german(text, expected):
    assert sentences(text) == expected


def test_list_lines_are_sentences():
    text = ("Partnerschaften im Bereich Wirtschaft mit:\n- Kostanay State University,\n"
            "- Rudniy Industrial Institute,\n- Boashak Academy Kazakhstan.")
    assert sentences(text) == ["Partnerschaften im Bereich Wirtschaft mit:", "- Kostanay State University,",
                               "- Rudniy Industrial Institute,", "- Boashak Academy Kazakhstan."]
    rows = "Jahr 2015: 12,811 Mio. Euro (Platz 75),\nJahr 2016: 5,458 Mio. Euro (Platz 98),\nJanuar bis April 2017: 1,844 Mio. Euro."
    assert sentences(rows) == rows.split("\n")


def test_enumerations_and_soft_wraps():
    text = "1. Gab es Kontakte?\nWenn ja, welche?\n\na) Welchem Zweck dienten sie?\nb) Welche Ergebnisse?"
    assert sentences(text) == ["1. Gab es Kontakte?", "Wenn ja, welche?", "a) Welchem Zweck dienten sie?",
                               "b) Welche Ergebnisse?"]
    # a line continuing in lower case is a soft wrap, not a sentence end
    assert sentences("Die Republik gehört nicht zu den\nSchwerpunkten des\nlandes. Ende.") == [
        "Die Republik gehört nicht zu den", "Schwerpunkten des\nlandes.", "Ende."]


def test_spans_are_stripped_offsets():
    text = "  Erster Satz.   Zweiter Satz!\n\n  Dritter  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["Erster Satz.", "Zweiter Satz!", "Dritter"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab AZ.?!,:;\n-)(12„“äß")), max_size=120))
def test_spans_are_ordered_stripped_and_in_bounds(text):
    prev = 0
    for s, e in split_sentences(text):
        assert prev <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip()
        prev = e
    covered = "".join(text[s:e] for s, e in split_sentences(text))
    assert "".join(covered.split()) == "".join(text.split())  # nothing but whitespace is lost


@pytest.mark.parametrize("question, lang", [
    ("Wie hoch war der Handel 2016?", "de"),
    ("How large was trade in 2016?", "en"),
    ("Und im Jahr danach?", "de"),
    ("And the year after?", "en"),
    ("Welche Unis?", "de"),
    ("Which universities in Wismar?", "en"),
    ("Wer hat die Anfrage gestellt?", "de"),
    ("Who asked the question?", "en"),
    ("Was war 2016?", "de"),
    ("What happened in Peenemünde?", "en"),
    ("Gründe?", "de"),
])
def test_detect_language(question, lang):
    assert detect_language(question) == lang


def test_detect_language_falls_back_to_default_without_signal():
    assert detect_language("Wismar?") == "de"
    assert detect_language("Wismar?", default="en") == "en"
    assert detect_language("2016?", default="en") == "en"
    assert detect_language("") == "de"


def test_tokenize_folds_umlauts_and_sharp_s():
    assert tokenize("Außenhandel") == tokenize("Aussenhandel") == tokenize("AUSSENHANDEL")
    assert tokenize("München") == tokenize("Muenchen") == tokenize("Munchen")
    assert tokenize("Universitäten") == tokenize("Universitaeten")
    assert fold("Größe Café") == "grosse cafe"


def test_tokenize_stems_drops_stop_words_and_keeps_numbers():
    tokens = tokenize("Wie hoch war der Außenhandel im Jahr 2015: 12,811 Mio. Euro?")
    assert "wie" not in tokens and "der" not in tokens and "war" not in tokens
    assert "2015" in tokens and "12,811" in tokens
    assert tokenize("12.811") == tokenize("12,811") == ["12,811"]
    assert tokenize("Partnerschaften") == tokenize("Partnerschaft")
    assert tokenize("the trade of the universities") == tokenize("trade universities")


def test_tokenize_splits_frequent_compound_parts():
    assert "handel" in tokenize("Außenhandel")
    assert set(tokenize("Handel")) <= set(tokenize("Außenhandel"))
    assert "kooperation" in tokenize("Hochschulkooperationen")
    assert tokenize("Mecklenburg-Vorpommern") == tokenize("Mecklenburg Vorpommern")
    assert len(tokenize("Mecklenburg-Vorpommern")) == 2


def test_numbers_as_written():
    text = "Jahr 2015: 12,811 Mio. Euro (Platz 75), am 26. August 2016 mit etwa 300 Gästen, Stand 26.07.2017."
    assert numbers(text) == ["2015", "12,811", "75", "26", "2016", "300", "26.07.2017"]
    assert numbers("Drucksache 7/844") == ["7", "844"]
    assert numbers("keine Zahl") == []


def test_normalize_number_treats_comma_and_dot_alike():
    assert normalize_number("12,811") == normalize_number("12.811") == "12,811"
    assert normalize_number("12811") != normalize_number("12,811")
    assert normalize_number("07.2017") == normalize_number("7.2017")
    assert normalize_number("12,081") != normalize_number("12,81")
    assert normalize_number("0") == "0"


def test_each_table_row_is_a_unit_of_its_own():
    from rag.text import evidence_units
    text = ("Die Zahl der Fähren zeigt die Tabelle:\n\nKreis          2021      2022\n"
            "Nordkreis        14        19\nSüdkreis          6         9")
    units = [text[s:e] for s, e in evidence_units(text)]
    assert "Nordkreis        14        19" in units and "Südkreis          6         9" in units
