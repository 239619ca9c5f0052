"""Evidence -> short answer -> verification -> fallback. Nothing unverified reaches the user.

The answer is built from verbatim evidence sentences. When a generator is given, it may add a short
answer copied from the evidence (constrained decoding); that short answer is shown only when it
passes verification (every number, date and name occurs in the cited evidence, the language fits).
Otherwise the answer is the deterministic extractive one: a lead in the question's language plus
the quoted evidence with its citation.
"""
from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from .text import LABELLED, YEAR, detect_language, evidence_units, normalize_number, numbers, tokenize
from .types import Answer, Citation, Hit

# Questions that try to steer the assistant instead of asking about the paper.
_INJECTION = re.compile(
    r"ignor\w*\s+(all\w*\s+|the\s+|your\s+|deine\w*\s+|die\s+|alle\w*\s+)*(previous|prior|above|vorherig\w*|bisherig\w*|instruction|anweisung|regeln|rules)"
    r"|system\s*-?prompt|systemprompt|(reveal|print|show|zeig\w*|gib)\s+.{0,30}(prompt|instruction|anweisung)"
    r"|vergiss\s+(alle|deine)|forget\s+(all|your)|you\s+are\s+now|du\s+bist\s+jetzt|act\s+as|developer\s+mode|jailbreak",
    re.IGNORECASE,
)
PROMPTS = Path(__file__).parent / "prompts"
# The answer types the evidence must be able to supply.
_ASKS_NAME = re.compile(r"\bwie hei(ß|ss)t|\bname[ns]?\b|\bnamen\b|\bcalled\b", re.I)
_PERSON = re.compile(r"\b(?:Abgeordnete[nr]?|Herrn?|Frau|Dr\.|Ministers?|Ministerin|Botschafters?|Botschafterin|"
                     r"Staatssekretärs?|Staatssekretärin)\s+(?:[A-ZÄÖÜ][a-zäöüß]+)(?:\s+[A-ZÄÖÜ][a-zäöüß]+)+")
_ASKS_NUMBER = re.compile(r"\bwie (viele?|hoch)\b|\bhow (many|much)\b|\banzahl\b|\bnumber of\b|"
                          r"\bpopulation\b|\beinwohner", re.I)
