"""English for descriptive answers: the local model translates the evidence, and the translation is
shown only when it keeps every number and name of the source, adds none, reads as finished
sentences, and means the same (cross-lingual similarity of source and translation, with the
embedder, at or above the policy's ``min_translation``). Otherwise the answer says so and points to
the German passage.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from . import render
from .text import normalize_number, numbers
from .types import Citation, GenerationRequest

_NAME = re.compile(r"„[^“]+“|\b[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)+\b|\b[A-Z]{2,}\b")


def problems(source: str, translation: str, similarity: float, min_similarity: float) -> list[str]:
    out = []
    src = {normalize_number(n) for n in numbers(source)}
    got = {normalize_number(n) for n in numbers(translation)}
    if src - got:
        out.append(f"numbers lost: {sorted(src - got)}")
    if got - src:
        out.append(f"numbers added: {sorted(got - src)}")
    for name in _NAME.findall(source):
        bare = name.strip("„“")
        if bare not in translation:
            out.append(f"name lost: {bare}")
    if not re.search(r"[.!?…][\"'”“)]*\s*$", translation.strip()):
        out.append("cut off")
    if similarity < min_similarity:
        out.append(f"meaning drifted (similarity {similarity:.2f})")
    return out


def translate(generator, embedder, citations: Sequence[Citation], min_similarity: float) -> str:
    """The labelled English translation of the first citation's quote, or a pointer to the German
    passage when the translation fails a check."""
    c = citations[0]
    source = " ".join(c.quote.split())
    text = ""
    try:
        out = generator.generate(GenerationRequest("translate", "", "en", ((c.n, source),), max_new_tokens=160))
        text = " ".join(out.text.split())
    except Exception:  # a model failure must not cost the verified answer
        text = ""
    sim = 0.0
    if text:
        vecs = np.asarray(embedder.embed_documents([source, text]), dtype="float32")
        sim = float(vecs[0] @ vecs[1])
    f = render.frames("en")
    if text and not problems(source, text, sim, min_similarity):
        return f["translation"].format(text=text, n=c.n)
    return f["pointer"].format(page=c.chunk.page, section=c.chunk.section or "-")
