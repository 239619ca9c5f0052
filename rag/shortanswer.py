"""The model's part: a short answer copied from the evidence, kept only if it passes the checks.

The in-process generator may only copy a contiguous span of the quoted evidence (task "answer" of
``TransformersGenerator``: constrained decoding), so it cannot invent a number or a name. Its choice of
span can still be wrong, so the span is kept only when it fits the question: a question for an amount or
a date gets a span with a digit, and a question naming a year gets a span that names it or follows it.
"""
from __future__ import annotations

import re
from typing import Sequence

from .text import YEAR
from .types import Citation, GenerationRequest

_NUMERIC = re.compile(r"\b(wie (hoch|viel\w*|groß)|wann|welche[mns]? (jahr|platz|rang|datum)|how (much|many|high|large)"
                      r"|when|which (year|rank|date)|what (year|rank|date)|platz|rank)\b", re.I)
MAX_SHORT = 120


def short_answer(generator, question: str, lang: str, citations: Sequence[Citation],
                 max_new_tokens: int = 24) -> str | None:
    """A verbatim span of the first citation's quote answering the question, or None."""
    if not citations:
        return None
    source = " ".join(citations[0].quote.split())
    request = GenerationRequest(task="answer", question=question.strip(), language=lang,
                                passages=((citations[0].n, source),), max_new_tokens=max_new_tokens)
    span = generator.generate(request).text.strip(" ,;:")
    return span if acceptable(span, question, source) else None


def acceptable(span: str, question: str, source: str) -> bool:
    """Checks a copied span must pass before it is shown as the short answer."""
    if not span or span not in source or len(span) > MAX_SHORT or span == source.strip(" ,;:."):
        return False
    if len(re.findall(r"\w", span)) < 2:
        return False
    at = source.find(span)
    after = source[at + len(span):at + len(span) + 1]
    if (after and (after.isalnum() or after == "-")) or (at > 0 and source[at - 1].isalnum()):
        return False  # cut inside a word ("das Historisch" of "Historisch-Technische")
    if _NUMERIC.search(question) and not re.search(r"\d", span):
        return False
    years = set(YEAR.findall(question))
    if years and YEAR.search(source):
        at = source.find(span)
        before = YEAR.findall(source[:at])
        near = set(YEAR.findall(span)) | ({before[-1]} if before else set())
        if not years & near:  # e.g. the 2015 figure offered for a question about 2016
            return False
    return True
