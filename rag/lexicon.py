"""Does the evidence talk about the thing asked for? Focus words linked to passage words, across
languages: a German stem or compound part matches directly; otherwise a word's embedding is compared
with the embeddings of the passage's words ("capital" ~ "Hauptstadt", "cost" ~ "Kosten").

The corpus's word vectors are computed once per index and embedder and cached beside the index
(``lexicon-<fingerprint>.npz``, written atomically; a damaged or stale cache is rebuilt).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .text import fold, tokenize

_WORD = re.compile(r"[^\W\d_][\w\-]{2,}")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class Lexicon:
    """Word vectors of a corpus's vocabulary, and focus-to-passage word similarity."""

    def __init__(self, vocabulary: Sequence[str], vectors: np.ndarray, embedder, texts: Sequence[str] = ()):
        self.vocabulary = list(vocabulary)
        self.row = {w: i for i, w in enumerate(self.vocabulary)}
        self.vectors = vectors
        self.embedder = embedder
        # how specific a word is: 1 - the share of passages using it ("Kasachstan" in every passage says little)
        sets = [set(words(t)) for t in texts]
        self.weight = {w: max(0.1, 1.0 - sum(w in s for s in sets) / len(sets)) for w in self.vocabulary} if sets else {}

    def coverage(self, focus: Sequence[str], passage: str, threshold: float) -> tuple[float, list[float]]:
        """The share of the focus that the passage mentions, each focus word weighted by how specific
        its nearest corpus word is; and the per-word link strengths."""
        if not focus:
            return 1.0, []
        self._focus_vectors(tuple(f.lower() for f in focus))  # one batch for every word the corpus lacks
        links = self.link(focus, passage)
        weights = [self._weight(f) for f in focus]
        total = sum(weights) or 1.0
        return sum(w for w, v in zip(weights, links) if v >= threshold) / total, links

    def _weight(self, f: str) -> float:
        w = f.lower()
        if w in self.weight:
            return self.weight[w]
        if not self.vocabulary:
            return 1.0
        sims = self.vectors @ self._vector(w)
        near = self.vocabulary[int(np.argmax(sims))]
        return self.weight.get(near, 1.0) if float(sims.max()) >= 0.75 else 1.0

    @classmethod
    def load_or_build(cls, folder: Path, texts: Sequence[str], embedder, log=None) -> "Lexicon":
        vocab = sorted({w for t in texts for w in words(t)})
        key = hashlib.sha256(("\n".join(vocab) + str(getattr(embedder, "fingerprint", ""))).encode()).hexdigest()[:16]
        path = Path(folder) / f"lexicon-{key}.npz"
        try:
            data = np.load(path)
            if list(data["words"]) == vocab and data["vectors"].shape[0] == len(vocab):
                return cls(vocab, data["vectors"], embedder, texts)
        except (OSError, ValueError, KeyError):
            pass
        if log:
            log(f"lexicon: embedding {len(vocab)} words of the corpus (once per index)")
        vectors = np.asarray(embedder.embed_documents(vocab, progress=len(vocab) > 200), dtype="float32") \
            if vocab else np.zeros((0, embedder.dim), dtype="float32")
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.npz")
            np.savez(tmp, words=np.array(vocab), vectors=vectors)
            os.replace(tmp, path)
            for old in Path(folder).glob("lexicon-*.npz"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only index folder: keep the vectors in memory
        return cls(vocab, vectors, embedder, texts)

    def link(self, focus: Sequence[str], passage: str) -> list[float]:
        """For each focus word, how strongly the passage mentions it: 1.0 for a lexical match
        (stem, compound part), else the highest cosine similarity to a word of the passage."""
        pw = words(passage)
        tokens = set(tokenize(passage))
        folded = [fold(w) for w in pw]
        out = []
        pending = []
        for i, f in enumerate(focus):
            ft = tokenize(f)
            if ft and (all(t in tokens for t in ft) or _compound(fold(f), folded)):
                out.append(1.0)
            else:
                out.append(0.0)
                pending.append(i)
        if pending and pw:
            rows = [self.row[w] for w in dict.fromkeys(pw) if w in self.row]
            if rows:
                fv = self._focus_vectors(tuple(focus[i].lower() for i in pending))
                sims = fv @ self.vectors[rows].T
                for j, i in enumerate(pending):
                    out[i] = float(sims[j].max())
        return out

    def _focus_vectors(self, ws: tuple[str, ...]) -> np.ndarray:
        missing = [w for w in dict.fromkeys(ws) if w not in self.row and (id(self.embedder), w) not in _cache]
        if missing:  # one batch for the words the corpus does not use (English focus words)
            for w, v in zip(missing, np.asarray(self.embedder.embed_documents(missing), dtype="float32")):
                _cache[(id(self.embedder), w)] = v
        return np.stack([self._vector(w) for w in ws])

    def _vector(self, w: str) -> np.ndarray:
        if w in self.row:
            return self.vectors[self.row[w]]
        return _embed_word(self.embedder, w)


_cache: dict[tuple[int, str], np.ndarray] = {}


def _embed_word(embedder, w: str) -> np.ndarray:
    key = (id(embedder), w)
    if key not in _cache:
        if len(_cache) > 4096:
            _cache.clear()
        _cache[key] = np.asarray(embedder.embed_documents([w]), dtype="float32")[0]
    return _cache[key]


def _compound(f: str, passage_words: Sequence[str]) -> bool:
    """A German focus word found as part of a compound ("handel" in "aussenhandel") or the reverse."""
    if len(f) < 5:
        return f in passage_words
    stem = f[:max(5, len(f) - 3)]
    return any(stem in w or (len(w) >= 6 and w[:max(5, len(w) - 3)] in f) for w in passage_words)
