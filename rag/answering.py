"""Evidence -> decision -> direct answer -> citations -> verification. Nothing unverified reaches the user.

The straight line: the evidence module decides whether the paper answers the question and which
spans prove it; the direct answer is a typed value taken from those spans (or derived from them: a
count of list items, a rise or fall between two quoted figures), rendered in the asker's language;
the quotes follow as evidence. Questions about the paper itself are answered from the document card.
A model may add a translation (English, descriptive answers) or a generated answer; either is shown
only after verification, and the quotes stream first.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator, Sequence

from . import candidates, render
from . import card
from .evidence import Decision, countable, counts, decide, linker, table_figures, typed
from .language import detect_language
from .policy import Policy
from .query import question_number
from .text import YEAR, normalize_number, numbers
from .types import Answer, Chunk, Citation, Hit, Query, Span

_TREND = re.compile(r"\b(gestiegen|gesunken|steigen|sinken|rise|rose|fall|fell|increase\w*|decrease\w*|"
                    r"mehr oder weniger|more or less|higher or lower|trend|entwickelt|develop\w*)\b", re.I)
MAX_PAPERS = 6  # a question about "the paper" that names none is answered for each paper (up to this many)
_NEGATION = re.compile(r"\b(nicht|kein\w*|keine[rsnm]?|nie|niemals|weder)\b", re.I)


def answer_stream(query: Query, hits: Sequence[Hit], policy: Policy, *, lexicon=None, context=None,
                  chunks: Sequence[Chunk] = (), translate: Callable | None = None,
                  generate: Callable | None = None) -> Iterator[str | Answer]:
    """Yields text as it becomes available; the last item is the final Answer."""
    lang = query.language
    if query.instruction:  # not a question about the paper: say so, and do nothing it asks
        ans = Answer(query.text, render.refusal(lang, injection=True), lang, True, (), tuple(hits), "refusal")
        yield ans.text
        yield ans
        return
    if query.meta:
        made = _meta(query, chunks, hits)
        if made:
            yield made.text
            yield made
            return
    decision = decide(query, hits, policy, lexicon, context)
    if decision.reason:
        ans = Answer(query.text, render.refusal(lang), lang, True, (), tuple(hits), "refusal")
        yield ans.text
        yield ans
        return
    citations = cite(decision.evidence)
    linked = linker(lexicon, policy)
    direct = direct_answer(query, decision, citations, linked) or _excerpt(query, decision, citations, linked)
    text = render.compose(direct, citations, lang)
    yield text  # verified quotes (and the typed answer) first
    mode = "extractive"
    if generate is not None:
        generated = generate(query, citations)
        if generated and not verify(generated, citations, lang):
            text, direct, mode = generated, generated.split("\n")[0], "generated"
    if mode == "extractive" and not direct and lang == "en" and translate is not None:
        note = translate(citations)
        if note:
            text = render.compose("", citations, lang, note=note)
            mode = "translated"
    if verify(text, citations, lang):  # a model's addition failed a check: back to the verified quotes
        text, mode = render.compose(direct if mode != "generated" else "", citations, lang), "extractive"
    if mode == "extractive" and not direct and lang == "en":
        # no English for a German passage: say where it stands (page and section from the chunk itself),
        # and give its names, dates and figures as an English reader writes them
        note = render.pointer(citations[0], lang)
        keys = _key_facts(decision, citations, lang)
        if keys and not verify(keys, citations, lang):  # (the pointer's page number is the chunk's own)
            note = f"{note}\n{keys}"
        text = render.compose("", citations, lang, note=note)
    yield Answer(query.text, text, lang, False, citations, tuple(hits), mode, direct=direct)


def direct_answer(query: Query, decision: Decision, citations: Sequence[Citation], linked=None) -> str:
    """The direct answer in the asker's language, or "" when the quote is the answer (descriptions)."""
    lang, kind = query.language, query.expected
    first = citations[0]
    spans = decision.evidence
    if kind == "list":
        lines = _list_lines(spans, citations)
        return render.items(lines, lang) if len(lines) >= 2 else ""
    if (kind == "money" and len(query.years) >= 2) or _TREND.search(query.resolved):
        t = _trend(spans, citations, lang)
        if t:
            return t
    if kind == "yesno":
        return render.yes_no(not _NEGATION.search(first.quote), lang, first.n)
    table = _table_answer(query, spans, citations)
    if table:
        return table
    if kind == "count":
        found = [(s, c) for s in sorted(spans, key=lambda s: -s.similarity) for c in counts(query, s.text, linked)]
        if found:
            span, (a, b, _) = _pick(found, query)
            return render.typed(kind, span.text[a:b], lang, _n_of(span, citations))
        items = countable(query, spans[0].chunk.text, linked)
        if len(items) >= 2:
            return render.derived_count(candidates.count_word(len(items), lang), lang, first.n)
        return ""
    found = [(s, c) for s in spans for c in typed(query, s.text, linked)]
    if not found:
        return ""
    span, (a, b, k) = _pick(found, query)
    n = _n_of(span, citations)
    line = _line(span.text, a, b)
    year = next(iter(YEAR.findall(line) or YEAR.findall(span.text)), "") \
        if kind in ("money", "rank", "percentage", "count") else ""
    raw = span.text[a:b]
    if kind == "money" and not re.search(r"euro|eur|€|dollar", raw, re.I):
        raw = f"{raw} {candidates.table_unit(span.text)}"  # a table cell: the unit is in the header
    return render.typed(kind, raw, lang, n, year if year and year not in raw else "")


