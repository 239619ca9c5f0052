"""English for descriptive answers: the local model translates the evidence, and the translation is
shown only when it keeps every number and name of the source, adds none, reads as finished
sentences, and means the same (cross-lingual similarity of source and translation, with the
embedder, at or above the policy's ``min_translation``). Otherwise the answer says so and points to
the German passage.

``check_batch`` is the measured path (eval/translation/score.py); ``translate`` derives from it,
sentence by sentence as the reference set is, stops the model as soon as a translation fails a check
that more text cannot pass (``failed_early``) and embeds only translations that pass every other check.
"""
from __future__ import annotations

import re
from contextlib import closing
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import render
from .text import normalize_number, numbers, split_sentences
from .types import Citation, GenerationRequest

_NAME = re.compile(r"„[^“]+“|\b[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)+\b|\b[A-Z]{2,5}\b")
CHECKS = ("no output", "numbers lost", "numbers added", "numbers not converted", "name lost", "cut off",
          "repeats itself", "length out of proportion", "meaning drifted")
MAX_NEW_TOKENS = 160
# German -> English keeps the length of a text within these bounds (characters of the translation per
# character of the source): the fit half's reference translations of sources of 40+ characters span
# 0.79-1.15 (eval/translation). A shorter translation dropped content, a longer one made some up.
# Shorter sources are held to the upper bound of a 40-character one (a heading may grow a little).
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


def max_length(source: str) -> float:
    """The most characters a translation of ``source`` may have."""
    return LENGTH_RATIO[1] * max(len(source.strip()), MIN_LENGTH_CHECKED)


def max_new_tokens(source: str) -> int:
    """The token budget of a translation: a token writes at least one character, so a translation that
    needs more tokens than ``max_length`` allows characters would be rejected anyway."""
    return min(MAX_NEW_TOKENS, int(max_length(source)) + 1)


def problems(source: str, translation: str, similarity: float, min_similarity: float) -> list[str]:
    if not translation.strip():
        return ["no output"]
    out = []
    src = {normalize_number(n) for n in numbers(source)}
    got = {normalize_number(n) for n in numbers(translation)}
    if src - got:
        out.append(f"numbers lost: {sorted(src - got)}")
    out += _numbers_added(source, translation) + _not_converted(source, translation)
    for name in _NAME.findall(source):
        bare = name.strip("„“")
        if bare not in translation:
            out.append(f"name lost: {bare}")
    if _ENDS_SENTENCE.search(source.strip()) and not _ENDS_SENTENCE.search(translation.strip()):
        out.append("cut off")
    out += _repeats(source, translation)
    ratio = len(translation.strip()) / max(1, len(source.strip()))
    too_short = len(source.strip()) >= MIN_LENGTH_CHECKED and ratio < LENGTH_RATIO[0]
    if too_short or len(translation.strip()) > max_length(source):
        out.append(f"length out of proportion ({ratio:.2f} of the source)")
    if similarity < min_similarity:
        out.append(f"meaning drifted (similarity {similarity:.2f})")
    return out


def failed_early(source: str, partial: str) -> list[str]:
    """The problems a translation that starts with ``partial`` has whatever follows: numbers added
    or left in German notation, a repeated phrase (words followed by a space are written; the last
    may still grow), or more characters than ``max_length``. Empty while it may still pass."""
    written = partial[:max(partial.rfind(" "), partial.rfind("\n"), 0)]
    out = _numbers_added(source, written) + _not_converted(source, written) + _repeats(source, written)
    if len(" ".join(partial.split())) > max_length(source):
        out.append(f"length out of proportion (over {max_length(source):.0f} characters)")
    return out


def _numbers_added(source: str, translation: str) -> list[str]:
    src = {normalize_number(n) for n in numbers(source)}
    spelled = {_WORD_NUMBERS[w] for w in re.findall(r"\w+", source.lower()) if w in _WORD_NUMBERS}
    added = {normalize_number(n) for n in numbers(translation)} - src - spelled  # "elf" may become "11"
    return [f"numbers added: {sorted(added)}"] if added else []


def _not_converted(source: str, translation: str) -> list[str]:
    """German number notation copied as written: "2,75 Mio." as "2,75 million" reads a hundred times more."""
    kept = [n for n in numbers(source) if _GERMAN_SEPARATORS.match(n) and n in numbers(translation)]
    return [f"numbers not converted: {kept}"] if kept else []


def _repeats(source: str, translation: str) -> list[str]:
    new = repeated(translation) - repeated(source)
    return [f"repeats itself: {sorted(new)[0]!r}"] if new else []


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


def check_batch(generator, embedder, sources: Sequence[str], min_similarity: float, *,
                stop_early: bool = False) -> list[Checked]:
    """Translate each source with the generator, then check every translation. With ``stop_early``
    (the product's path) a generator that streams is stopped as soon as ``failed_early`` finds a
    problem, and a translation failing any other check is not embedded: such a translation keeps the
    text written so far, its problems and similarity 0.0. Without (the measured path), every output is
    written in full and embedded."""
    flat = [" ".join(s.split()) for s in sources]
    written = [_generate(generator, s, stop_early) for s in flat]
    if stop_early:
        written = [(t, found or problems(s, t, 1.0, float("-inf"))) for s, (t, found) in zip(flat, written)]
    sims = similarities(embedder, flat, [t if not found else "" for t, found in written])
    return [Checked(s, t, sim, tuple(found or problems(s, t, sim, min_similarity)))
            for s, (t, found), sim in zip(flat, written, sims)]


def _generate(generator, source: str, stop_early: bool) -> tuple[str, list[str]]:
    """(translation, problems found while it was written)."""
    request = GenerationRequest("translate", "", "en", ((1, source),), max_new_tokens=max_new_tokens(source))
    try:
        if not (stop_early and hasattr(generator, "stream")):
            return " ".join(generator.generate(request).text.split()), []
        text = ""
        with closing(generator.stream(request)) as pieces:
            for piece in pieces:
                text += piece
                found = failed_early(source, text)
                if found:
                    return " ".join(text.split()), found
        return " ".join(text.split()), []
    except Exception:  # a model failure must not cost the verified answer
        return "", []


def translate(generator, embedder, citations: Sequence[Citation], min_similarity: float) -> str:
    """The labelled English translation of the first citation's quote, or "" (the answer then points to
    the German passage). The quote is translated sentence by sentence (the checks were fitted on
    sentences), each checked on its own; the first that fails a check ends the work."""
    c = citations[0]
    f = render.frames("en")
    done = []
    for s, e in split_sentences(c.quote):
        checked = check_batch(generator, embedder, [c.quote[s:e]], min_similarity, stop_early=True)[0]
        if not checked.accepted:
            done = []
            break
        done.append(checked.text)
    return f["translation"].format(text=" ".join(done), n=c.n) if done else ""
