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
