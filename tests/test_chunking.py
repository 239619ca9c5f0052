"""Chunks of the real paper and of generic documents (rag/chunking.py)."""
from __future__ import annotations

import re

import pytest

from rag.chunking import chunk_document, CHUNKER_VERSION, MAX_CHARS, chunk_document, chunk_id
from rag.config import REPO
from rag.ingest import clean_text, load_document
from rag.text import split_sentences
from rag.types import Document

CORPUS = REPO / "corpus" / "drucksache-7-844.txt"
ANSWER_1_2 = "Antwort zu Fragen 1, 2, 2 a) und 2 b)"
UNIVERSITIES = ["Kostanay State University", "Rudniy Industrial Institute", "Karaganda State Technical University",
                "Caspian State University of Technologies and Engineering", "Al-Farabi Kazakh National University",
                "Boashak Academy Kazakhstan"]


def _text_chunks(doc):
    """The passages of the text (the document card is checked against ``doc.card`` in test_card_chunk)."""
    return [c for c in chunk_document(doc) if c.kind != "card"]


def test_card_chunk(doc):
    card = [c for c in chunk_document(doc) if c.kind == "card"]
    assert len(card) == 1 and card[0].text == doc.card and "Fragesteller:" in doc.card


@pytest.fixture(scope="module")
def doc():
    return load_document(CORPUS)


@pytest.fixture(scope="module")
def chunks(doc):
    return _text_chunks(doc)


def only(chunks, needle):
    found = [c for c in chunks if needle in c.text]
    assert len(found) == 1, f"{needle!r} is in {len(found)} chunks"
    return found[0]


def make_doc(text, page_starts=(0,)):
    return Document(doc_id="t", text=text, source="t.txt", sha256="0" * 64, page_starts=page_starts)


def check_invariants(doc, chunks):
    prev_end = 0
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert c.text == c.text.strip() and c.text
        assert prev_end <= c.start
        prev_end = c.end
    covered = "".join(c.text for c in chunks)
    assert "".join(covered.split()) == "".join(doc.text.split())  # nothing lost, nothing doubled


# ---------------------------------------------------------------- invariants

def test_offsets_round_trip_for_every_chunk(doc, chunks):
    assert len(chunks) > 10
    check_invariants(doc, chunks)
    assert {c.doc_id for c in chunks} == {"drucksache-7-844"}


def test_ids_are_content_derived_and_stable(doc, chunks):
    again = _text_chunks(load_document(CORPUS))
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    for c in chunks:
        assert re.fullmatch(r"[0-9a-f]{16}", c.chunk_id)
        assert c.chunk_id == chunk_id(c.doc_id, c.start, c.end, c.text)
    assert isinstance(CHUNKER_VERSION, str) and CHUNKER_VERSION


def test_chunks_end_at_sentence_ends_and_are_not_tiny(chunks):
    for c in chunks:
        assert c.kind != "heading"
        assert len(c.text) >= 100
        if c.kind != "meta":
            assert c.text[-1] in ".?!", c.text[-40:]


# ---------------------------------------------------------------- pages

@pytest.mark.parametrize("needle, page", [
    ("Der Chef der Staatskanzlei", 1),
    ("Die Republik Kasachstan gehört nicht zu den Schwerpunkten", 1),
    ("1. Gab und gibt es", 1),
    ("Historisch-Technische Museum Peenemünde", 2),
    ("Jahr 2016: 5,458 Mio. Euro", 2),
    ("Kasachstan ist ein wichtiger Knotenpunkt", 3),
    ("Boashak Academy Kazakhstan", 3),
    ("3. Wie stellt sich die Landesregierung", 4),
    ("Aus hiesiger Sicht werden keine negativen Einflüsse", 4),
])
def test_pages(chunks, needle, page):
    assert only(chunks, needle).page == page


# ---------------------------------------------------------------- sections and questions

def test_meta_chunk(chunks):
    c = chunks[0]
    assert c.kind == "meta" and c.section == "Kleine Anfrage" and c.question == ""
    assert "Holger Arppe" in c.text and "Beziehungen von Mecklenburg-Vorpommern zur Republik Kasachstan" in c.text


def test_preface(chunks):
    c = only(chunks, "Vorbemerkung:")
    assert c.section == "Vorbemerkung" and c.text.startswith("Vorbemerkung:\n\nDie Republik Kasachstan")


def test_question_chunks(chunks):
    questions = [c for c in chunks if c.kind == "question"]
    assert [c.section for c in questions] == ["Frage 1", "Frage 2", "Frage 3", "Frage 4"]
    assert all(c.question == "" for c in questions)
    q2 = questions[1]
    assert q2.text.startswith("2. Gab es bislang") and q2.text.endswith("b) Welche Ergebnisse brachten sie hervor?")


