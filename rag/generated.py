"""The generated-answer mode: a capable model writes the answer, and only verified sentences are shown.

The model gets the question and the numbered quotes (never more) and writes sentences ending in [n]
markers. Each sentence is then checked against the quotes it cites:

- markers: it cites at least one passage, and every [n] is one of the passages it was given;
- form: it is a finished sentence (a reply cut off mid-sentence shows nothing of the cut sentence);
- numbers and dates: each is in a cited quote, up to format ("5,458 Mio. Euro" == "EUR 5.458 million",
  "26. August 2016" == "26 August 2016" == "26.08.2016"), scale (million is not billion) and rounding
  ("12.8 million" for "12,811 Mio.");
- names: each capitalised word that could name something (every one in English but the first of the
  sentence; German nouns too) occurs in a cited passage (the quote, the passage it was taken from, its
  headings), up to inflection and spelling across languages ("Kazakhstan" ~ "Kasachstan"); never from
  the question alone, where an asker could put anything;
- language: the asker's;
- support: the sentence means what its quote says, read with the sentence leading into it (cosine of
  the two with the embedder, cross-lingual, at least ``min_support``, a threshold fitted by
  ``fit_min_support`` on eval/support/dev.jsonl).

A quote that reads like an instruction to the model is neither given to it nor accepted as support.
Sentences failing a check are dropped; when the first (the direct answer) fails, or the model fails,
there is no generated answer and the caller keeps the extractive one.

Slightly over 300 lines: the checks and the threshold fit share their scoring and belong together.
"""
from __future__ import annotations

import difflib
import re
import sys
from functools import lru_cache
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import InputError, ModelError
from .generation import MARKER, markers, split_claims
from .query import instruction_like
from .text import detect_language, fold, normalize_number, split_sentences, tokenize
from .types import Citation, Claim, GenerationRequest, Query

MAX_SENTENCES = 4

_MONTHS = {
    1: "januar jänner january jan", 2: "februar february feb", 3: "märz maerz march mär mar",
    4: "april apr", 5: "mai may", 6: "juni june jun", 7: "juli july jul", 8: "august aug",
    9: "september sept sep", 10: "oktober october okt oct", 11: "november nov", 12: "dezember december dez dec",
}
MONTH = {w: m for m, words in _MONTHS.items() for w in words.split()}
_M = "|".join(sorted(MONTH, key=len, reverse=True))
_DATES = [  # (pattern, group order as day, month, year)
    (re.compile(rf"\b(\d{{1,2}})\.?\s+({_M})\.?,?\s+(\d{{4}})\b", re.I), (1, 2, 3)),
    (re.compile(rf"\b({_M})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), (2, 1, 3)),
    (re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), (1, 2, 3)),
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), (3, 2, 1)),
    (re.compile(rf"\b({_M})\.?\s+(\d{{4}})\b", re.I), (None, 1, 2)),
    (re.compile(rf"\b(\d{{1,2}})\.?\s+({_M})\b", re.I), (1, 2, None)),
]
_SCALES = {"e3": "tsd tausend thousand thousands", "e6": "mio million millionen millions mn",
           "e9": "mrd milliarde milliarden billion billions bn", "%": "% prozent percent vh"}
SCALE = {w: s for s, words in _SCALES.items() for w in words.split()}
_NUMBER = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)*)(?:\s*(%|per\s+cent|[^\W\d_]+))?")
_COMMON = frozenset("""i eur euro euros mio mrd tsd prozent percent million millions billion billions
montag dienstag mittwoch donnerstag freitag samstag sonntag monday tuesday wednesday thursday friday
saturday sunday""".split()) | frozenset(MONTH)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_FINISHED = re.compile(r"[.!?…][\"'”“»)\]]*\s*$")


def generated_answer(generator, embedder, query: Query, citations: Sequence[Citation], min_support: float,
                     *, max_new_tokens: int = 160,
                     log: Callable[[str], None] | None = None) -> tuple[str, tuple[Claim, ...]] | None:
    """The verified generated answer (text with [n] markers, and its claims), or None to keep the
    extractive answer. A failing model server is logged and also gives None."""
    usable = [c for c in citations if not instruction_like(c.quote)]
    if not usable:
        return None
    request = GenerationRequest(task="answer", question=query.resolved or query.text, language=query.language,
                                passages=tuple((c.n, c.quote) for c in usable), max_new_tokens=max_new_tokens)
    try:
        generation = generator.generate(request)
    except ModelError as exc:
        (log or _stderr)(f"generated answer: {exc}; keeping the extractive answer")
        return None
    quotes = {c.n: c.quote for c in usable}
    claims = attributed(generation.claims or split_claims(generation.text), tuple(quotes))
    if not claims:
        return None
    contexts = {c.n: " ".join([c.chunk.text, *c.chunk.heading, c.chunk.section]) for c in usable}
    around = {c.n: lead_in(c) for c in usable}
    support = support_scores(embedder, [(_bare(c.text), [t for n in c.cites if n in quotes for t in around[n]])
                                        for c in claims])
    kept: list[Claim] = []
    for i, (claim, score) in enumerate(zip(claims, support)):
        ok = not problems(claim, quotes, query.language, contexts) and score >= min_support
        if i == 0 and not ok:
            return None
        if ok and _bare(claim.text) not in {_bare(k.text) for k in kept}:
            kept.append(claim)
    kept = kept[:MAX_SENTENCES]
    return " ".join(shown(c) for c in kept), tuple(kept)