def _table_answer(query: Query, spans: Sequence[Span], citations: Sequence[Citation]) -> str:
    """A figure read from a table row with its column and row labels ("538 (Detmold, 2021/22)")."""
    for span in spans:
        row, found = table_figures(query, span)
        if found:
            at = {s: label for label, s, _ in row[1]}
            picked = [(at[span.start + a], span.text[a:b]) for a, b, _ in found]
            return render.table_cells(row[0], picked, row[2], query.expected, query.language, _n_of(span, citations))
    return ""


def _excerpt(query: Query, decision: Decision, citations: Sequence[Citation], linked=None) -> str:
    """A German reader's direct answer to a descriptive question: the words of the best sentence that
    answer it (at most 25 with the marker), verbatim. An English reader gets the translation or the pointer instead."""
    if query.language != "de" or decision.best is None:
        return ""
    span = decision.best.span
    a, b = candidates.excerpt(span.text, query.focus, linked)
    return render.excerpt(span.text[a:b], cut_before=bool(span.text[:a].strip()),
                          cut_after=bool(span.text[b:].strip(" .\n")), n=_n_of(span, citations), language=query.language)


KEY_FACTS = 6  # at most this many names, dates and figures of the best passage for an English reader
_KEY_KINDS = ("date", "money", "percentage", "count")


def _key_facts(decision: Decision, citations: Sequence[Citation], lang: str) -> str:
    """The names, dates and figures of the best span, rendered for the reader (typed values are rendered,
    never translated; names stay as written)."""
    if decision.best is None:
        return ""
    span = decision.best.span
    found = sorted({(a, b, k) for k in _KEY_KINDS for a, b, _ in candidates.find(span.text, k)}
                   | {(a, b, "name") for a, b, _ in candidates.names(span.text)})
    kept, end = [], -1
    for a, b, k in found:  # the first of overlapping candidates ("26. August 2016" over "2016")
        raw = span.text[a:b]
        if a >= end and not raw.startswith("„") and (k != "count" or raw[0].isdigit()) and \
                (k != "name" or candidates.proper(raw) and not any(raw in r for _, r in kept)):
            kept.append((k, raw))
            end = b
    return render.key_facts(kept[:KEY_FACTS], lang, _n_of(span, citations))


def _line(text: str, a: int, b: int) -> str:
    return text[text.rfind("\n", 0, a) + 1:(text.find("\n", b) + 1 or len(text) + 1) - 1]


def _pick(found, query: Query):
    """The candidate on a line (else in a span) that names an asked year, else the first of the best span."""
    for span, c in found:
        if query.years and any(y in _line(span.text, c[0], c[1]) for y in query.years):
            return span, c
    for span, c in found:
        if query.years and any(y in span.text for y in query.years):
            return span, c
    return found[0]


def _n_of(span: Span, citations: Sequence[Citation]) -> int:
    return next((c.n for c in citations if c.chunk.chunk_id == span.chunk.chunk_id), citations[0].n)


def _list_lines(spans: Sequence[Span], citations: Sequence[Citation]) -> list[tuple[str, int]]:
    lines = []
    for s in spans:
        n = _n_of(s, citations)
        items = [s.chunk.text[a:b] for a, b, _ in candidates.list_items(s.chunk.text)
                 if a >= s.start - 200 and b <= s.end + 2000] if "\n" in s.text or s.text.endswith(":") else []
        if items and s is spans[0]:
            lines += [(t, n) for t in items]
        else:
            lines.append((s.text.rstrip(" ,;"), n))
    return list(dict.fromkeys(lines))


