"""The answering step on a made-up paper (no models): typed direct answers, derived counts and trends,
refusals decided on the evidence, the document card, verbatim citations."""
from __future__ import annotations

from rag import answering, card
from rag.policy import Policy
from rag.query import analyse
from rag.types import Chunk, Hit, Span

TRADE_TEXT = "Die Umsätze sind rückläufig:\nJahr 2019: 7,25 Mio. Euro (Platz 12),\nJahr 2020: 3,10 Mio. Euro (Platz 30)."
TRADE = Chunk("c1", "d", TRADE_TEXT, 0, len(TRADE_TEXT), 2, "Antwort zu Frage 1 > Handel", heading=("Antwort zu Frage 1", "Handel"))
VISIT_TEXT = "Am 3. Mai 2020 besuchte die Ministerin für Verkehr den Hafen Nordstadt."
VISIT = Chunk("c2", "d", VISIT_TEXT, 200, 200 + len(VISIT_TEXT), 3, "Antwort zu Frage 2")
LIST_TEXT = ("Folgende Schulen nehmen teil:\n- Schule am Deich,\n- Schule am Markt,\n- Schule am Wald.")
SCHOOLS = Chunk("c3", "d", LIST_TEXT, 400, 400 + len(LIST_TEXT), 3, "Antwort zu Frage 3")
NEG_TEXT = "Eine Förderung durch das Land ist nicht vorgesehen."
NEG = Chunk("c4", "d", NEG_TEXT, 600, 600 + len(NEG_TEXT), 4, "Antwort zu Frage 4")
OPEN = Policy(min_similarity=0.2, min_focus=0.0, strong_similarity=0.9)


def hit(chunk, *sents, sim=0.7):
    spans = []
    for s in sents:
        at = chunk.text.find(s)
        assert at >= 0, s
        spans.append(Span(chunk, at, at + len(s), sim, sim))
    return Hit(chunk, 1.0, tuple(spans), sim)


def ask(question, hits, policy=OPEN, history=(), chunks=()):
    items = list(answering.answer_stream(analyse(question, history=history), hits, policy, chunks=chunks))
    assert all(isinstance(i, str) for i in items[:-1])
    return items[-1]


def test_money_answer_is_rendered_in_english_and_cited_verbatim():
    a = ask("How much were the sales in 2020?", [hit(TRADE, "Jahr 2020: 3,10 Mio. Euro (Platz 30).")])
    assert not a.refused and a.direct.startswith("According to the paper: EUR 3.10 million")
    assert "[1]" in a.text and a.citations[0].quote == TRADE_TEXT[a.citations[0].start:a.citations[0].end]
    assert not answering.verify(a.text, a.citations, "en")


def test_german_date_answer_first():
    a = ask("Wann besuchte die Ministerin den Hafen?", [hit(VISIT, VISIT_TEXT)])
    assert a.direct == "Laut der Drucksache: am 3. Mai 2020 [1]." and a.text.startswith(a.direct)


def test_count_derived_by_counting_list_items_is_a_word():
    a = ask("Wie viele Schulen nehmen teil?", [hit(SCHOOLS, LIST_TEXT)])
    assert "drei" in a.direct and not any(ch.isdigit() for ch in a.direct.replace("[1]", ""))


def test_trend_compares_two_quoted_figures():
    a = ask("Did sales rise or fall between 2019 and 2020?",
            [hit(TRADE, "Jahr 2019: 7,25 Mio. Euro (Platz 12),", "Jahr 2020: 3,10 Mio. Euro (Platz 30).")])
    assert a.direct.startswith("It fell") and "7.25" in a.direct and "3.10" in a.direct


def test_yes_no_reads_negation():
    assert ask("Ist eine Förderung durch das Land vorgesehen?", [hit(NEG, NEG_TEXT)]).direct.startswith("Nein")


