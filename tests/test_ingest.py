"""Loading and cleaning sources (rag/ingest.py): the real paper, hand-made strings, bad inputs, PDFs."""
from __future__ import annotations

import hashlib
import io
import json

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from rag.config import REPO
from rag.errors import InputError
from rag.ingest import clean_text, load_document, parse_metadata

CORPUS = REPO / "corpus" / "drucksache-7-844.txt"
FILLER = "Dieser Satz dient nur dazu, die Zeile so lang wie im echten Dokument zu machen, "


@pytest.fixture(scope="module")
def doc():
    return load_document(CORPUS)


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with one text line per entry, in Helvetica (WinAnsi), one list per page."""
    writer = PdfWriter()
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"), NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    })
    for lines in pages:
        page = writer.add_blank_page(width=595, height=842)
        ops = ["BT", "/F1 10 Tf", "13 TL", "60 780 Td"]
        for line in lines:
            raw = line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
            ops.append(f"({raw.decode('latin-1')}) Tj T*")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops + ["ET"]).encode("latin-1"))
        page.replace_contents(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# ---------------------------------------------------------------- the real paper

def test_document_identity(doc):
    assert doc.doc_id == "drucksache-7-844"
    assert doc.sha256 == hashlib.sha256(CORPUS.read_bytes()).hexdigest()
    assert doc.source.endswith("drucksache-7-844.txt")


def test_pages_of_the_real_paper(doc):
    assert len(doc.page_starts) == 4
    assert doc.page_starts[0] == 0
    assert doc.text.startswith("Der Chef der Staatskanzlei hat namens der Landesregierung")
    assert doc.text[doc.page_starts[1]:].startswith("Die Fragen 1, 2, 2 a) und 2 b) werden zusammenhängend")
    assert doc.text[doc.page_starts[2]:].startswith("Verkehr\n\nKasachstan ist ein wichtiger Knotenpunkt")
    assert doc.text[doc.page_starts[3]:].startswith("3. Wie stellt sich die Landesregierung")


def test_metadata_from_text_and_sidecar(doc):
    m = doc.metadata
    assert m["asker"] == "Holger Arppe" and m["party"] == "AfD"
    assert m["title"] == "Beziehungen von Mecklenburg-Vorpommern zur Republik Kasachstan"
    assert m["transmitted"] == "25. Juli 2017"
    assert m["drucksache"] == "7/844" and m["wahlperiode"] == 7 and m["date"] == "26.07.2017"
    assert m["parliament"] == "Landtag Mecklenburg-Vorpommern"
    assert m["kind"] == "Kleine Anfrage und Antwort der Landesregierung"
    assert m["pages"] == 4 and m["format"] == "txt"


@pytest.mark.parametrize("expected", [
    "Mitgliedern der Landesregierung zu Repräsentanten",  # "Landes-" + "regierung"
    "das Historisch-Technische Museum Peenemünde",  # "Historisch-" + "Technische"
    "zwischen Kasachstan und Mecklenburg-Vorpommern wurde",  # "Mecklenburg-" + "Vorpommern"
    "der Wirtschafts-, Handels-, Kultur- und Bildungspolitik Kontakte",  # "Kultur- " + "und"
    "Wirtschafts-, Handels-, Kultur- und Bildungspolitik aus Sicht",  # "Handels-, " + "Kultur-"
    "die Herstellung von Kontakt- und Kooperationsanbahnungen für",
    "aus den Bereichen Erneuerbaren Energien, Hafen- und Logistikwirtschaft",
    "Anerkennung von Studien- und Prüfungsleistungen",
    "im Rahmen der chinesischen „Ein Gürtel, eine Straße“-Initiative.",
])
def test_hyphenation_in_the_real_paper(doc, expected):
    assert expected in doc.text


def test_clean_text_shape(doc):
    assert "Landes-regierung" not in doc.text and "Landes- regierung" not in doc.text
    assert "\n\n\n" not in doc.text and " \n" not in doc.text and "\n " not in doc.text
    assert doc.text == doc.text.strip()
    paragraphs = doc.text.split("\n\n")
    assert "Vorbemerkung:" in paragraphs and "Verkehr" in paragraphs and "ANTWORT" in paragraphs
    assert ("Die Republik Kasachstan gehört nicht zu den Schwerpunkten der internationalen Beziehungen "
            "des Landes Mecklenburg-Vorpommern. Die Antworten beziehen sich auf die Jahre 2015 bis 2017.") in paragraphs
    assert ("Jahr 2015: 12,811 Mio. Euro (Platz 75),\nJahr 2016: 5,458 Mio. Euro (Platz 98),\n"
            "Januar bis April 2017: 1,844 Mio. Euro.") in paragraphs
    assert "Hochschule Wismar\nPartnerschaften im Bereich Wirtschaft mit:\n- Kostanay State University,\n" in doc.text
    assert "a) Welchem Zweck dienten diese Begegnungen?\nb) Welche Ergebnisse brachten sie hervor?" in paragraphs
    assert "„Neuen Seidenstraße“" in doc.text


# ---------------------------------------------------------------- hand-made strings

@pytest.mark.parametrize("raw, expected", [
    (FILLER + "Landes-\nregierung hat entschieden.", "Landesregierung hat"),
    (FILLER + "Kooperations-\nanbahnungen wurden gemacht.", "Kooperationsanbahnungen wurden"),
    (FILLER + "Mecklenburg-\nVorpommern liegt am Meer.", "Mecklenburg-Vorpommern liegt"),
    (FILLER + "Historisch-\nTechnische Museum.", "Historisch-Technische Museum"),
    (FILLER + "Kultur-\nund Bildungspolitik.", "Kultur- und Bildungspolitik"),
    (FILLER + "Ein-\noder Ausfuhr.", "Ein- oder Ausfuhr"),
    (FILLER + "Wirtschafts-, Handels-,\nKultur- und Bildungspolitik.", "Wirtschafts-, Handels-, Kultur- und"),
    (FILLER + "das deutsch-\nrussische Verhältnis.", "das deutsch-russische Verhältnis"),
    (FILLER + "im Jahr COVID-\n19 und danach.", "COVID-19 und"),
    (FILLER + "eine Erwei\u00ad\nterung der Liste.", "eine Erweiterung der"),
    (FILLER + "ein Gedanken -\nstrich bleibt.", "Gedanken - strich"),
])
def test_hyphenation_rules(raw, expected):
    text, _ = clean_text(raw)
    assert expected in text


def test_doubled_blank_lines_are_not_paragraph_breaks():
    raw = ("Die Republik gehört nicht zu den Schwerpunkten der internationalen Beziehungen \n\n"
           "des Landes. Die Antworten beziehen sich auf die Jahre 2015 bis \n\n2017. \n\n \n\n"
           "Wirtschaft \n\n \n\nDer Handel ist gering und in den vergangenen zwei Jahren \n\nrückläufig: \n\n \n\n"
           "Jahr 2015: 12,811 Mio. Euro, \n\nJahr 2016: 5,458 Mio. Euro. \n\n")
    text, pages = clean_text(raw)
    assert text.split("\n\n") == [
        "Die Republik gehört nicht zu den Schwerpunkten der internationalen Beziehungen des Landes. "
        "Die Antworten beziehen sich auf die Jahre 2015 bis 2017.",
        "Wirtschaft",
        "Der Handel ist gering und in den vergangenen zwei Jahren rückläufig:",
        "Jahr 2015: 12,811 Mio. Euro,\nJahr 2016: 5,458 Mio. Euro.",
    ]
    assert pages == (0,)


def test_plain_text_blank_lines_are_paragraph_breaks():
    raw = ("Erster Absatz auf einer langen Zeile, der nicht umbrochen wurde und zwei Sätze hat. Noch einer.\n\n"
           "Zweiter Absatz, ebenfalls lang und ohne jeden Umbruch in der Zeile geschrieben, wie üblich.\n")
    text, _ = clean_text(raw)
    assert text.count("\n\n") == 1


def test_list_items_keep_their_lines():
    raw = (FILLER + "wie folgt:\n- Kostanay State University,\n- Rudniy Industrial Institute,\n"
           "- Boashak Academy Kazakhstan.\n")
    text, _ = clean_text(raw)
    assert text.endswith("wie folgt:\n- Kostanay State University,\n- Rudniy Industrial Institute,\n"
                         "- Boashak Academy Kazakhstan.")


def test_a_date_at_a_line_start_is_not_a_list_item():
    text, _ = clean_text(FILLER + "Veranstaltung am\n29. März 2017 (siehe unten) und danach.")
    assert "Veranstaltung am 29. März 2017" in text


def test_form_feeds_split_pages_and_running_headers_go():
    body = "Dieser Absatz beginnt auf der ersten Seite und wird auf der nächsten Seite ohne Bruch fortgesetzt"
    raw = ("Drucksache 7/1 Landtag - 7. Wahlperiode 1\n" + body + "\f"
           "Drucksache 7/1 Landtag - 7. Wahlperiode 2\nund endet hier.\n\fDrucksache 7/1 Landtag - 7. Wahlperiode 3\n"
           "Dritte Seite.\n")
    text, pages = clean_text(raw)
    assert "Wahlperiode" not in text
    assert body + " und endet hier." in text
    assert len(pages) == 3 and text[pages[1]:].startswith("und endet hier.")
    assert text[pages[2]:] == "Dritte Seite."


def test_parse_metadata_of_an_unrelated_text():
    meta = parse_metadata("Ein Brief ohne Angaben.")
    assert meta["asker"] is None and meta["drucksache"] is None and meta["title"] is None


# ---------------------------------------------------------------- bad inputs

def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_document(tmp_path / "nope.txt")


def test_directory(tmp_path):
    d = tmp_path / "dir.txt"
    d.mkdir()
    with pytest.raises(InputError, match="directory"):
        load_document(d)


@pytest.mark.parametrize("content", [b"", b"  \n\n \t\n"])
def test_empty_file(tmp_path, content):
    f = tmp_path / "empty.txt"
    f.write_bytes(content)
    with pytest.raises(InputError, match="empty"):
        load_document(f)


def test_binary_file(tmp_path):
    f = tmp_path / "bin.txt"
    f.write_bytes(b"abc\x00\x01\x02def")
    with pytest.raises(InputError, match="binary.*offset 3"):
        load_document(f)


def test_non_utf8_file(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("Außenhandel".encode("latin-1"))
    with pytest.raises(InputError, match=r"not UTF-8.*0xdf at offset 2"):
        load_document(f)


@pytest.mark.parametrize("name", ["paper.docx", "paper", "paper.html"])
def test_unsupported_extension(tmp_path, name):
    f = tmp_path / name
    f.write_text("Text", encoding="utf-8")
    with pytest.raises(InputError, match="unsupported file type"):
        load_document(f)


def test_pdf_without_text(tmp_path):
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    f = tmp_path / "blank.pdf"
    with open(f, "wb") as fh:
        writer.write(fh)
    with pytest.raises(InputError, match="no extractable text"):
        load_document(f)


def test_not_really_a_pdf(tmp_path):
    f = tmp_path / "fake.pdf"
    f.write_bytes(b"just some text pretending")
    with pytest.raises(InputError, match="not a PDF"):
        load_document(f)


def test_errors_are_one_line(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"\xff\xfe\x00x")
    with pytest.raises(InputError) as err:
        load_document(f)
    assert "\n" not in str(err.value)


def test_bad_sidecar(tmp_path):
    f = tmp_path / "paper.txt"
    f.write_text("Ein kurzer Text.", encoding="utf-8")
    (tmp_path / "paper.meta.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="metadata"):
        load_document(f)


def test_sidecar_overrides_and_adds(tmp_path):
    f = tmp_path / "paper.txt"
    f.write_text("des Abgeordneten Erika Muster, Fraktion der SPD\n\nEin Titel\n", encoding="utf-8")
    (tmp_path / "paper.meta.json").write_text(json.dumps({"drucksache": "8/1", "party": "SPD-Fraktion"}))
    meta = load_document(f).metadata
    assert meta["drucksache"] == "8/1" and meta["party"] == "SPD-Fraktion"
    assert meta["asker"] == "Erika Muster" and meta["title"] == "Ein Titel"


# ---------------------------------------------------------------- PDF

def test_pdf_pages_and_cleaning(tmp_path):
    f = tmp_path / "tiny.pdf"
    f.write_bytes(make_pdf([
        ["Die Landes-", "regierung hat am 26. August 2016 geantwortet.", "Der Außenhandel sank."],
        ["Seite zwei beginnt hier.", "Mecklenburg-", "Vorpommern ist schön."],
    ]))
    d = load_document(f)
    assert d.doc_id == "tiny" and d.metadata["format"] == "pdf" and d.metadata["pages"] == 2
    assert "Die Landesregierung hat am 26. August 2016 geantwortet." in d.text
    assert "Außenhandel" in d.text and "Mecklenburg-Vorpommern ist schön." in d.text
    assert len(d.page_starts) == 2
    assert d.text[d.page_starts[1]:].startswith("Seite zwei beginnt hier.")
    assert d.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()


def test_table_rows_keep_their_lines():
    row = "{:<30}{:>15}{:>15}{:>15}\n"
    raw = ("Die Tabelle zeigt die Zahl der Fähren im Land, die in den vergangenen Jahren im Liniendienst\n"
           "eingesetzt waren, getrennt nach den Kreisen des Landes und nach den Jahren der Erhebung:\n"
           + row.format("Kreis", "2019", "2020", "2021") + row.format("Nordkreis", 11, 12, 14)
           + row.format("Südkreis", 6, 7, 9) + "Quelle: eigene Erhebung der Verwaltung, die jedes Jahr zum Stichtag\n"
           "1. Februar erfolgt und die alle Fähren des Landes erfasst, auch die der privaten Betreiber.")
    text, _ = clean_text(raw)
    assert "\n" + row.format("Nordkreis", 11, 12, 14) + "Südkreis" in text


def test_a_numbered_question_opening_a_page_is_not_glued_to_the_footer():
    raw = ("Die Veröffentlichungen des Landtags sind im Internet abrufbar unter www.landtag.example\f"
           "1.   Wie viele Fähren gibt es?\n\nEs gibt zwölf Fähren.")
    text, _ = clean_text(raw)
    assert "\n\n1.   Wie viele Fähren gibt es?" in text


def test_a_list_going_on_over_a_page_break_stays_one_list():
    raw = ("Gefördert werden folgende Vorhaben:\n• Fährhafen Nord,\n• Fährhafen Süd,\f"
           "• Fährhafen West.\n\nWeitere Vorhaben sind geplant.")
    text, _ = clean_text(raw)
    assert "• Fährhafen Süd,\n• Fährhafen West." in text
