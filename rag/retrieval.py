"""question -> hits: dense (FAISS), BM25, reciprocal rank fusion, and the best sentences in each hit."""
from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from .index import Index, unit_context
from .text import YEAR, detect_language, tokenize
from .types import Hit, Span


ENGLISH_BM25_WEIGHT = 0.3
SENTENCE_MARGIN = 0.35  # sentences scoring this close to a chunk's best are returned with the hit


class BM25:
    """Okapi BM25 over the index's chunks (German-aware tokens from text.tokenize)."""

    def __init__(self, docs: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.tfs = [Counter(tokenize(d)) for d in docs]
        self.lens = np.array([sum(tf.values()) for tf in self.tfs], dtype="float64")
        self.avg = float(self.lens.mean()) if len(self.lens) else 0.0
        df = Counter(t for tf in self.tfs for t in tf)
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(len(self.tfs))
        terms = tokenize(query)
        for i, tf in enumerate(self.tfs):
            norm = self.k1 * (1 - self.b + self.b * self.lens[i] / (self.avg or 1))
            out[i] = sum(self.idf.get(t, 0.0) * tf[t] * (self.k1 + 1) / (tf[t] + norm) for t in terms if t in tf)
        return out


def answer_chunks(chunks) -> dict[int, int]:
    """For each question chunk, the first chunk answering it (by the question text it carries)."""
    out = {}
    for i, q in enumerate(chunks):
        if q.kind != "question":
            continue
        head = q.text[:60]
        for j, c in enumerate(chunks):
            if c.kind != "question" and c.doc_id == q.doc_id and head and head in c.question:
                out[i] = j
                break
    return out


class Retriever:
    def __init__(self, index: Index, embedder, mode: str = "hybrid", rrf_k: int = 60):
        self.index, self.embedder, self.mode, self.rrf_k = index, embedder, mode, rrf_k
        self.bm25 = BM25([f"{c.section}\n{c.text}" for c in index.chunks])
        self.by_chunk: dict[int, list[int]] = {}
        for row, (ci, _, _) in enumerate(index.sentences):
            self.by_chunk.setdefault(ci, []).append(row)
        # sentence tokens include the heading and list introduction the sentence stands under
        self.unit_tokens = [set(tokenize(unit_context(index.chunks[ci], s, e))) for ci, s, e in index.sentences]
        self.max_idf = max(self.bm25.idf.values(), default=1.0)
        self.vocabulary = frozenset(self.bm25.idf)
        self.answer_of = answer_chunks(index.chunks)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int = 5) -> list[list[Hit]]:
        n = len(self.index.chunks)
        if n == 0:
            return [[] for _ in queries]
        # the query vector is needed in every mode: sentences are scored with it (the mode
        # only decides how chunks are ranked)
        qvecs = np.asarray(self.embedder.embed_queries(list(queries)), dtype="float32")
        out = []
        for qi, query in enumerate(queries):
            qvec = qvecs[qi]
            ranked = self._with_answers(self._rank(query, qvec, n))
            out.append([self._hit(i, score, query, qvec) for i, score in ranked[:k]])
        return out

    def _rank(self, query: str, qvec, n: int) -> list[tuple[int, float]]:
        dense = bm = None
        if self.mode in ("dense", "hybrid"):
            sims, ids = self.index.faiss_index.search(qvec[None, :], n)
            dense = [(int(i), float(s)) for i, s in zip(ids[0], sims[0]) if i >= 0]
        if self.mode in ("bm25", "hybrid"):
            scores = self.bm25.scores(query)
            bm = sorted(((i, float(s)) for i, s in enumerate(scores) if s > 0), key=lambda t: -t[1])
        if self.mode == "dense":
            return dense
        if self.mode == "bm25":
            return bm
        # BM25 tokens are German stems: an English question shares little more than names and
        # numbers with the paper, so its lexical ranking counts less in the fusion.
        bm_weight = 1.0 if detect_language(query) == "de" else ENGLISH_BM25_WEIGHT
        fused: dict[int, float] = {}
        for ranking, weight in ((dense, 1.0), (bm, bm_weight)):
            for rank, (i, _) in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + weight / (self.rrf_k + rank + 1)
        return sorted(fused.items(), key=lambda t: -t[1])

    def _with_answers(self, ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """A question of the paper that matches brings the start of its answer right behind it."""
        out, seen = [], set()
        for i, score in ranked:
            for j in (i, self.answer_of.get(i)):
                if j is not None and j not in seen:
                    seen.add(j)
                    out.append((j, score))
        return out

    def _hit(self, ci: int, score: float, query: str, qvec) -> Hit:
        spans, relevance = self.best_spans(ci, query, qvec)
        return Hit(self.index.chunks[ci], score, tuple(spans), relevance)

    def best_spans(self, ci: int, query: str, qvec, top: int = 4) -> tuple[list[Span], float]:
        """The sentence spans of chunk ci closest to the query, best first, and the
        highest plain cosine similarity of any of them to the question.

        The score is the cosine similarity, plus half the share of the question's tokens (weighted
        by inverse document frequency) that the sentence or its heading contains, plus a bonus when it names a year the question asks about, or follows one in
        its passage (a malus when it stands under another year); sentences are verbatim chunk text.
        """
        chunk = self.index.chunks[ci]
        rows = self.by_chunk.get(ci, [])
        if not rows:
            return [Span(chunk, 0, len(chunk.text))], 0.0
        qtok = set(tokenize(query))
        weight = {t: self.bm25.idf.get(t, self.max_idf) for t in qtok}
        total = sum(weight.values()) or 1.0
        qyears = set(YEAR.findall(query))
        scored, relevance = [], -1.0
        for row in rows:
            _, s, e = self.index.sentences[row]
            text = chunk.text[s:e]
            lexical = sum(weight[t] for t in qtok & self.unit_tokens[row]) / total
            dense = float(self.index.sentence_vectors[row] @ qvec)
            relevance = max(relevance, dense)
            years = 0.0
            if qyears:
                context = YEAR.findall(text) or YEAR.findall(chunk.text[:s])[-1:]
                years = 0.25 if qyears & set(context) else -0.15 if context else 0.0
            scored.append(Span(chunk, s, e, dense + 0.5 * lexical + years, dense))
        scored.sort(key=lambda sp: -sp.score)
        best = scored[0].score
        return [sp for sp in scored[:top] if sp.score >= best - SENTENCE_MARGIN], relevance
