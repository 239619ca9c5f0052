"""The shared vocabulary: data only, no logic."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A cleaned source document. ``text`` is the clean text every offset refers to."""

    doc_id: str
    text: str
    source: str
    sha256: str  # of the raw source bytes
    page_starts: tuple[int, ...]  # page_starts[i] = offset in ``text`` where page i+1 begins
    metadata: dict = field(default_factory=dict)  # drucksache, wahlperiode, date, asker, party, title


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; ``document.text[start:end] == text``."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    page: int
    section: str  # e.g. "Antwort zu Fragen 1, 2, 2 a) und 2 b) > Wirtschaft"
    question: str = ""  # the question this passage answers, or ""
    kind: str = "paragraph"  # paragraph | list | question | heading | meta


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its score and the sentences in it that best match the question."""

    chunk: Chunk
    score: float
    sentences: tuple[str, ...] = ()  # verbatim substrings of chunk.text, best first
    sentence_scores: tuple[float, ...] = ()  # how well each sentence matches the question
    relevance: float = 0.0  # highest cosine similarity of any sentence of the chunk to the question


@dataclass(frozen=True)
class Citation:
    n: int
    chunk: Chunk
    quote: str  # verbatim substring of chunk.text


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    language: str  # "de" | "en"
    refused: bool
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    mode: str = "extractive"  # generated | extractive | refusal
    timings: dict = field(default_factory=dict)  # retrieval, generation, total (seconds)
