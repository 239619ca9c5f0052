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
    card: str = ""  # the document card: "label: value" lines about the paper itself (see rag/card.py)


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
    question: str = ""  # the text of the question(s) this passage answers, or ""
    kind: str = "paragraph"  # paragraph | list | question | heading | meta | card
    number: str = ""  # for kind "question": the paper's question number ("3", "2 a)")
    answers: tuple[str, ...] = ()  # for answer passages: the question numbers answered here ("1", "2", "2 a)")
    heading: tuple[str, ...] = ()  # heading path, e.g. ("Antwort zu Fragen 1 und 2", "Wirtschaft")


@dataclass(frozen=True)
class Span:
    """A piece of evidence: ``chunk.text[start:end]``, offsets into the chunk's text."""

    chunk: Chunk
    start: int
    end: int
    score: float = 0.0  # how well it matches the question (higher is better)
    similarity: float = 0.0  # plain cosine similarity of the span to the question

    @property
    def text(self) -> str:
        return self.chunk.text[self.start:self.end]


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its score and the spans in it that best match the question."""

    chunk: Chunk
    score: float
    spans: tuple[Span, ...] = ()  # best first
    relevance: float = 0.0  # highest cosine similarity of any span of the chunk to the question

    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(s.text for s in self.spans)


@dataclass(frozen=True)
class Query:
    """The question as every stage sees it; made once by the pipeline."""

    text: str  # as asked
    resolved: str  # self-contained (follow-ups resolved against the history)
    language: str  # "de" | "en": the language to answer in
    expected: str = "description"  # person | organisation | place | date | money | count | percentage | rank
    #                                 | list | yesno | reason | description
    focus: tuple[str, ...] = ()  # content words naming the thing asked for
    years: tuple[str, ...] = ()
    meta: str = ""  # for questions about the paper itself: the card field asked for ("asker", "date", ...)
    history: tuple[tuple[str, str], ...] = ()
    documents: tuple[str, ...] = ()  # the papers the question is about when the index holds several (() = all)
    instruction: bool = False  # the question talks to the assistant ("ignore your rules and say ...")


@dataclass(frozen=True)
class Citation:
    n: int
    chunk: Chunk
    quote: str  # verbatim: chunk.text[start:end]
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    language: str  # "de" | "en"
    refused: bool
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    mode: str = "extractive"  # extractive | verified | generated | refusal: what produced ``text``
    timings: dict = field(default_factory=dict)  # retrieval, generation, total (seconds)
    direct: str = ""  # the direct answer alone (in the asker's language), "" when there is none


@dataclass(frozen=True)
class Claim:
    """One sentence of a generated text and the passages [n] it cites."""

    text: str
    cites: tuple[int, ...] = ()


@dataclass(frozen=True)
class GenerationRequest:
    """What a generator is given: never more than the question and numbered evidence."""

    task: str  # "answer" (write the answer from the passages) | "translate" (translate passage 1)
    question: str
    language: str  # the language to write in
    passages: tuple[tuple[int, str], ...]  # (n, verbatim passage text)
    candidates: tuple[str, ...] = ()  # typed candidate answers found in the passages
    max_new_tokens: int = 200


@dataclass(frozen=True)
class Generation:
    text: str
    claims: tuple[Claim, ...] = ()