def test_refuses_when_no_candidate_of_the_expected_type():
    a = ask("Wie viel kostete der Besuch?", [hit(VISIT, VISIT_TEXT)])
    assert a.refused and not a.citations


def test_refuses_when_nothing_is_close():
    a = ask("Wann besuchte die Ministerin den Hafen?", [hit(VISIT, VISIT_TEXT, sim=0.1)])
    assert a.refused


def test_refuses_an_asked_year_the_evidence_lacks():
    assert ask("How much were the sales in 2014?", [hit(TRADE, "Jahr 2020: 3,10 Mio. Euro (Platz 30).")]).refused


def test_meta_questions_come_from_the_card():
    text = ("KLEINE ANFRAGE\n\ndes Abgeordneten Max Muster, Fraktion der XYZ\n\nSchulen im Land\n\n"
            "1. Welche Schulen nehmen teil?")
    body = card.build(text, {"date": "01.02.2021"}, [("1", "1. Welche Schulen nehmen teil?")], [])
    assert "Fragesteller: Max Muster" in body and "Fraktion: XYZ" in body and "Datum: 01.02.2021" in body
    c = Chunk("k", "d", body, 0, len(body), 1, "Dokumentkarte", kind="card")
    a = ask("Wer hat die Anfrage gestellt?", [], chunks=[c])
    assert "Max Muster" in a.direct and a.citations[0].quote == "Fragesteller: Max Muster"
    assert "Asked by: Max Muster" in ask("Who asked the question?", [], chunks=[c]).direct


def test_verify_catches_invented_numbers_markers_and_altered_quotes():
    a = ask("How much were the sales in 2020?", [hit(TRADE, "Jahr 2020: 3,10 Mio. Euro (Platz 30).")])
    assert answering.verify(a.text + " It was 99 million [7].", a.citations, "en")


LONG_TEXT = ("Nach Angaben des Ministeriums, das im Jahr 2020 eine Umfrage unter allen Landkreisen und kreisfreien "
             "Städten des Landes durchgeführt hat, wird die Förderquote in strukturschwachen Regionen erhöht, weil "
             "dort die Eigenmittel der Kommunen fehlen.")
LONG = Chunk("c5", "d", LONG_TEXT, 800, 800 + len(LONG_TEXT), 5, "Antwort zu Frage 5")


def test_german_description_starts_with_the_answering_words_of_the_quote():
    short = ask("Ist eine Förderung durch das Land vorgesehen?", [hit(NEG, NEG_TEXT)])
    a = ask("Warum wird die Förderquote in strukturschwachen Regionen erhöht?", [hit(LONG, LONG_TEXT)])
    assert a.direct.startswith("„… ") and a.direct.endswith("“ [1]") and len(a.direct.split()) <= 25
    assert "Eigenmittel" in a.direct  # the clauses that give the reason, not the sentence's opening
    inner = a.direct[1:a.direct.index("“")].strip("… ")
    assert inner in LONG_TEXT and a.text.startswith(a.direct) and LONG_TEXT in a.text  # the whole quote as proof
    assert not short.refused and short.direct.startswith("Nein")  # typed answers keep their frame
    whole = ask("Was sagt die Landesregierung zur Förderung?", [hit(NEG, NEG_TEXT)])
    assert whole.text == whole.direct == f"„{NEG_TEXT}“ [1]"  # a short sentence is shown once
    en = ask("Why is the funding rate raised in weak regions?", [hit(LONG, LONG_TEXT)])
    assert en.direct == ""  # English readers get no German words as their direct answer


def test_a_role_phrase_that_repeats_the_question_is_no_answer():
    text = "Am 3. Mai 2020 besuchte der Botschafter der Republik Nordland den Hafen Nordstadt."
    chunk = Chunk("c6", "d", text, 900, 900 + len(text), 6, "Antwort zu Frage 6")
    assert ask("Wer ist der Botschafter von Nordland?", [hit(chunk, text)]).refused  # the paper does not name him
    a = ask("Wer besuchte den Hafen Nordstadt?", [hit(chunk, text)])
    assert not a.refused and "der Botschafter der Republik Nordland" in a.direct


