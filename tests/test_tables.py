"""Figures in a table whose header gives the money unit, on a made-up paper (no models)."""
from __future__ import annotations

from rag import answering, candidates
from rag.policy import Policy
from rag.query import analyse
from rag.types import Chunk, Hit, Span

TABLE = ("Die Mittel stellen sich wie folgt dar:\n\nJahr\nBewilligte Mittel\n(in Mio. Euro)\n"
         "2019 1,5 1,0\n2020 2,75 2,0\n2021 4,25 3,5\nSumme 8,5 6,5")


def test_a_table_row_is_money_when_the_header_gives_the_unit():
    assert candidates.table_unit(TABLE) == "Mio. Euro"
    assert [TABLE[a:b] for a, b, _ in candidates.find(TABLE, "money")] == ["1,5", "2,75", "4,25", "8,5"]
    assert candidates.find("2019 1,5 1,0", "money") == []  # no header, no unit: not money


def test_the_row_of_the_asked_year_is_the_answer_with_its_unit():
    chunk = Chunk("t", "d", TABLE, 0, len(TABLE), 2, "Antwort zu Frage 2")
    hit = Hit(chunk, 1.0, (Span(chunk, 0, len(TABLE), 0.7, 0.7),), 0.7)
    q = analyse("How much money was approved in 2020?")
    a = list(answering.answer_stream(q, [hit], Policy(min_similarity=0.2, min_focus=0.0)))[-1]
    assert a.direct.startswith("According to the paper: EUR 2.75 million (in 2020)")
    assert not answering.verify(a.text, a.citations, "en")


GRID = ("Unbesetzte Stellen nach Bezirken (Anzahl)\n\nBezirk          2020/21        2021/22\n"
        "Nordkreis          412            538\nSüdkreis           298            365\nInsgesamt        1.874          2.335\n")
GRID_CHUNK = Chunk("g", "d", GRID, 0, len(GRID), 3, "Antwort zu Frage 1")


def _ask_row(question, line):
    at = GRID.index(line)
    hit = Hit(GRID_CHUNK, 1.0, (Span(GRID_CHUNK, at, at + len(line), 0.7, 0.7),), 0.7)
    return list(answering.answer_stream(analyse(question), [hit], Policy(min_similarity=0.2, min_focus=0.0)))[-1]


def test_a_column_aligned_table_is_read_by_row_and_column():
    label, cols, unit, header_at = candidates.table_row(GRID, GRID.index("Südkreis") + 2)
    assert (label, unit) == ("Südkreis", "Anzahl") and [c[0] for c in cols] == ["2020/21", "2021/22"]
    assert [GRID[s:e] for _, s, e in cols] == ["298", "365"] and GRID[header_at:].startswith("Bezirk ")
    assert candidates.table_row(GRID, GRID.index("Unbesetzte")) is None  # a title is no row
    assert candidates.table_row("Am 3. Mai 2020 kamen 40 Gäste.", 5) is None


def test_the_cell_of_the_asked_row_and_year_is_the_answer_quoted_with_its_header():
    a = _ask_row("Wie viele Stellen waren 2021/22 im Südkreis unbesetzt?", "Südkreis           298            365")
    assert a.direct == "Laut der Drucksache: 365 (Südkreis, 2021/22) [1]."
    assert a.citations[0].quote.startswith("Bezirk") and a.citations[0].quote.endswith("365")
    en = _ask_row("How many posts were vacant in total in 2020/21?", "Insgesamt        1.874          2.335")
    assert en.direct == "According to the paper: 1,874 (Insgesamt, 2020/21) [1]."
    assert not answering.verify(en.text, en.citations, "en")
    every = _ask_row("Wie viele Stellen waren im Nordkreis unbesetzt?", "Nordkreis          412            538")
    assert "2020/21: 412; 2021/22: 538" in every.direct  # no year asked: every column