@pytest.mark.parametrize("needle, section", [
    ("Die Fragen 1, 2, 2 a) und 2 b) werden", f"{ANSWER_1_2} > Gespräche mit dem Botschafter der Republik Kasachstan"),
    ("Am 9. Januar 2017", f"{ANSWER_1_2} > Gespräche mit dem Botschafter der Republik Kasachstan"),
    ("Jahren rückläufig:", f"{ANSWER_1_2} > Wirtschaft"),
    ("Kasachstan ist ein wichtiger Knotenpunkt", f"{ANSWER_1_2} > Verkehr"),
    ("Hochschule Wismar", f"{ANSWER_1_2} > Bildung"),
    ("Die bestehenden wirtschaftlichen Kontakte", "Antwort zu Fragen 3, 3 a) und 3 b)"),
    ("Aus hiesiger Sicht", "Antwort zu Frage 4"),
])
def test_answer_sections(chunks, needle, section):
    assert only(chunks, needle).section == section


def test_answers_carry_their_questions(chunks):
    q = only(chunks, "Kasachstan ist ein wichtiger Knotenpunkt").question
    for part in ["1. Gab und gibt es auf den Gebieten", "aufschlüsseln)?", "2. Gab es bislang persönliche Kontakte",
                 "a) Welchem Zweck dienten diese Begegnungen?", "b) Welche Ergebnisse brachten sie hervor?"]:
        assert part in q
    q3 = only(chunks, "Die bestehenden wirtschaftlichen Kontakte").question
    assert q3.startswith("3. Wie stellt sich") and "b) Welche Vorteile" in q3 and "1. Gab" not in q3
    q4 = only(chunks, "Aus hiesiger Sicht").question
    assert q4.startswith("4. Welche Auswirkungen") and q4.endswith("haben?")


def test_headings_lead_their_paragraphs(chunks):
    assert only(chunks, "Kasachstan ist ein wichtiger Knotenpunkt").text.startswith("Verkehr\n\n")
    assert only(chunks, "Historisch-Technische").text.startswith(
        "Die Fragen 1, 2, 2 a) und 2 b) werden zusammenhängend beantwortet.\n\nGespräche mit dem Botschafter")


# ---------------------------------------------------------------- lists

def test_wismar_list_is_one_chunk(chunks):
    c = only(chunks, "Hochschule Wismar\nPartnerschaften im Bereich Wirtschaft mit:")
    assert c.kind == "list"
    for name in UNIVERSITIES:
        assert name in c.text


def test_trade_figures_stay_with_their_introduction(chunks):
    c = only(chunks, "Jahr 2015: 12,811 Mio. Euro (Platz 75),")
    assert "Jahr 2016: 5,458 Mio. Euro (Platz 98)," in c.text and "Januar bis April 2017: 1,844 Mio. Euro." in c.text
    assert "Jahren rückläufig:" in c.text and c.kind == "list"


# ---------------------------------------------------------------- generic documents

def test_long_paragraph_is_split_at_sentences():
    sentences = [f"Dies ist der Satz Nummer {i} mit etwas Inhalt am 26. August 2016 über 12,811 Mio. Euro." for i in range(60)]
    d = make_doc("Überschrift\n\n" + " ".join(sentences))
    chunks = _text_chunks(d)
    assert len(chunks) >= 5
    check_invariants(d, chunks)
    bounds = {d.text.index(s) for s in sentences} | {d.text.index(s) + len(s) for s in sentences}
    for c in chunks:
        assert len(c.text) <= MAX_CHARS
        assert c.section == "Überschrift"
        assert c.end in bounds and (c.start in bounds or c.start == 0)


def test_long_list_is_split_between_items():
    items = "\n".join(f"- Partner Nummer {i} in der Stadt Beispielhausen," for i in range(60))
    d = make_doc("Partner:\n" + items)
    chunks = _text_chunks(d)
    assert len(chunks) > 1
    check_invariants(d, chunks)
    for c in chunks:
        assert c.kind == "list" and len(c.text) <= MAX_CHARS
        assert all(line.startswith(("- ", "Partner:")) for line in c.text.split("\n"))


def test_generic_text_with_pages_and_headings():
    raw = ("Einleitung\n\nDies ist ein gewöhnlicher Text ohne Fragen. Er hat mehrere Absätze und "
           "Seiten, aber keine Struktur einer Anfrage. Er dient als Beispiel.\n\fErgebnisse\n\n"
           "Auf der zweiten Seite stehen die Ergebnisse. Sie sind gut und ausführlich beschrieben, "
           "damit dieser Absatz nicht zu kurz ist.\n\nEnde.")
    text, pages = clean_text(raw)
    d = make_doc(text, pages)
    chunks = _text_chunks(d)
    check_invariants(d, chunks)
    assert [(c.section, c.page) for c in chunks] == [("Einleitung", 1), ("Ergebnisse", 2)]
    assert chunks[1].text.endswith("Ende.")
    assert all(c.question == "" and c.kind == "paragraph" for c in chunks)


def test_empty_document_has_no_chunks():
    assert _text_chunks(make_doc("")) == []


def test_sentence_spans_inside_chunks_are_clean(chunks):
    for c in chunks:
        for s, e in split_sentences(c.text):
            assert c.text[s:e] == c.text[s:e].strip()
