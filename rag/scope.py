"""Which paper a question is about, when the index holds several.

A paper is in scope when the question uses a word that this paper uses and the others do not
("Kasachstan", "hydrogen" ~ "Wasserstoff"). A question without such a word takes the scope of the
conversation: the previous turns, newest first. Otherwise every paper is in scope, and questions
about "the paper" are answered for each of them.
"""
from __future__ import annotations

from typing import Sequence

from .query import PAPER_WORDS, focus_words
from .text import fold
from .types import Hit, Query


def documents(query: Query, lexicon, threshold: float) -> set[str] | None:
    """The ids of the papers the question is about, or None for all of them. The question decides
    first; the conversation (newest turn first) narrows a tie or decides when the question cannot."""
    if lexicon is None or len(getattr(lexicon, "documents", ())) < 2:
        return None
    asked = list(dict.fromkeys((query.text, query.resolved)))
    past = [t for u, a in reversed(query.history) for t in (u, a)]
    every = set(lexicon.documents)
    scope = set(every)
    for text in asked + past:
        focus = focus_words(text)
        if query.meta and text in asked:  # "who submitted it?": the words about a paper name none
            focus = tuple(w for w in focus if fold(w) not in PAPER_WORDS)
        mentions = {d: m for d, m in lexicon.mentions(focus, threshold).items() if d in scope}
        found = distinctive(focus, mentions)
        if found:
            scope = found
            if len(scope) == 1:
                break
    return scope if scope != every else None


def distinctive(focus: Sequence[str], mentions: dict[str, list[bool]]) -> set[str]:
    """Papers using a focus word that not every paper uses (the ones using the most such words)."""
    if not focus or len(mentions) < 2:
        return set()
    only = [i for i in range(len(focus)) if 0 < sum(m[i] for m in mentions.values()) < len(mentions)]
    score = {d: sum(m[i] for i in only) for d, m in mentions.items()}
    best = max(score.values(), default=0)
    return {d for d, s in score.items() if s == best} if best else set()


def restrict(hits: Sequence[Hit], docs: set[str] | None) -> list[Hit]:
    """The hits of the papers in scope (all hits when no paper is singled out or none would be left)."""
    if not docs:
        return list(hits)
    kept = [h for h in hits if h.chunk.doc_id in docs]
    return kept or list(hits)
