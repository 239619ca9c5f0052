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

NAME_LINK = 0.85  # a name and its translation ("Munich" ~ "München" 0.97); other places stay below (~0.70)
_WORD = re.compile(r"[^\W\d_][\w\-]{2,}")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class Lexicon:
    """Word vectors of a corpus's vocabulary, and focus-to-passage word similarity."""

    def __init__(self, vocabulary: Sequence[str], vectors: np.ndarray, embedder, texts: Sequence[str] = (),
                 groups: Sequence[str] = ()):
        self.vocabulary = list(vocabulary)
        self.row = {w: i for i, w in enumerate(self.vocabulary)}
        # compound lookups (see compound_columns): every folded word by its own stem and by its prefixes
        self._by_stem: dict[str, list[int]] = {}
        self._by_fold: dict[str, list[int]] = {}
        for i, w in enumerate(fold(w) for w in self.vocabulary):
            self._by_fold.setdefault(w, []).append(i)
            if len(w) >= 6:
                self._by_stem.setdefault(w[:max(5, len(w) - 3)], []).append(i)
        self._folded = "\n" + "\n".join(fold(w) for w in self.vocabulary) + "\n"
        self._starts = np.array([m.start() + 1 for m in re.finditer("\n", self._folded)][:-1], dtype=int)
        self.vectors = vectors
        self.embedder = embedder
        # which passage uses which corpus word, for how specific a focus word is (see _weight)
        self.uses = np.zeros((len(texts), len(self.vocabulary)), dtype=bool)
        for i, t in enumerate(texts):
            cols = [self.row[w] for w in set(words(t)) if w in self.row]
            self.uses[i, cols] = True
        self._weights: dict[tuple[str, float], float] = {}
        # which document (``groups``: one id per text) uses which word, to tell papers apart
        self.documents = list(dict.fromkeys(groups))
        self.doc_uses = np.stack([self.uses[[g == d for g in groups]].any(axis=0) for d in self.documents]) \
            if self.documents and len(groups) == len(texts) else np.zeros((0, len(self.vocabulary)), dtype=bool)

    def compound_columns(self, f: str) -> list[int]:
        """The vocabulary words that ``_compound`` links to the folded word ``f`` ("handel" ~
        "aussenhandel" and the reverse), found by string search instead of a loop over every word."""
        if len(f) < 5:
            return list(self._by_fold.get(f, ()))
        stem = f[:max(5, len(f) - 3)]
        cols = {int(np.searchsorted(self._starts, m.start(), side="right")) - 1
                for m in re.finditer(re.escape(stem), self._folded)}
        for a in range(len(f)):  # words whose own stem stands in f
            for b in range(a + 5, len(f) + 1):
                cols.update(self._by_stem.get(f[a:b], ()))
        return sorted(cols)

    def mentions(self, focus: Sequence[str], threshold: float) -> dict[str, list[bool]]:
        """For each document, which focus words it uses: the word itself, a compound containing it, or
        its translation (a word at least NAME_LINK similar: a weak link must not decide the paper)."""
        if not len(self.doc_uses) or not focus:
            return {d: [] for d in self.documents}
        fv = self._focus_vectors(tuple(f.lower() for f in focus))
        linked = (fv @ self.vectors.T) >= max(threshold, NAME_LINK)  # focus x vocabulary: strong links only
        for i, f in enumerate(focus):
            ff = fold(f)
            linked[i, self.compound_columns(ff)] = True
        hit = (self.doc_uses[:, None, :] & linked[None, :, :]).any(axis=2)  # documents x focus
        return {d: [bool(x) for x in hit[k]] for k, d in enumerate(self.documents)}

    def coverage(self, focus: Sequence[str], passage: str, threshold: float) -> tuple[float, list[float]]:
        """The share of the focus that the passage mentions, each focus word weighted by how specific
        its nearest corpus word is; and the per-word link strengths."""
        if not focus:
            return 1.0, []
        self._focus_vectors(tuple(f.lower() for f in focus))  # one batch for every word the corpus lacks
        links = self.link(focus, passage)
        weights = [self.weight(f, threshold) for f in focus]
        total = sum(weights) or 1.0
        return sum(w for w, v in zip(weights, links) if v >= threshold) / total, links

    def weight(self, f: str, threshold: float) -> float:
        """How specific a focus word is in this corpus, in any language: 1 - the share of passages
        using a word as close to it as its closest corpus word (within 0.05) or closer than
        ``threshold``. "Kasachstan" in every passage says little, and so does "state" when its best
        German match ("Landes") is everywhere; a word the corpus has nothing close to weighs 1.0."""
        key = (f.lower(), threshold)
        if key not in self._weights:
            if not self.vocabulary or not len(self.uses):
                return 1.0
            sims = self.vectors @ self._vector(key[0])
            level = min(threshold, float(sims.max()) - 0.05)
            df = self.uses[:, sims >= level].any(axis=1).sum() if float(sims.max()) >= 0.5 else 0
            if len(self._weights) > 4096:
                self._weights.clear()
            self._weights[key] = max(0.1, 1.0 - df / len(self.uses))
        return self._weights[key]

    @classmethod
    def load_or_build(cls, folder: Path, texts: Sequence[str], embedder, log=None, groups: Sequence[str] = ()) -> "Lexicon":
        vocab = sorted({w for t in texts for w in words(t)})
        key = hashlib.sha256(("\n".join(vocab) + str(getattr(embedder, "fingerprint", ""))).encode()).hexdigest()[:16]
        path = Path(folder) / f"lexicon-{key}.npz"
        try:
            data = np.load(path)
            if list(data["words"]) == vocab and data["vectors"].shape[0] == len(vocab):
                return cls(vocab, data["vectors"], embedder, texts, groups)
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
        return cls(vocab, vectors, embedder, texts, groups)

    def link(self, focus: Sequence[str], passage: str, names: bool = False) -> list[float]:
        """For each focus word, how strongly the passage mentions it: 1.0 for a lexical match
        (stem, compound part), else the highest cosine similarity to a word of the passage
        (``names``: only similarities of at least NAME_LINK count, so "Kazakhstan" links to
        "Kasachstan" (0.97) but "Rotterdam" not to "Rostock" (0.70); others are 0.0)."""
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
                    if names and out[i] < NAME_LINK:
                        out[i] = 0.0
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