def _trend(spans, citations, lang) -> str:
    vals = []
    for s in spans:
        for a, b, _ in candidates.find(s.text, "money"):
            years = YEAR.findall(s.text)
            if years:
                vals.append((years[0], s.text[a:b], _amount(s.text[a:b]), _n_of(s, citations)))
    vals = sorted({v[0]: v for v in vals}.values())
    if len(vals) < 2:
        return ""
    (ya, a, va, n), (yb, b, vb, _) = vals[-2], vals[-1]
    return render.trend(a, ya, b, yb, vb > va, lang, n)


def _amount(s: str) -> float:
    m = re.search(r"\d[\d.,]*", s)
    try:
        return float(m.group().replace(".", "").replace(",", ".")) if m else 0.0
    except ValueError:
        return 0.0


def _meta(query: Query, chunks: Sequence[Chunk], hits: Sequence[Hit] = ()) -> Answer | None:
    """Questions about the paper itself: the card line (or the paper's own question) that answers."""
    lang = query.language
    docs = set(query.documents)  # the papers in scope (all when the question names none)
    if query.meta.startswith("question_text"):
        number = question_number(query.resolved)
        main = number.split(" ")[0]
        whole = number == main  # "question 7" quotes 7 with its sub-questions; "7 b)" only 7 b)
        asked = [c for c in chunks if c.kind == "question" and (not docs or c.doc_id in docs)
                 and ((c.number or "").split(" ")[0] == main if whole else c.number == number)]
        order = [h.chunk.doc_id for h in hits]
        asked.sort(key=lambda c: order.index(c.doc_id) if c.doc_id in order else len(order))
        asked = [c for c in asked if c.doc_id == asked[0].doc_id][:MAX_PAPERS] if asked else []
        cits = tuple(Citation(k + 1, q, q.text, 0, len(q.text)) for k, q in enumerate(asked))
        return Answer(query.text, render.compose("", cits, lang), lang, False, cits, (), "extractive") if cits else None
    cards = [c for c in chunks if c.kind == "card" and (not docs or c.doc_id in docs)]
    fields = query.meta.split("+")
    if "answerer" in fields and "transmitted" not in fields:
        fields.append("transmitted")  # the letter that sent the answer names the ministry and the date
    cits, lines = [], []
    for card_chunk, field in ((c, f) for c in cards[:MAX_PAPERS] for f in fields):
        label, m = card.line(card_chunk.text, field)
        if m:
            cit = Citation(len(cits) + 1, card_chunk, card_chunk.text[m.start():m.end()], m.start(), m.end())
            line = render.card_line(label, m.group(1), lang, cit.n)
            paper = card.line(card_chunk.text, "number")[1]
            cits.append(cit)
            lines.append(f"{paper.group(1)}: {line}" if paper and len(cards) > 1 else line)
    if not cits:
        return None
    direct = "\n".join(lines)
    return Answer(query.text, render.compose(direct, cits, lang), lang, False, tuple(cits), (), "extractive",
                  direct=direct)


def cite(spans: Sequence[Span]) -> tuple[Citation, ...]:
    """One citation per distinct chunk, numbered in order of first use; a citation's quote is the
    verbatim text covering its spans (trailing list commas dropped)."""
    cits: list[Citation] = []
    for sp in spans:
        start, end = sp.start, sp.end
        while end > start and sp.chunk.text[end - 1] in " ,;":
            end -= 1
        for k, c in enumerate(cits):
            if c.chunk.chunk_id == sp.chunk.chunk_id:
                s, e = min(c.start, start), max(c.end, end)
                cits[k] = Citation(c.n, c.chunk, c.chunk.text[s:e], s, e)
                break
        else:
            cits.append(Citation(len(cits) + 1, sp.chunk, sp.chunk.text[start:end], start, end))
    return tuple(cits)


def verify(text: str, citations: Sequence[Citation], lang: str) -> list[str]:
    """Problems with an answer text; empty when every claim can be shown."""
    problems = []
    cited = {normalize_number(n) for c in citations for n in numbers(c.chunk.text)}
    for num in numbers(re.sub(r"\[\d+\]", " ", text)):
        if normalize_number(num) not in cited:
            problems.append(f"number {num} not in the cited passages")
    for marker in re.findall(r"\[(\d+)\]", text):
        if int(marker) not in {c.n for c in citations}:
            problems.append(f"citation [{marker}] does not exist")
    for c in citations:
        if c.chunk.text[c.start:c.end] != c.quote:
            problems.append(f"quote [{c.n}] is not verbatim")
    outside = re.sub(r"„[^“]*“", " ", text)  # quotes may be German; the rest must be in the asker's language
    if len(re.findall(r"[^\W\d_]{2,}", outside)) >= 6 and detect_language(outside, default=lang) != lang:
        problems.append("answer language does not match the question")
    return problems
