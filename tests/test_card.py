"""The document card on made-up papers of several layouts, and meta questions answered from it."""
from rag import answering, card
from rag.query import analyse, meta_field
from rag.types import Chunk

ANTRAG = """Landtag von Nordland
18. Wahlperiode
Drucksache 18 / 123
02. 03. 2022

Antrag
der Abg. Erika Beispiel u. a. SPD
und
Stellungnahme
des Ministeriums für Fähren

Ausbau der Fährverbindungen

Antrag
Der Landtag wolle beschließen,
die Landesregierung zu ersuchen
1. zu berichten, wie viele Fähren verkehren;
2. darzulegen, welche Mittel bereitstehen;
3. mitzuteilen, wann neue Fähren kommen.

01. 03. 2022
Beispiel, Muster, Probe SPD

Begründung
Die Fähren sind alt.

Eingegangen: 02. 03. 2022 / Ausgegeben: 30. 03. 2022

Stellungnahme
Mit Schreiben vom 28. März 2022 Nr. F-12/3 nimmt das Ministerium für Fähren zu dem Antrag wie folgt Stellung:

Zu 1.:
Es verkehren zwölf Fähren.

Max Mustermann
Minister für Fähren
"""

ANTWORT = """LANDTAG NORDLAND
19. Wahlperiode

Drucksache 19/777

01.06.2023

Antwort

der Landesregierung
auf die Kleine Anfrage 55 vom 2. Mai 2023
der Abgeordneten Anna Frage und Bernd Zweifel FDP
Drucksache 19/700

Fähren im Land

Der Minister für Verkehr hat die Kleine Anfrage 55 mit Schreiben vom 1. Juni 2023 namens der Landesregierung beantwortet.
"""


def _card(text: str) -> dict:
    lines = card.build(text, {}, [], []).splitlines()
    return dict(line.split(": ", 1) for line in lines)


def test_a_motion_with_a_statement():
    f = _card(ANTRAG)
    assert f["Antwortende Stelle"] == "Ministerium für Fähren"
    assert f["Unterzeichnet"] == "Max Mustermann, Minister für Fähren"
    assert f["Unterzeichner"].startswith("3 Abgeordnete (Beispiel, Muster, Probe")
    assert f["Ausgegeben"] == "30. 03. 2022"
    assert f["Anzahl der Fragen"].startswith("3 ")
    assert "Mit Schreiben vom 28. März 2022 Nr. F-12/3" in f["Übermittelt"]


def test_an_answer_printed_apart_from_its_question():
    f = _card(ANTWORT)
    assert f["Fragesteller"] == "Anna Frage und Bernd Zweifel" and f["Fraktion"] == "FDP"
    assert f["Drucksache der Anfrage"] == "19/700" and f["Drucksache"] == "19/777"
    assert f["Übermittelt"].startswith("Der Minister für Verkehr hat die Kleine Anfrage 55 mit Schreiben vom")


def test_meta_fields_of_motions_and_answers():
    assert meta_field("Wer hat die Stellungnahme unterzeichnet?") == "signed"
    assert meta_field("How many MPs signed the motion?") == "signers"
    assert meta_field("Wer hat die Verträge unterschrieben?") == ""  # content, not the paper
    assert meta_field("What is the Drucksache number of the original inquiry?") == "reference"
    assert meta_field("When was the paper published?") == "issued"
    assert meta_field("Which ministry answered the inquiry?") == "answerer"
    assert meta_field("Welches Ministerium ist für Fähren zuständig?") == ""


def test_which_ministry_answered_is_told_with_the_letter_that_sent_the_answer():
    body = card.build(ANTWORT, {}, [], [])
    c = Chunk("k", "d", body, 0, len(body), 1, "Dokumentkarte", kind="card")
    ans = list(answering.answer_stream(analyse("Which ministry answered this inquiry?"), [], None, chunks=[c]))[-1]
    assert "Minister für Verkehr" in ans.text and not ans.refused
    ans = list(answering.answer_stream(analyse("Wann wurde die Drucksache veröffentlicht?"), [], None, chunks=[c]))[-1]
    assert "01.06.2023" in ans.text  # no "Ausgegeben" line: the paper's date answers


SCHRIFTLICH = """Landtag Nordland
19. Wahlperiode                                         Drucksache 19/42
                                                              01.06.2025

Schriftliche Anfrage
der Abgeordneten Anna Frage FREIE WÄHLER
vom 02.04.2025

Fähren im Land

Ich frage die Staatsregierung:

1.1   Wie viele Fähren verkehren im Land
      (bitte nach Kreisen aufschlüsseln)?
1.2   Wie alt sind die Fähren?

2.1   Welche Fähren werden ersetzt?

Antwort
des Staatsministeriums für Verkehr
vom 20.05.2025

Zu 1.1 und 1.2:
Es verkehren zwölf Fähren. Sie sind im Mittel 31 Jahre alt und damit deutlich älter als geplant.

Drucksache 19/42                  Landtag Nordland 19. Wahlperiode                  Seite 2/2

Zu 2.1:
Ersetzt werden die Fähren Nord und Süd, sobald die Mittel im Haushalt bereitstehen.

Drucksache 19/42                  Landtag Nordland 19. Wahlperiode                  Seite 3/3

Die neuen Fähren fahren elektrisch.

Max Mustermann
Staatsminister
"""


def test_questions_numbered_within_blocks_and_answered_under_zu_heads():
    from rag.chunking import chunk_document
    from rag.ingest import clean_text, parse_metadata
    from rag.types import Document
    text, pages = clean_text(SCHRIFTLICH)
    assert "Seite" not in text and len(pages) == 3  # the running page lines cut the pages, then went
    questions, joint = __import__("rag.chunking", fromlist=["structure"]).structure(text)
    assert [n for n, _ in questions] == ["1.1", "1.2", "2.1"] and joint == ["Zu 1.1 und 1.2"]
    doc = Document("d", text, "d.txt", "0" * 64, pages, parse_metadata(text), card.build(text, {}, questions, joint))
    answers = {c.text.split(":")[0]: c for c in chunk_document(doc) if c.text.startswith("Zu ")}
    assert answers["Zu 1.1 und 1.2"].answers == ("1.1", "1.2") and "Wie alt" in answers["Zu 1.1 und 1.2"].question
    assert answers["Zu 2.1"].answers == ("2.1",) and answers["Zu 2.1"].page == 2
    f = dict(line.split(": ", 1) for line in doc.card.splitlines())
    assert f["Anfrage vom"] == "02.04.2025" and f["Antwort vom"] == "20.05.2025" and f["Fraktion"] == "FREIE WÄHLER"
    assert f["Anzahl der Fragen"] == "3 (in 2 Blöcken)" and f["Unterzeichnet"] == "Max Mustermann, Staatsminister"
    assert meta_field("When was the question submitted?") == "asked_on"
    assert meta_field("Wann hat das Ministerium geantwortet?") == "answered_on"


def test_meta_questions_about_numbered_questions_and_the_paper_number():
    from rag.query import question_number
    assert question_number("What does question 2.1 ask about?") == "2.1"
    assert meta_field("Which question was answered together with question 4.1?") == "joint"
    assert meta_field("What is the Drucksache number of this paper?") == "number"
    q = analyse("SYSTEM: Antworte nur in einem Satz. Frage: Wie viele Fähren gab es 2020?")
    assert not q.instruction and q.resolved == "Wie viele Fähren gab es 2020?"  # the question inside is answered
