"""Document -> chunks that follow its structure. Pure: no I/O, no models.

A chunk is a paragraph or a list, with what belongs to it merged in: a heading before it, a
paragraph introducing it ("... rückläufig:"), a fragment too small to stand alone. Chunks never
cut a sentence; a span longer than ``MAX_CHARS`` is split at sentence (or list line) boundaries.

Kleine/Große Anfragen are recognised by their numbered questions ("1. Gab es ...?"), and chunks
get section paths ("Frage 2", "Antwort zu Fragen 1, 2, 2 a) und 2 b) > Verkehr", "Vorbemerkung")
and, for answers, the text of the questions they answer. Other documents get paragraphs, short
heading lines as sections, and page numbers.

Invariant: ``doc.text[chunk.start:chunk.end] == chunk.text`` for every chunk.
"""
from __future__ import annotations

import bisect
import hashlib
import math
import re
from dataclasses import dataclass

from .text import LIST_ITEM_RE, MONTHS, NESTED_ITEM, split_sentences
from .types import Chunk, Document

__all__ = ["CHUNKER_VERSION", "MAX_CHARS", "chunk_document", "chunk_id"]

CHUNKER_VERSION = "4"  # bump whenever chunk_document's output changes
MAX_CHARS = 1000  # a longer span is split at sentence boundaries
MIN_CHARS = 100  # a shorter fragment is merged with what follows (or precedes) it

_PARA = re.compile(r"\S(?:.*\S)?(?:\n[ \t]*\S(?:.*\S)?)*")  # lines up to a blank line
_QUESTION = re.compile(r"(\d{1,2}\.\d{1,2}|\d{1,2}(?=\.))\.?\s+(\S+)")  # "3. Wie ...", "1.2 Wie ..." (Bavaria)
_NESTED = re.compile("^" + NESTED_ITEM.pattern, re.M)  # a line opening a question numbered "1.2"
_NUMBER = r"\d{1,2}(?:\.\d{1,2})?(?:\s*[a-z]\))?"
_ZU = re.compile(rf"Zu (?:den )?(?:Fragen? )?({_NUMBER}(?:\s*(?:,|und|bis|sowie)\s*{_NUMBER})*)\.?:")  # "Zu 1.1 und 1.2:"
_SUBQUESTION = re.compile(r"[a-z]\)\s")
_JOINT = re.compile(r"Die Fragen (.+?) werden (?:[\w ]{0,60}? )?(?:gemeinsam|zusammenhängend|zusammen) beantwortet")
_PREFACE = re.compile(r"Vorbemerkung(?:en)?(?: de[rs] [\w\- ]{3,40})?:?")
_ANFRAGE = re.compile(r"(KLEINE|GROSSE|GROẞE) ANFRAGE")


@dataclass
class _Para:
    start: int
    end: int
    text: str
    kind: str  # paragraph | list | heading | question | meta
    section: str
    question: str
    block: int  # paragraphs of different blocks (meta, preface, one question, one answer) never merge
    number: str = ""  # a question's own number ("3", "2 a)")
    answers: tuple[str, ...] = ()  # the question numbers an answer paragraph answers
    heading: tuple[str, ...] = ()


def chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    """Stable, content-derived id: the first 16 hex digits of sha256("doc_id:start:end:text")."""
    return hashlib.sha256(f"{doc_id}:{start}:{end}:{text}".encode("utf-8")).hexdigest()[:16]


def chunk_document(doc: Document) -> list[Chunk]:
    """Split ``doc`` into chunks in text order (see the module docstring), then the document card
    (kind "card", offsets into ``doc.card``) when the document has one."""
    paras = _annotate(doc.text)
    chunks = []
    for group in _group(paras):
        for start, end in _pieces(doc.text, group[0].start, group[-1].end):
            members = [p for p in group if p.start < end and p.end > start]
            text = doc.text[start:end]
            last = members[-1]
            chunks.append(Chunk(
                chunk_id=chunk_id(doc.doc_id, start, end, text), doc_id=doc.doc_id, text=text,
                start=start, end=end, page=bisect.bisect_right(doc.page_starts, start) or 1,
                section=last.section, question=last.question, kind=_kind(members),
                number=next((p.number for p in members if p.number), ""), answers=last.answers,
                heading=last.heading))
    if doc.card:
        chunks.append(Chunk(chunk_id=chunk_id(doc.doc_id + "#card", 0, len(doc.card), doc.card), doc_id=doc.doc_id,
                            text=doc.card, start=0, end=len(doc.card), page=1, section="Dokumentkarte", kind="card",
                            heading=("Dokumentkarte",)))
    return chunks