_NUMBER_WORDS = (r"\b(zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|hundert|tausend|"
                 r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b")
MIN_RELEVANCE = 0.40  # no sentence this close to the question (cosine): the paper does not answer it
NEXT_MARGIN = 0.35  # the sentence after the best one is quoted too when it scores this close
PREVIOUS_MARGIN = 0.15  # and the one before it when it scores this close
CONTINUATION_CHARS = 450  # a following sentence of the same paragraph is quoted too, up to this length
UNKNOWN_NOUN_RELEVANCE = 0.50  # ... and a question about a noun the paper never uses needs this much
QUESTION_MATCH = 0.6  # a question of the paper this close to the asker's is answered by its answer
_BOILERPLATE = re.compile(r"werden zusammenhängend beantwortet", re.I)

EVIDENCE_HITS = 3  # sentences are taken from the top hits only
SECOND_MARGIN = 0.04  # a second sentence is quoted when it scores this close to the best


@lru_cache(maxsize=None)
def phrases(lang: str) -> dict:
    return json.loads((PROMPTS / "phrases.json").read_text(encoding="utf-8"))[lang]


def is_injection(question: str) -> bool:
    return bool(_INJECTION.search(question))


def select_evidence(question: str, hits: Sequence[Hit]) -> list[tuple[Hit, str, float]]:
    """The quoted sentence(s): the best-scoring sentence of the top hits, the sentence next to it
    when that matches too, a close second from another passage, and for questions about several
    years a sentence for each year."""
    cands = []
    for rank, hit in enumerate(hits[:EVIDENCE_HITS]):
        if hit.chunk.kind == "question":
            continue  # the asker's questions are not evidence for an answer
        for span in hit.spans:
            cands.append((span.score, -rank, hit, span.text))
    if not cands:
        return []
    cands.sort(key=lambda t: (-t[0], -t[1]))
    best, _, top_hit, top_sent = cands[0]
    opening = _answer_opening(hits)
    if opening:  # the asker's own question matched: the answer to it starts the evidence
        top_hit, top_sent = opening
    chosen = [(top_hit, top_sent, best)]
    for sc, _, h, sent in cands[1:]:
        same = h.chunk.chunk_id == top_hit.chunk.chunk_id
        step = _step(h.chunk.text, top_sent, sent) if same else 0
        if (step == 1 and sc >= best - NEXT_MARGIN) or (step == -1 and sc >= best - PREVIOUS_MARGIN) or \
                (not same and sc >= best - SECOND_MARGIN and len(chosen) < 2):
            chosen.append((h, sent, sc))
    follow = _continuation(top_hit.chunk.text, top_sent)
    if follow and all(follow != s for _, s, _ in chosen):
        chosen.append((top_hit, follow, best))
    years = set(YEAR.findall(question))
    if len(years) > 1:  # comparisons across years: make sure every asked year is quoted if possible
        for sc, _, h, s in cands:
            have = {y for _, q, _ in chosen for y in YEAR.findall(q)}
            if years - have and set(YEAR.findall(s)) & (years - have) and len(chosen) < 3:
                chosen.append((h, s, sc))
    return chosen


def _answer_opening(hits: Sequence[Hit]) -> tuple[Hit, str] | None:
    """When the best hit is one of the paper's questions, matched closely, and its answer follows
    among the hits: the answer's first statement."""
    if not hits or hits[0].chunk.kind != "question" or hits[0].relevance < QUESTION_MATCH:
        return None
    for hit in hits[1:EVIDENCE_HITS]:
        # an answer divided under headings (Wirtschaft, Verkehr, ...) has no single opening statement
        if hit.chunk.kind != "question" and hits[0].chunk.text[:60] in hit.chunk.question \
                and ">" not in hit.chunk.section:
            units = _units(hit.chunk.text)
            statements = [u for u in units if not _BOILERPLATE.search(u)]
            return (hit, statements[0]) if statements else None
    return None


def _continuation(text: str, sentence: str) -> str | None:
    """The sentence after ``sentence`` when it goes on in the same paragraph (not a new list line)
    and the two stay short enough to quote together."""
    spans = evidence_units(text)
    for (s, e), nxt in zip(spans, spans[1:]):
        if text[s:e] == sentence:
            gap, follow = text[e:nxt[0]], text[nxt[0]:nxt[1]]
            if "\n" not in gap and not LABELLED.match(follow) and nxt[1] - s <= CONTINUATION_CHARS:
                return follow
    return None


def _step(text: str, a: str, b: str) -> int:
    """How many sentences b comes after a in text (0 when unknown)."""
    spans = _units(text)
    return spans.index(b) - spans.index(a) if a in spans and b in spans else 0


@lru_cache(maxsize=256)
def _units(text: str) -> tuple[str, ...]:
    return tuple(text[s:e] for s, e in evidence_units(text))


def refusal_reason(question: str, hits: Sequence[Hit], evidence, vocabulary=frozenset()) -> str | None:
    if is_injection(question):
        return "injection"
    if not evidence:
        return "no evidence"
    relevance = max(h.relevance for h in hits[:EVIDENCE_HITS])
    if relevance < MIN_RELEVANCE:
        return "not relevant enough"
    unknown = unknown_nouns(question, vocabulary)
    if unknown and relevance < UNKNOWN_NOUN_RELEVANCE:
        return f"the paper never mentions {unknown[0]!r}"
    corpus_text = " ".join(h.chunk.text for h in hits[:EVIDENCE_HITS])
    missing = [y for y in YEAR.findall(question) if y not in corpus_text]
    if missing:
        return f"year {missing[0]} not in the evidence"
    quoted = " ".join(s for _, s, _ in evidence)
    if _ASKS_NAME.search(question) and not _PERSON.search(quoted):
        return "asks for a name the evidence does not give"
    if _ASKS_NUMBER.search(question) and not re.search(r"\d|" + _NUMBER_WORDS, quoted, re.I):
        return "asks for a number the evidence does not give"
    return None


def unknown_nouns(question: str, vocabulary) -> list[str]:
    """Nouns of a German question that the corpus never uses, not even misspelt or as a compound part."""
    if not vocabulary or detect_language(question) != "de":
        return []
    out = []
    for word in re.findall(r"(?<=\s)[A-ZÄÖÜ][a-zäöüß]{3,}", question):
        tokens = tokenize(word)
        if tokens and not any(_known(t, vocabulary) for t in tokens):
            out.append(word)
    return out


def _known(token: str, vocabulary) -> bool:
    return token in vocabulary or any(token in v for v in vocabulary if len(token) >= 5) \
        or bool(difflib.get_close_matches(token, vocabulary, n=1, cutoff=0.8))


def refuse(question: str, lang: str, hits: Sequence[Hit], reason: str) -> Answer:
    text = phrases(lang)["injection" if reason == "injection" else "refusal"]
    return Answer(question=question, text=text, language=lang, refused=True, citations=(), hits=tuple(hits),
                  mode="refusal")


def cite(evidence) -> tuple[Citation, ...]:
    """One citation per distinct chunk, numbered in order of first use; quotes are verbatim."""
    cits: list[Citation] = []
    for hit, sent, _ in evidence:
        sent = sent.rstrip(" ,;")  # "Jahr 2016: 5,458 Mio. Euro (Platz 98)," quoted without the list comma
        at = hit.chunk.text.find(sent)
        for c in cits:
            if c.chunk.chunk_id == hit.chunk.chunk_id:
                start, end = min(c.start, at), max(c.end, at + len(sent))
                cits[cits.index(c)] = Citation(c.n, c.chunk, c.chunk.text[start:end], start, end)
                break
        else:
            cits.append(Citation(len(cits) + 1, hit.chunk, sent, at, at + len(sent)))
    return tuple(cits)


def extractive_text(lang: str, citations: Sequence[Citation], short: str | None = None) -> str:
    lead = phrases(lang)["short_lead"].format(short=short) if short else phrases(lang)["lead"]
    quotes = " ".join(f"„{_flat(c.quote)}“ [{c.n}]" for c in citations)
    return f"{lead} {quotes}"


def _flat(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


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
        if c.quote not in c.chunk.text:
            problems.append(f"quote [{c.n}] is not verbatim")
    outside = re.sub(r"„[^“]*“", " ", text)  # quotes may be German; the rest must be in the asker's language
    if len(re.findall(r"\w+", outside)) >= 4 and detect_language(outside) != lang:
        problems.append("answer language does not match the question")
    return problems


def answer_stream(question: str, resolved: str, hits: Sequence[Hit], generator, settings,
                  lang: str | None = None, vocabulary=frozenset()) -> Iterator[str | Answer]:
    """Yields text as it becomes available; the last item is the final Answer."""
    lang = lang or detect_language(question)
    evidence = select_evidence(resolved, hits)
    reason = refusal_reason(resolved, hits, evidence, vocabulary)
    if reason:
        ans = refuse(question, lang, hits, reason)
        yield ans.text
        yield ans
        return
    citations = cite(evidence)
    yield extractive_text(lang, citations)  # the verified quotes first; the model may add a short answer
    short = None
    if generator is not None:
        from .shortanswer import short_answer

        short = short_answer(generator, resolved, lang, citations)
    text = extractive_text(lang, citations, short)
    mode = "generated" if short else "extractive"
    if verify(text, citations, lang):  # the short answer failed: fall back to the plain quotes
        text, mode = extractive_text(lang, citations), "extractive"
    yield Answer(question=question, text=text, language=lang, refused=False, citations=citations,
                 hits=tuple(hits), mode=mode)
