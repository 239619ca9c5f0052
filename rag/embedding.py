"""The Embedder seam: a Protocol, the sentence-transformers implementation and a deterministic fake."""
from __future__ import annotations

import contextlib
import hashlib
import re
from typing import Protocol, Sequence

import numpy as np

from .errors import ModelError


class Embedder(Protocol):
    name: str
    fingerprint: str  # identifies the exact weights; the index manifest records it

    @property
    def dim(self) -> int: ...

    def warm_up(self) -> None: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


_LOADED: dict[str, object] = {}  # one load per model path per process


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; uses encode_query/encode_document prompts when the model has them."""

    def __init__(self, path: str, name: str | None = None, fingerprint: str | None = None, batch_size: int = 16):
        self.path = str(path)
        self.name = name or self.path
        self.fingerprint = fingerprint or self.name
        self.batch_size = batch_size

    def warm_up(self) -> None:
        if self.path in _LOADED:
            return
        from sentence_transformers import SentenceTransformer

        try:
            _LOADED[self.path] = SentenceTransformer(self.path, device="cpu")
        except Exception as exc:  # the library raises many kinds; report one line
            raise ModelError(f"cannot load embedder {self.path!r}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc

    @property
    def model(self):
        self.warm_up()
        return _LOADED[self.path]

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def _encode(self, fn, texts: Sequence[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        vecs = fn(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                  convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vecs, dtype="float32")

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if len(texts) <= 8:  # a few words or sentences at question time: one thread (see embed_queries)
            with _threads(1):
                return self._encode(self.model.encode_document, texts, progress)
        return self._encode(self.model.encode_document, texts, progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        # A question is a few dozen tokens: the matrices are too small to gain from a second thread,
        # and when the other core is busy the threads wait on each other (a query took 1.4 s on two
        # threads and 0.33 s on one, measured here while another process used a core).
        with _threads(1):
            return self._encode(self.model.encode_query, texts, False)


@contextlib.contextmanager
def _threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FakeEmbedder:
    """Deterministic bag-of-hashed-words vectors: same words, similar vectors. For fast tests only."""

    name = fingerprint = "fake-embedder"

    def __init__(self, dim: int = 64):
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def warm_up(self) -> None:
        pass

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype="float32")
        for word in re.findall(r"\w+", text.lower()):
            h = int(hashlib.md5(word[:6].encode()).hexdigest(), 16)
            v[h % self._dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self._dim), "float32")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents(texts)