def attributed(claims: Sequence[Claim], passages: Sequence[int]) -> tuple[Claim, ...]:
    """Claims with the passages they will be checked against. A sentence's own [n] markers stand as
    written (a wrong one fails it); a sentence without markers takes the citations the reply listed that
    exist, or the one passage when there was only one."""
    out = []
    for claim in claims:
        if markers(claim.text):
            out.append(claim)
            continue
        cites = tuple(n for n in claim.cites if n in passages) or (tuple(passages) if len(passages) == 1 else ())
        out.append(Claim(claim.text, cites))
    return tuple(out)


def lead_in(citation: Citation) -> list[str]:
    """The quote, and the quote after the sentence leading into it in its passage (the nearest list
    introduction ending in ":" a few sentences back, else the sentence before): a list item ("Jahr 2016:
    5,458 Mio. Euro") says what it counts only together with its introduction."""
    text = citation.chunk.text
    start = citation.start if citation.end > citation.start else max(text.find(citation.quote), 0)
    before = [text[a:b] for a, b in split_sentences(text[:start])]
    if not before:
        return [citation.quote]
    intro = next((t for t in reversed(before[-6:]) if t.rstrip().endswith(":")), before[-1])
    return [citation.quote, f"{intro} {citation.quote}"]


def shown(claim: Claim) -> str:
    """The sentence as shown: its own markers replaced by "[n]" for each cited passage, before the stop."""
    text = MARKER.sub("", claim.text).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    body, stop = (text[:-1].rstrip(), text[-1]) if text[-1:] in ".!?" else (text, "")
    return f"{body} {''.join(f'[{n}]' for n in claim.cites)}{stop}"


# ---------------------------------------------------------------- the checks

def problems(claim: Claim, quotes: dict[int, str], lang: str, contexts: dict[int, str] | None = None) -> list[str]:
    """Why ``claim`` cannot be shown; empty when its markers, numbers, dates, names and language check out.

    Numbers and dates must be in the cited quotes (what the model was shown); names may also come from
    ``contexts``, the rest of each cited passage (its chunk and headings)."""
    out = []
    if not claim.cites:
        out.append("no citation")
    for n in claim.cites:
        if n not in quotes:
            out.append(f"citation [{n}] does not exist")
    for bracket in re.findall(r"\[[^\]]*\]", claim.text):
        if not MARKER.fullmatch(bracket):
            out.append(f"malformed marker {bracket}")
    cited = " \n ".join(quotes[n] for n in claim.cites if n in quotes)
    text = _bare(claim.text)
    if len(re.findall(r"\w", text)) < 2:
        out.append("no content")
    if not _FINISHED.search(text):  # a reply cut off by the token budget or the schema's length limit
        out.append("unfinished sentence")
    rest, found = _take_dates(text)
    known_dates = _take_dates(cited)[1]
    for date in found:
        if not any(_same_date(date, d) for d in known_dates):
            out.append(f"date {'.'.join(str(x) for x in date if x)} not in the cited passages")
    known = number_facts(cited) + [(str(x), None) for d in known_dates for x in d if x]
    for num, scale in number_facts(rest):
        if not any(_same_number(num, scale, n, s) for n, s in known):
            out.append(f"number {num} not in the cited passages")
    for name in names(text):
        if not _known(name, cited + " " + " ".join((contexts or {}).get(n, "") for n in claim.cites)):
            out.append(f"name {name} not in the cited passages")
    outside = re.sub(r"„[^“]*“|\"[^\"]*\"", " ", text)
    if len(re.findall(r"\w+", outside)) >= 4 and detect_language(outside, default=lang) != lang:
        out.append("wrong language")
    return out


def number_facts(text: str) -> list[tuple[str, str | None]]:
    """(normalised number, scale or None) for every number: "5,458 Mio." -> ("5,458", "e6")."""
    out = []
    for m in _NUMBER.finditer(text):
        unit = (m.group(2) or "").lower().rstrip(".")
        out.append((normalize_number(m.group(1)), SCALE.get("percent" if unit.startswith("per") else unit)))
    return out


def _same_number(num: str, scale, known: str, known_scale) -> bool:
    if scale and known_scale and scale != known_scale:
        return False
    if num == known:
        return True
    a, b = num.split(","), known.split(",")  # rounding: "12,8" for "12,811"
    if len(a) == 2 == len(b) and a[0] == b[0] and len(a[1]) < len(b[1]):
        return round(float("0." + b[1]), len(a[1])) == float("0." + a[1])
    return False