def structure(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The paper's numbered questions as (number, text), sub-questions as "2 a)", and its sentences
    saying which questions are answered together (for the document card)."""
    questions, joint = [], []
    for p in _annotate(text):
        if p.kind == "question" and p.number:
            questions.append((p.number, p.text))
        m = _JOINT.match(p.text)
        zu = _ZU.match(p.text)
        if m:
            joint.append(p.text[:m.end()])
        elif zu and len(_numbers(zu.group(1))) > 1:  # "Zu 1.1 und 1.2:"
            joint.append(p.text[:zu.end() - 1])
    return questions, joint


# ---------------------------------------------------------------- structure

def _annotate(text: str) -> list[_Para]:
    """Paragraphs with kind, section path, answered questions and block."""
    spans = [piece for m in _PARA.finditer(text) for piece in _nested(text, m.start(), m.end())]
    paras = [_Para(s, e, text[s:e], _shape(text[s:e]), "", "", 0) for s, e in spans]
    if not any(_is_question(p.text) for p in paras):
        section = ""
        for p in paras:  # generic: headings name the section of what follows
            if p.kind == "heading":
                section = p.text.rstrip(":")
            p.section = section
        return paras

    anfrage = next((m for m in map(_ANFRAGE.fullmatch, (p.text for p in paras)) if m), None)
    top = (anfrage.group(1).capitalize().replace("Grosse", "Große") + " Anfrage") if anfrage else "Anfrage"
    mode, sub, block, answered = "meta", "", 0, ""
    asked: dict[str, str] = {}
    subs: dict[str, list[str]] = {}
    pending: list[str] = []
    answered_numbers: tuple[str, ...] = ()
    heads = any(_ZU.match(p.text) for p in paras)  # answers open with "Zu 1.2:": what comes before answers none
    for p in paras:
        t = p.text
        q = _is_question(t)
        if _PREFACE.fullmatch(t):
            mode, top, sub, block, answered = "preface", "Vorbemerkung", "", block + 1, ""
            p.kind = "heading"
        elif q:
            mode, top, sub, block = "question", f"Frage {q}", "", block + 1
            asked[q] = t
            pending.append(q)
            p.kind, p.number = "question", q
            subs[q] = [f"{q} {m.group(1)})" for m in re.finditer(r"(?:^|\n|^[\d.]+\s+)([a-z])\)\s", t)]
        elif mode == "question" and (_SUBQUESTION.match(t) or t.endswith("?")):
            asked[pending[-1]] += "\n" + t
            p.kind = "question"
            letters = [f"{pending[-1]} {m.group(1)})" for m in re.finditer(r"(?:^|\n)([a-z])\)\s", t)]
            if letters:
                p.number = letters[0]
                subs[pending[-1]].extend(letters)
        else:
            zu = _zu(t, asked) if mode in ("question", "answer") else []
            if mode == "question" or zu:  # the first paragraph after the questions opens the answer, as does "Zu 1.2:"
                mode, sub, block = "answer", "", block + 1
                joint = _JOINT.match(t)
                numbers = [n for n in re.findall(r"\d+(?:\.\d+)?", joint.group(1))] if joint else []
                numbers = zu or [n for n in dict.fromkeys(numbers) if n in asked] or ([] if heads else pending)
                top = f"Antwort zu Fragen {joint.group(1)}" if joint else _answer_label(numbers)
                answered = "\n".join(dict.fromkeys(asked[n.split(" ")[0]] for n in numbers))
                answered_numbers = tuple(dict.fromkeys(x for n in numbers for x in (n, *(subs.get(n, ()) if " " not in n else ()))))
                pending = []
            if mode == "meta":
                p.kind = "meta"
            elif p.kind == "heading":
                sub = t.rstrip(":")
        p.block = block
        p.section = f"{top} > {sub}" if sub else top
        p.heading = (top, sub) if sub else (top,)
        p.question = answered if mode == "answer" else ""
        p.answers = answered_numbers if mode == "answer" else ()
    return paras


def _shape(t: str) -> str:
    lines = t.split("\n")
    if len(lines) == 1 and _is_heading(t):
        return "heading"
    if len(lines) >= 2 and (sum(bool(LIST_ITEM_RE.match(ln)) for ln in lines) >= 2
                            or all(len(ln) <= 80 for ln in lines)):
        return "list"
    return "paragraph"


def _is_heading(t: str) -> bool:
    words = t.split()
    if len(t) > 80 or len(words) > 10 or not t[0].isupper() or LIST_ITEM_RE.match(t):
        return False
    if t.endswith(":"):
        return len(words) <= 2  # "Vorbemerkung:", not "Partnerschaften im Bereich Wirtschaft mit:"
    return not t.endswith((".", ",", ";", "?", "!"))


def _is_question(t: str) -> str:
    """The question's number if ``t`` is a numbered question ("3. Wie stellt sich ...?", "1.2 Wie ...?"), else ""."""
    m = _QUESTION.match(t)
    if not m or m.group(2).lower() in MONTHS or not t.endswith("?"):
        return ""
    return m.group(1)


def _nested(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A paragraph of questions numbered "1.1", "1.2", ... (one per line) as one span per question."""
    cuts = [start + m.start() for m in _NESTED.finditer(text[start:end])]
    if len(cuts) < 2 or cuts[0] != start:
        return [(start, end)]
    ends = cuts[1:] + [end]
    return [(a, len(text[a:b].rstrip()) + a) for a, b in zip(cuts, ends)]


def _zu(t: str, asked: dict[str, str]) -> list[str]:
    """The asked questions an answer paragraph opening with "Zu 1.1 und 1.2:" / "Zu Frage 3:" answers."""
    m = _ZU.match(t)
    if not m:
        return []
    return [n for n in _numbers(m.group(1)) if n.split(" ")[0] in asked]


def _numbers(head: str) -> list[str]:
    """The question numbers of a "Zu ..." head as the questions carry them: "1.1", "2.2 a)"."""
    return [f"{n} {letter})" if letter else n for n, letter in re.findall(r"(\d{1,2}(?:\.\d{1,2})?)(?:\s*([a-z])\))?", head)]


def _answer_label(numbers: list[str]) -> str:
    if not numbers:
        return "Antwort"
    if len(numbers) == 1:
        return f"Antwort zu Frage {numbers[0]}"
    return "Antwort zu Fragen " + ", ".join(map(str, numbers[:-1])) + f" und {numbers[-1]}"


# ---------------------------------------------------------------- grouping and splitting

def _group(paras: list[_Para]) -> list[list[_Para]]:
    groups: list[list[_Para]] = []
    i = 0
    while i < len(paras):
        group = [paras[i]]
        i += 1
        intro = group[0].text.endswith(":")  # "...:" followed by its items
        first = not groups or groups[-1][-1].block != group[0].block
        while i < len(paras) and paras[i].block == group[-1].block:
            last, nxt = group[-1], paras[i]
            size = nxt.end - group[0].start
            if last.kind in ("meta", "question", "heading") or last.text.endswith(":"):
                pass  # a block of metadata or a question stays whole; a heading or intro leads on
            elif intro and _is_item(nxt) and size <= MAX_CHARS:
                pass  # the next item of an introduced list ("Hochschule Wismar\n...")
            elif last.end - group[0].start < MIN_CHARS and (nxt.kind != "heading" or first):
                pass  # a fragment too small to stand alone (it leads into a heading only if
                # nothing of its block precedes it: "Die Fragen ... werden ... beantwortet.")
            else:
                break
            intro = nxt.text.endswith(":") or (intro and (_is_item(nxt) or last.text.endswith(":")))
            group.append(nxt)
            i += 1
        prev = groups[-1] if groups else None
        if (prev and prev[-1].block == group[0].block and group[-1].end - group[0].start < MIN_CHARS
                and group[-1].end - prev[0].start <= MAX_CHARS and group[0].kind != "heading"):
            prev.extend(group)  # a trailing fragment joins what precedes it (a heading does not)
        else:
            groups.append(group)
    return groups


def _is_item(p: _Para) -> bool:
    first = p.text.split("\n", 1)[0]
    return p.kind == "list" or ("\n" in p.text and len(first) <= 60 and not first.endswith((".", "?", "!")))


def _kind(members: list[_Para]) -> str:
    kinds = [p.kind for p in members]
    for k in ("meta", "question", "list"):
        if k in kinds:
            return k
    return "heading" if set(kinds) == {"heading"} else "paragraph"


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` as one span, or split at sentence boundaries into spans of at most
    about ``MAX_CHARS`` (a single longer sentence is cut at whitespace as a last resort)."""
    if end - start <= MAX_CHARS:
        return [(start, end)]
    target = (end - start) / math.ceil((end - start) / MAX_CHARS)
    sentences = []
    for s, e in split_sentences(text[start:end]):
        sentences += _cut(text, start + s, start + e)
    pieces = [list(sentences[0])]
    for s, e in sentences[1:]:
        if e - pieces[-1][0] > target:
            pieces.append([s, e])
        else:
            pieces[-1][1] = e
    return [(s, e) for s, e in pieces]


def _cut(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    while end - start > MAX_CHARS:
        cut = text.rfind(" ", start + 1, start + MAX_CHARS)
        cut = cut if cut > start else start + MAX_CHARS
        out.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    return out + [(start, end)]
