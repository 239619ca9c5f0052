"""Follow-up questions resolved from the conversation before retrieval ("Und im Jahr danach?")."""
from __future__ import annotations

import re
from typing import Sequence

from .text import YEAR

_ANAPHORA = re.compile(
    r"\b(danach|davor|vorher|nachher|diese[rsnm]?|dies|dort|damals|deren|dessen|ihnen|sie|davon|dazu|"
    r"those|these|they|them|their|it|its|there|then|after|before|following|previous)\b"
    r"|^\s*(und|and|also|auch|what about|how about|wie steht)\b",
    re.IGNORECASE,
)
_NEXT = re.compile(r"\b(danach|darauf|folgend\w*|nächste\w*|naechste\w*|after|following|next|later)\b", re.I)
_PREV = re.compile(r"\b(davor|vorher|zuvor|vorige\w*|before|previous|prior|earlier)\b", re.I)


def is_followup(question: str) -> bool:
    words = re.findall(r"\w+", question)
    return len(words) <= 6 or bool(_ANAPHORA.search(question[:40]))


def resolve(question: str, history: Sequence[Sequence[str]] = ()) -> str:
    """A self-contained question for retrieval and answering.

    With no history, or a question that stands on its own, the question is returned unchanged.
    "the year after"/"im Jahr danach" after a question naming a year becomes that question with
    the year moved by one; other follow-ups are prefixed with the previous user turn.
    """
    question = question.strip()
    previous = [turn[0] for turn in history if turn and str(turn[0]).strip()]
    if not previous or not is_followup(question):
        return question
    last = str(previous[-1]).strip()
    years = YEAR.findall(last)
    if years and not YEAR.search(question):
        year = int(years[0])
        step = 1 if _NEXT.search(question) else -1 if _PREV.search(question) else 0
        if step:
            return YEAR.sub(str(year + step), last, count=1)
    return f"{last} {question}"
