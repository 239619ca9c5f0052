"""Follow-up questions resolved from the conversation, by need rather than by length.

A question is resolved against the history only when it cannot stand alone: it points back
(anaphora: "it", "there", "dort", "diese"), leaves out what it is about (ellipsis: "Und 2016?",
"And the year after?"), or compares without naming the other side ("more or less than the year
before?", "Which of the two ..."). A complete new question is a topic switch and stays as it is, so
"Which universities ...?" after a trade question, or "Wie wird das Wetter morgen?", is a new question.
The previous question is itself resolved first, so older turns carry over.
"""
from __future__ import annotations

import re
from typing import Sequence

from .text import YEAR

_I = re.IGNORECASE
_ANAPHORA = re.compile(
    r"\b(es|er|ihn|ihm|ihr|ihre[nmrs]?|sein|seine[nmrs]?|dort|dorthin|damals|dabei|davon|dazu|darüber|darin|daran|"
    r"diese[rsnm]?|dies|jene[rsnm]?|derselbe|dieselbe|beide[n]?|"
    r"seitdem|seither|it|its|they|them|their|theirs|there|that|those|these|he|him|his|she|her|both|the two|the same|"
    r"said|since then|back then|at that time)\b|\b(?:denn |dann )?da\W*$", _I)
_STARTS_ELLIPTIC = re.compile(r"^\W*(und|and|also|auch|oder|or|what about|how about|und was ist mit|wie steht es mit|"
                              r"wie sieht es mit|and what about|what of)\b", _I)
_RELATIVE = re.compile(r"\b(danach|davor|vorher|zuvor|im vorjahr|vorjahr\w*|folgejahr\w*|im jahr darauf|"
                       r"the year (before|after)|the previous year|the following year|the next year|"
                       r"a year (earlier|later)|the prior year|year before|year after)\b", _I)
_NEXT = re.compile(r"\b(danach|darauf|folge\w*|nächste\w*|naechste\w*|after|following|next|later)\b", _I)
_PREV = re.compile(r"\b(davor|vorher|zuvor|vorjahr\w*|vorige\w*|before|previous|prior|earlier)\b", _I)
_COMPARE_OPEN = re.compile(r"\b(mehr oder weniger|höher oder niedriger|more or less|higher or lower|bigger or smaller|"
                           r"welche[rs]? der beiden|which of the (two|both)|im vergleich|compared)\b", _I)
_VERB_HINT = re.compile(r"\b(ist|sind|war|waren|hat|haben|hatte|gibt|gab|wird|wurde|wurden|is|are|was|were|has|have|"
                        r"had|did|does|do)\b", _I)


def needs_context(question: str) -> bool:
    """True when the question cannot stand on its own (see the module docstring)."""
    q = question.strip()
    words = re.findall(r"[^\W\d_]+", q)
    if _RELATIVE.search(q) or _COMPARE_OPEN.search(q):
        return True
    if _STARTS_ELLIPTIC.search(q) and (len(words) <= 6 or not _VERB_HINT.search(q)):
        return True
    if not words or (len(words) <= 2 and not q.rstrip("?").strip().endswith(("?",))):
        return True  # "2016?", "Wismar?"
    if _ANAPHORA.search(q) and not _self_contained(q):
        return True
    return False


def _self_contained(q: str) -> bool:
    """A pronoun that refers inside the question itself ("Gibt es ...", "there were ...", "What is it
    that ...") does not make it a follow-up: the word is expletive when it opens an existential."""
    return bool(re.search(r"\b(gibt es|gab es|es gibt|es gab|is there|are there|was there|were there|"
                          r"there (is|are|was|were))\b", q, _I)) and not re.search(
        r"\b(dort|damals|dabei|davon|dazu|diese[rsnm]?|it|its|they|them|their|that|those|these|he|his|she|her)\b",
        re.sub(r"\b(gibt es|gab es|es gibt|es gab|is there|are there|was there|were there|there (is|are|was|were))\b",
               " ", q, flags=_I), _I)


def resolve(question: str, history: Sequence[Sequence[str]] = (), force: bool = False) -> str:
    """A self-contained question for retrieval and answering (the question itself when it stands alone).

    "the year after"/"im Jahr danach" after a question naming a year becomes that question with the
    year moved by one (and both years are kept for comparisons); other follow-ups are the previous
    (resolved) question followed by this one. ``force``: read it as a follow-up even if it could stand
    alone (the pipeline does so when the question alone finds nothing close).
    """
    question = question.strip()
    turns = [(str(u).strip(), str(a)) for u, a in history if str(u).strip()]
    if not turns or not (force or needs_context(question)):
        return question
    last = resolve(turns[-1][0], turns[:-1])
    years = YEAR.findall(last) or YEAR.findall(turns[-1][1])[:1]
    if years and not YEAR.search(question) and _RELATIVE.search(question):
        year = int(years[0])
        step = 1 if _NEXT.search(question) else -1 if _PREV.search(question) else 0
        if step:
            shifted = str(year + step)
            if _COMPARE_OPEN.search(question) or re.search(r"\b(than|als)\b", question, _I):
                return f"{last} {question} ({years[0]}, {shifted})"
            base = YEAR.sub(shifted, last, count=1) if YEAR.search(last) else f"{last} {shifted}"
            return base
    return f"{last} {question}"