def _take_dates(text: str) -> tuple[str, list[tuple]]:
    """(text with the dates blanked out, the dates as (day, month, year) with None for a missing part)."""
    dates = []
    for pattern, order in _DATES:
        def grab(m, order=order):
            parts = []
            for g in order:
                v = m.group(g) if g else None
                parts.append(MONTH.get(v.lower().rstrip(".")) if v and not v.isdigit() else int(v) if v else None)
            if parts[1] is None or not 1 <= parts[1] <= 12 or (parts[0] is not None and not 1 <= parts[0] <= 31):
                return m.group()
            dates.append(tuple(parts))
            return " "
        text = pattern.sub(grab, text)
    return text, dates


def _same_date(claim: tuple, known: tuple) -> bool:
    return all(c is None or c == k for c, k in zip(claim, known))


def names(text: str) -> list[str]:
    """Capitalised words that could name something: all but a sentence's first word (which counts only
    when the next word is capitalised too, as in "Frau Schmidt"), and common words (months, units) left out."""
    words = list(_WORD.finditer(text))
    out = []
    for i, m in enumerate(words):
        w = m.group()
        if not w[0].isupper() or fold(w) in _COMMON:
            continue
        starts = i == 0 or re.search(r"[:.!?]\s*$", text[words[i - 1].end():m.start()])
        if starts and not (i + 1 < len(words) and words[i + 1].group()[0].isupper()
                           and re.fullmatch(r"\s+", text[m.end():words[i + 1].start()])):
            continue
        if starts and not tokenize(w):  # "Die", "The": a function word
            continue
        out.append(w)
    return out


def _known(name: str, source: str) -> bool:
    """``name`` occurs in ``source``, allowing inflection, compounds and spelling across languages."""
    words, stems = _vocabulary(source)
    f = fold(name)
    if f in words or set(tokenize(name)) & stems:
        return True
    for v in words:
        if abs(len(v) - len(f)) <= 3 and min(len(v), len(f)) >= 4 and (v.startswith(f) or f.startswith(v)):
            return True
        if len(f) >= 5 and abs(len(v) - len(f)) <= 3 and difflib.SequenceMatcher(None, f, v).ratio() >= 0.8:
            return True
    return False


@lru_cache(maxsize=256)
def _vocabulary(source: str) -> tuple[frozenset, frozenset]:
    return frozenset(fold(w) for w in _WORD.findall(source)), frozenset(tokenize(source))


# ---------------------------------------------------------------- semantic support

def support_scores(embedder, pairs: Sequence[tuple[str, Sequence[str]]]) -> list[float]:
    """For each (sentence, quotes): the highest cosine between the sentence and any quote or any sentence
    of a quote, all embedded as documents; -1 where there is no quote. (Sentence as document separated
    supported from unsupported best on eval/support/dev.jsonl: AUC 0.994, against 0.982 with the sentence
    embedded as a query.)"""
    units, owner = [], []
    for i, (_, quotes) in enumerate(pairs):
        for q in quotes:
            for part in {q, *(q[s:e] for s, e in split_sentences(q))}:
                if part.strip():
                    units.append(part)
                    owner.append(i)
    scores = [-1.0] * len(pairs)
    if not units:
        return scores
    sims = embedder.embed_documents(units) @ embedder.embed_documents([s for s, _ in pairs]).T
    for row, i in enumerate(owner):
        scores[i] = max(scores[i], float(sims[row, i]))
    return scores


def fit_min_support(examples: Iterable, embedder) -> float:
    """The support threshold that best separates supported from unsupported sentences.

    ``examples``: (sentence, quote, supported) triples or dicts with those keys. A wrongly accepted
    sentence costs twice a wrongly dropped one (showing a false claim is worse than falling back); the
    threshold is the midpoint between neighbouring scores with the lowest cost.
    """
    rows = [(e["sentence"], e["quote"], bool(e["supported"])) if isinstance(e, dict) else tuple(e)
            for e in examples]
    if not any(r[2] for r in rows) or all(r[2] for r in rows):
        raise InputError("fitting min_support needs supported and unsupported examples")
    scores = support_scores(embedder, [(s, [q]) for s, q, _ in rows])
    return best_threshold(scores, [r[2] for r in rows])


def best_threshold(scores: Sequence[float], supported: Sequence[bool]) -> float:
    """The cut with the lowest cost (a false accept counts twice) among midpoints of neighbouring scores."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(supported, dtype=bool)
    ordered = np.unique(scores)
    cuts = np.concatenate([[ordered[0] - 1e-3], (ordered[:-1] + ordered[1:]) / 2, [ordered[-1] + 1e-3]])
    cost = [2 * np.sum((scores >= t) & ~labels) + np.sum((scores < t) & labels) for t in cuts]
    return round(float(cuts[int(np.argmin(cost))]), 4)


def _bare(text: str) -> str:
    return " ".join(MARKER.sub(" ", text).split())


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
