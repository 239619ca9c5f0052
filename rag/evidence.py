"""Evidence and the decision to answer: which spans answer the question, and whether any does.

Answerability is a decision about the evidence, not a similarity cut-off alone: the best span must be
close to the question, mention the thing asked for (the focus, linked across languages by the
lexicon), and hold a candidate of the expected answer type (a date for "when", an amount for "how
much", ...). All thresholds come from the ``Policy``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from . import candidates
from .policy import Policy
from .query import asks_person_name, asks_person_role, counted
from .text import LABELLED, YEAR, evidence_units
from .types import Hit, Query, Span

POOL_HITS = 5  # spans are taken from the top hits only
FOCUS_WEIGHT = 0.3  # how much the share of linked focus words adds to a span's score
TYPE_WEIGHT = 0.3  # and a candidate of the expected type
NAME_PENALTY = 0.3  # and a name asked about (that the paper has elsewhere) missing from the span takes off
CONTINUATION_CHARS = 450  # a following sentence of the same paragraph is quoted too, up to this length
LEAD_CHARS = 200  # the words before a list's first item that say what its items are
NUMERIC = ("money", "count", "percentage")  # kinds a table's figures answer
TYPED = ("person", "organisation", "name", "place", "date", "money", "count", "percentage", "rank")
_CONNECTIVE = re.compile(r"^(Daher|Deshalb|Deswegen|Dabei|Dies|Diese[rsm]?|Dazu|Darüber hinaus|Somit|Damit|Hierbei|"
                         r"Hierzu|Dadurch|Dafür|Trotzdem|Dennoch|Allerdings|Auch diesbezüglich)\b")


@dataclass
class Scored:
    span: Span
    coverage: float  # share of focus words the span (with its heading) mentions
    missing: str = ""  # a name asked about that the paper has elsewhere but this span's passage lacks
    found: list = field(default_factory=list)  # typed candidates (start, end, kind) in span.text
    rank: float = 0.0


@dataclass
class Decision:
    evidence: list[Span]  # what to quote, in order
    best: Scored | None
    reason: str = ""  # why to refuse; "" to answer
    features: dict = field(default_factory=dict)  # for calibration


def decide(query: Query, hits: Sequence[Hit], policy: Policy, lexicon=None, context=None) -> Decision:
    linked = linker(lexicon, policy)
    pool = _score(query, hits, policy, lexicon, context, linked)
    if not pool:
        return Decision([], None, "no evidence")
    best = max(pool, key=lambda s: s.rank)
    similarity = max(s.span.similarity for s in pool)
    feats = {"similarity": similarity, "best_similarity": best.span.similarity, "coverage": best.coverage,
             "typed": bool(best.found) or query.expected not in TYPED, "links": _links(query, best, lexicon, context)}
    evidence = select(query, pool, best, policy)
    min_similarity, min_focus, strong = policy.for_language(query.language)
    reason = ""
    if similarity < min_similarity:
        reason = "nothing in the paper is close to the question"
    elif best.missing:
        reason = f"the evidence does not mention {best.missing}"
    elif best.coverage < min_focus and best.span.similarity < strong:
        reason = "the evidence does not mention what is asked for"
    elif query.expected in TYPED and not any(_holds_type(query, e, linked) for e in evidence):
        reason = f"the evidence holds no {query.expected}"
    elif query.years and _missing_year(query, evidence):
        reason = "a year asked for is not in the evidence"
    return Decision(evidence, best, reason, feats)


def linker(lexicon, policy: Policy):
    """``linked(word, text)``: does ``text`` mention ``word`` (see ``Lexicon.link``)? None without a lexicon."""
    if lexicon is None:
        return None
    return lambda word, text: lexicon.link([word], text)[0] >= policy.word_link


def _score(query: Query, hits: Sequence[Hit], policy: Policy, lexicon, context, linked=None) -> list[Scored]:
    pool = []
    names = [f for f in query.focus if _name_like(f, query) and lexicon is not None and f.lower() in lexicon.row]
    for hit in hits[:POOL_HITS]:
        if hit.chunk.kind in ("question", "card", "meta"):
            continue  # the asker's questions and the header are not evidence for the answer
        passage = " ".join((*hit.chunk.heading, hit.chunk.text))
        missing = next((f for f in names if lexicon.link([f], passage, names=True)[0] < policy.word_link), "")
        for span in hit.spans:
            text = context(span) if context else span.text
            coverage = lexicon.coverage(query.focus, text, policy.word_link)[0] if (lexicon and query.focus) else 1.0
            found = typed(query, span.text, linked) or cells(query, span)
            rank = span.score + FOCUS_WEIGHT * coverage + TYPE_WEIGHT * bool(found) - NAME_PENALTY * bool(missing)
            pool.append(Scored(span, coverage, missing, found, rank))
    return pool


def _name_like(word: str, query: Query) -> bool:
    """A name rather than a common word: capitalised inside an English question, or (in any language)
    written with capitals or digits after its first letter ("IHATEC", "NIP-Programm", "A20")."""
    if re.search(r".[A-ZÄÖÜ0-9]", word):
        return True
    return query.language == "en" and word[:1].isupper() and not re.match(rf"\W*{re.escape(word)}\b", query.resolved)


def _links(query, best, lexicon, context) -> list[float]:
    if not (lexicon and query.focus and best):
        return []
    return lexicon.link(query.focus, context(best.span) if context else best.span.text)


def typed(query: Query, text: str, linked=None) -> list:
    """Candidates of the expected answer type in ``text``: (start, end, kind)."""
    kind = query.expected
    if kind == "count":
        return counts(query, text, linked) or candidates.find(text, "list")
    if kind in ("person", "organisation"):
        found = candidates.find(text, "person") if kind == "person" and asks_person_role(query.resolved) \
            else candidates.agents(text)  # "who is the president" is not answered by the association
        return [c for c in found if not _restates(query, text[c[0]:c[1]], linked)]
    if kind == "name":
        return candidates.names(text, people_only=asks_person_name(query.resolved))
    return candidates.find(text, kind)


def _restates(query: Query, candidate: str, linked=None) -> bool:
    """A role phrase that only repeats what the question names ("der Botschafter der Republik X" for
    "Who is X's ambassador?"): every focus word is in it, so it tells the asker nothing new."""
    if not re.match(r"(der|die|des|dem|den)\s", candidate) or not query.focus:
        return False
    mentions = linked or candidates.shares_stem
    return all(mentions(f, candidate) for f in query.focus)


def counts(query: Query, text: str, linked=None) -> list:
    """Counts in ``text`` of the thing asked about ("31 Projekte" for "how many projects", not "47
    Wasserstoffprojekte" for "how many programmes"); every count when the question names no thing."""
    found = candidates.find(text, "count")
    nouns = counted(query.resolved)
    if nouns and linked:
        found = [c for c in found if any(linked(n, text[c[0]:c[1]]) for n in nouns)]
    return found


def table_figures(query: Query, span: Span) -> tuple[tuple | None, list]:
    """The table row the span is (``candidates.table_row``) and its figures for a question asking for
    a number (offsets into span.text): the columns naming an asked year, else every column."""
    if query.expected not in NUMERIC:
        return None, []
    row = candidates.table_row(span.chunk.text, span.start)
    if not row or not span.start <= row[1][0][1] < span.end + 1:
        return None, []
    asked = [c for c in row[1] if any(c[0].startswith(y) for y in query.years)]
    return row, [(s - span.start, e - span.start, query.expected) for _, s, e in (asked or row[1])]


def cells(query: Query, span: Span) -> list:
    return table_figures(query, span)[1]


def _holds_type(query: Query, span: Span, linked=None) -> bool:
    if query.expected == "count" and countable(query, span.chunk.text, linked):
        return True
    return bool(typed(query, span.text, linked) or cells(query, span))


def countable(query: Query, text: str, linked=None) -> list:
    """The list items of ``text`` to count for "how many": only when the words introducing the list
    name the thing counted ("folgende Hochschulen:" for "Wie viele Hochschulen ...?"; not a list of
    measures for "how many helpers", though one measure is about helpers)."""
    items = candidates.counted_items(text, query.focus)
    nouns = counted(query.resolved)
    if len(items) < 2 or not nouns:
        return items
    lead = text[max(0, items[0][0] - LEAD_CHARS):items[0][0]]
    mentions = linked or candidates.shares_stem
    return items if any(mentions(n, lead) for n in nouns) else []


_PERIOD = re.compile(r"\b((?:19|20)\d\d)\s?/\s?((?:19|20)?\d\d)\b")  # a school or monitoring year: "2022/23"


def _missing_year(query: Query, evidence: Sequence[Span]) -> bool:
    """A year asked for is not in the passages quoted; a period ("2024/25") must stand there as one."""
    near = " ".join(e.chunk.text for e in evidence)
    periods = [rf"\b{a}\s?/\s?(?:{a[:2]})?{b[-2:]}\b" for a, b in _PERIOD.findall(query.resolved)]
    return any(y not in near for y in query.years) or any(not re.search(p, near) for p in periods)


def select(query: Query, pool: list[Scored], best: Scored, policy: Policy) -> list[Span]:
    """The spans to quote: the best one, its neighbours when they score close (and the sentence before
    a sentence that opens with a connective such as "Daher"), a close second from another passage,
    every asked year, and for list questions the matching spans of every passage."""
    chosen = [best.span]
    chunk = best.span.chunk
    units = evidence_units(chunk.text)
    i = next((k for k, (s, _) in enumerate(units) if s == best.span.start), None)
    if i is not None:
        if i > 0 and _CONNECTIVE.match(best.span.text):
            chosen.insert(0, Span(chunk, *units[i - 1]))
        if i + 1 < len(units):  # the next sentence when it goes on in the same paragraph and stays short
            (s, e), (ns, ne) = units[i], units[i + 1]
            if "\n" not in chunk.text[e:ns] and not LABELLED.match(chunk.text[ns:ne]) and ne - s <= CONTINUATION_CHARS:
                chosen.append(Span(chunk, ns, ne))
    siblings = {s.span.start: s for s in pool if s.span.chunk.chunk_id == chunk.chunk_id}
    if i is not None:
        for j, margin in ((i + 1, policy.next_margin), (i - 1, policy.previous_margin)):
            sib = siblings.get(units[j][0]) if 0 <= j < len(units) else None
            if sib and sib.rank >= best.rank - margin:
                chosen.append(sib.span)
    others = sorted((s for s in pool if s.span.chunk.chunk_id != best.span.chunk.chunk_id), key=lambda s: -s.rank)
    if query.expected == "list":
        seen = {best.span.chunk.chunk_id}
        for s in others:
            if s.rank >= best.rank - policy.list_margin and s.coverage >= policy.min_focus \
                    and s.span.chunk.chunk_id not in seen and len(seen) < 6:
                seen.add(s.span.chunk.chunk_id)
                chosen.append(s.span)
    elif others and others[0].rank >= best.rank - policy.second_margin:
        chosen.append(others[0].span)
    row = table_figures(query, best.span)[0]
    if row:  # a table's figure is quoted with the header that says what its columns are
        end = chunk.text.find("\n", row[3])
        chosen.insert(0, Span(chunk, row[3], end if end > 0 else len(chunk.text), best.span.score, best.span.similarity))
    have = {y for s in chosen for y in YEAR.findall(s.text)}
    for y in query.years:
        if y not in have:
            s = next((s for s in sorted(pool, key=lambda s: -s.rank) if y in YEAR.findall(s.span.text)), None)
            if s and s.span not in chosen:
                chosen.append(s.span)
    return _ordered(chosen)


def _ordered(spans: list[Span]) -> list[Span]:
    """Spans of one chunk in text order, chunks in order of first use; no duplicates."""
    out: list[Span] = []
    for s in spans:
        if any(o.chunk.chunk_id == s.chunk.chunk_id and o.start == s.start for o in out):
            continue
        out.append(s)
    first = {}
    for k, s in enumerate(out):
        first.setdefault(s.chunk.chunk_id, k)
    return sorted(out, key=lambda s: (first[s.chunk.chunk_id], s.start))