def test_an_english_description_without_a_translation_points_to_the_german_passage():
    a = ask("Why is the funding rate raised in weak regions?", [hit(LONG, LONG_TEXT)])
    assert a.text.startswith("The paper answers this in German on p. 5 (Antwort zu Frage 5)")
    assert f"„{LONG_TEXT}“ [1]" in a.text and a.mode == "extractive"
    items = list(answering.answer_stream(analyse("Why is the funding rate raised in weak regions?"), [hit(LONG, LONG_TEXT)],
                                         OPEN, translate=lambda cits: ""))  # a translation that failed its checks
    assert items[-1].text == a.text


def test_a_list_is_counted_only_when_its_lead_in_names_the_thing_counted():
    from rag.evidence import countable
    text = "Folgende Maßnahmen wurden ergriffen:\n1. Fährhelfer: mehr Personal\n2. Werbung: neue Plakate\n3. Zulage"
    assert countable(analyse("Wie viele Fährhelfer sind beschäftigt?"), text) == []  # one measure is about them
    assert len(countable(analyse("Wie viele Maßnahmen wurden ergriffen?"), text)) == 3


def test_an_english_reader_gets_the_names_dates_and_figures_of_a_german_description():
    text = "Am 3. Mai 2020 unterzeichnete das Ministerium für Verkehr einen Vertrag über 2,5 Mio. Euro, weil die Fähre alt ist."
    c = Chunk("c9", "d", text, 0, len(text), 6, "Antwort zu Frage 6")
    a = ask("Why did the ministry sign the contract?", [hit(c, text)])
    line = "Names, dates and figures in that passage: 3 May 2020; Ministerium für Verkehr; EUR 2.5 million [1]."
    assert line in a.text and not answering.verify(line, a.citations, "en")


def test_a_period_asked_for_must_stand_in_the_evidence_as_one():
    text = "Im Schuljahr 2023/24 gab es 11 Fährschulen. Die Daten für 2024/25 liegen im März 2025 vor."
    c = Chunk("c10", "d", text, 0, len(text), 2, "Antwort zu Frage 2")
    s = "Im Schuljahr 2023/24 gab es 11 Fährschulen."
    assert ask("Wie viele Fährschulen gab es im Schuljahr 2023/24?", [hit(c, s)]).refused is False
    other = "Im Schuljahr 2023/24 gab es 11 Fährschulen im Jahr 2024."
    c2 = Chunk("c11", "d", other + " Stand 2025.", 0, len(other) + 11, 2, "Antwort zu Frage 2")
    assert ask("Wie viele Fährschulen gab es im Schuljahr 2024/2025?", [hit(c2, other)]).refused  # 2024 and 2025 alone are not it


def test_who_holds_a_role_is_not_answered_by_a_body():
    text = "Am Runden Tisch nehmen der Landesbauernverband und der Fährverein teil."
    c = Chunk("c12", "d", text, 0, len(text), 2, "Antwort zu Frage 5")
    assert ask("Who is the president of the farmers' association?", [hit(c, text)]).refused
    assert not ask("Wer nimmt am Runden Tisch teil?", [hit(c, text)]).refused


def test_an_english_reader_gets_no_bare_kinds_of_body_as_names():
    text = "Am 3. Mai 2020 besuchten Unternehmen das Museum Nordstadt. Das Museum liegt am Hafen."
    c = Chunk("c13", "d", text, 0, len(text), 6, "Antwort zu Frage 6")
    a = ask("Why did they meet?", [hit(c, text)])
    line = next(ln for ln in a.text.splitlines() if ln.startswith("Names, dates"))
    assert "Museum Nordstadt" in line and "Unternehmen" not in line and line.count("Museum") == 1
