"""English for descriptive answers: the local model translates the evidence, and the translation is
shown only when it keeps every number and name of the source, adds none, reads as finished
sentences, and means the same (cross-lingual similarity of source and translation, with the
embedder, at or above the policy's ``min_translation``). Otherwise the answer says so and points to
the German passage.

``check_batch`` is the measured path (eval/translation/score.py); ``translate`` derives from it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import render
from .text import normalize_number, numbers
from .types import Citation, GenerationRequest

_NAME = re.compile(r"„[^“]+“|\b[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)+\b|\b[A-Z]{2,5}\b")
CHECKS = ("no output", "numbers lost", "numbers added", "numbers not converted", "name lost", "cut off",
          "repeats itself", "length out of proportion", "meaning drifted")
MAX_NEW_TOKENS = 160
# German -> English keeps the length of a text within these bounds (characters of the translation per
# character of the source): the fit half's reference translations of sources of 40+ characters span
# 0.79-1.15 (eval/translation). A shorter translation dropped content, a longer one made some up.
LENGTH_RATIO = (0.75, 1.5)
MIN_LENGTH_CHECKED = 40
_WORD_NUMBERS = {w: str(i) for i, w in enumerate(
    "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf".split())}
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”“)]*\s*$")
_GERMAN_SEPARATORS = re.compile(r"^\d+,\d+$|^\d{1,3}(?:\.\d{3})+$")  # decimal comma, thousands dot


@dataclass(frozen=True)
class Checked:
    """One machine translation and what the checks found (``problems`` empty: it may be shown)."""
    source: str
    text: str
    similarity: float
    problems: tuple[str, ...]

    @property
    def accepted(self) -> bool:
        return not self.problems


def check_name(problem: str) -> str:
    """The check a problem message comes from ("numbers lost: ['7']" -> "numbers lost")."""
    return next(c for c in CHECKS if problem.startswith(c))


def problems(source: str, translation: str, similarity: float, min_similarity: float) -> list[str]:
    if not translation.strip():
        return ["no output"]
    out = []
    src = {normalize_number(n) for n in numbers(source)}
    got = {normalize_number(n) for n in numbers(translation)}
    spelled = {_WORD_NUMBERS[w] for w in re.findall(r"\w+", source.lower()) if w in _WORD_NUMBERS}
    if src - got:
        out.append(f"numbers lost: {sorted(src - got)}")
    if got - src - spelled:  # "elf" may become "11"
        out.append(f"numbers added: {sorted(got - src - spelled)}")
    kept = [n for n in numbers(source) if _GERMAN_SEPARATORS.match(n) and n in numbers(translation)]
    if kept:  # "2,75 Mio." left as "2,75 million" reads as a hundred times more in English
        out.append(f"numbers not converted: {kept}")
    for name in _NAME.findall(source):
        bare = name.strip("„“")
        if bare not in translation:
            out.append(f"name lost: {bare}")
    if _ENDS_SENTENCE.search(source.strip()) and not _ENDS_SENTENCE.search(translation.strip()):
        out.append("cut off")
    if repeated(translation) - repeated(source):
        out.append(f"repeats itself: {sorted(repeated(translation) - repeated(source))[0]!r}")
    ratio = len(translation.strip()) / max(1, len(source.strip()))
    if len(source.strip()) >= MIN_LENGTH_CHECKED and not LENGTH_RATIO[0] <= ratio <= LENGTH_RATIO[1]:
        out.append(f"length out of proportion ({ratio:.2f} of the source)")
    if similarity < min_similarity:
        out.append(f"meaning drifted (similarity {similarity:.2f})")
    return out


def repeated(text: str, n: int = 4) -> set[str]:
    """Word n-grams that occur more than once (a small model caught in a loop repeats itself)."""
    words = re.findall(r"\w+", text.lower())
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return {g for g in grams if grams.count(g) > 1}


def similarities(embedder, sources: Sequence[str], texts: Sequence[str]) -> list[float]:
    """Cosine of each source and its translation (0.0 where the translation is empty)."""
    pairs = [i for i, t in enumerate(texts) if t]
    out = [0.0] * len(texts)
    if pairs:
        vecs = np.asarray(embedder.embed_documents([sources[i] for i in pairs] + [texts[i] for i in pairs]),
                          dtype="float32")
        k = len(pairs)
        for j, i in enumerate(pairs):
            out[i] = float(vecs[j] @ vecs[k + j])
    return out


def check_batch(generator, embedder, sources: Sequence[str], min_similarity: float) -> list[Checked]:
    """Translate each source with the generator, then check every translation."""
    flat = [" ".join(s.split()) for s in sources]
    texts = []
    for source in flat:
        try:
            out = generator.generate(GenerationRequest("translate", "", "en", ((1, source),),
                                                       max_new_tokens=MAX_NEW_TOKENS))
            texts.append(" ".join(out.text.split()))
        except Exception:  # a model failure must not cost the verified answer
            texts.append("")
    sims = similarities(embedder, flat, texts)
    return [Checked(s, t, sim, tuple(problems(s, t, sim, min_similarity))) for s, t, sim in zip(flat, texts, sims)]


def translate(generator, embedder, citations: Sequence[Citation], min_similarity: float) -> str:
    """The labelled English translation of the first citation's quote, or a pointer to the German
    passage when the translation fails a check."""
    c = citations[0]
    checked = check_batch(generator, embedder, [c.quote], min_similarity)[0]
    f = render.frames("en")
    if checked.accepted:
        return f["translation"].format(text=checked.text, n=c.n)
    return f["pointer"].format(page=c.chunk.page, section=c.chunk.section or "-")
