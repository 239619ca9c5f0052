"""ask(question, history) as plain function composition: resolve -> retrieve -> answer -> verify."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

from . import answering, scope
from . import policy as policies
from .config import Settings
from .conversation import resolve
from .errors import InputError
from .errors import IndexError_
from .index import Index, check_index_dir, load_or_build, quote_in_document, reading_context
from .ingest import load_document
from .lexicon import Lexicon
from .query import analyse
from .retrieval import Retriever
from .types import Answer, Document, Hit, Query

History = Sequence[Sequence[str]]


class Pipeline:
    """The whole product behind one object. Cheap to construct; models load in warm_up()."""

    def __init__(self, settings: Settings | None = None, *, embedder=None, generator=None, log=None):
        self.settings = settings or Settings.from_env()
        self._embedder, self._generator = embedder, generator
        self._index: Index | None = None
        self._retriever: Retriever | None = None
        self._lexicon: Lexicon | None = None
        self.policy = policies.Policy()
        self._lock = threading.Lock()
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from . import models
            from .embedding import SentenceTransformerEmbedder

            self._embedder = SentenceTransformerEmbedder(models.embedder_path(self.settings), models.embedder_id(
                self.settings), models.embedder_fingerprint(self.settings))
        return self._embedder

    @property
    def generator(self):
        if self._generator is None:
            from . import generation

            self._generator = generation.make_generator(self.settings)
        return self._generator

    def sources(self, extra: Sequence[Path] = ()) -> list[Path]:
        """The configured corpus, documents added with add_documents (while their files exist), extra."""
        out = [Path(p) for p in self.settings.corpus]
        for p in _added(self.settings.index_dir):
            if p.exists():
                out.append(p)
            else:
                self.log(f"index: leaving out {p} (the file no longer exists)")
        return out + [Path(p) for p in extra]

    def warm_up(self) -> "Pipeline":
        with self._lock:
            if self._retriever is None:
                self._load(self.sources())
            if self.settings.answer_mode in ("verified", "generated"):
                self.generator.warm_up()
        return self

    def _load(self, sources: list[Path]) -> None:
        check_index_dir(self.settings.index_dir)  # before the embedder loads
        self.embedder.warm_up()
        self._index = load_or_build(Path(self.settings.index_dir), sources, self.embedder,
                                    {"id": self.embedder.name, "fingerprint": self.embedder.fingerprint},
                                    self.settings.index_type, log=self.log)
        self._retriever = Retriever(self._index, self.embedder, self.settings.retrieval, self.settings.rrf_k)
        self._lexicon = Lexicon.load_or_build(Path(self.settings.index_dir), [c.text for c in self._index.chunks],
                                              self.embedder, log=self.log, groups=[c.doc_id for c in self._index.chunks])
        self.policy = policies.load(Path(self.settings.index_dir), getattr(self.embedder, "fingerprint", ""))

    def add_documents(self, paths: Sequence[Path]) -> Index:
        """Index more .txt/.pdf files beside the corpus; unchanged documents add nothing."""
        for p in paths:  # read and check every new document before any model loads or file changes
            load_document(p)
        with self._lock:
            self._load(self.sources(paths))
            _save_added(self.settings.index_dir, [*_added(self.settings.index_dir), *paths])
        return self._index

    @property
    def ready(self) -> bool:
        return self._retriever is not None

    def documents(self) -> list[Document]:
        self.warm_up()
        return list(self._index.documents)

    @property
    def index(self) -> Index:
        self.warm_up()
        return self._index

    # -- the straight line ------------------------------------------------------------------------
    def search(self, question: str, history: History = (), k: int | None = None) -> list[Hit]:
        return self.search_batch([(question, history)], k)[0]

    def search_batch(self, items: Sequence[tuple[str, History]], k: int | None = None) -> list[list[Hit]]:
        self.warm_up()
        queries = [self.query(q, h).resolved for q, h in items]
        return self._retriever.search_batch(queries, k or self.settings.k)

    def query(self, question: str, history: History = ()) -> Query:
        """The question as every stage sees it: checked, resolved against the history, analysed."""
        question = check_question(question, self.settings)
        history = check_history(history)
        return analyse(question, resolve(question, history), history)

    def explain(self, question: str, history: History = ()):
        """(query, hits, decision): what the answering step saw and decided (for calibration)."""
        from .evidence import decide

        self.warm_up()
        q, hits = self._retrieve(question, history)
        return q, hits, decide(q, hits, self.policy, self._lexicon, self._context)

    def _retrieve(self, question: str, history: History) -> tuple[Query, list[Hit]]:
        """The query and its hits. A question that stands alone but finds nothing close is read as a
        follow-up when that finds more ("How many were there?"); hits keep to the paper(s) in scope."""
        query = self.query(question, history)
        self.warm_up()
        hits = self._retriever.search(query.resolved, self.settings.k)
        if query.history and query.resolved == query.text and _relevance(hits) < self.policy.for_language(query.language)[0]:
            follow = analyse(query.text, resolve(query.text, query.history, force=True), query.history)
            more = self._retriever.search(follow.resolved, self.settings.k)
            if _relevance(more) > _relevance(hits):
                query, hits = follow, more
        docs = scope.documents(query, self._lexicon, self.policy.word_link)
        return replace(query, documents=tuple(sorted(docs or ()))), scope.restrict(hits, docs)

    def _context(self, span) -> str:
        return reading_context(span.chunk, span.start, span.end)

    def ask(self, question: str, history: History = ()) -> Answer:
        final = None
        for item in self.ask_stream(question, history):
            final = item
        return final

    def ask_stream(self, question: str, history: History = ()) -> Iterator[str | Answer]:
        """Yields text as it is produced; the last item is the final, verified Answer."""
        t0 = time.perf_counter()
        query, hits = self._retrieve(question, history)
        t1 = time.perf_counter()
        first = None
        for item in answering.answer_stream(query, hits, self.policy, lexicon=self._lexicon, context=self._context,
                                            chunks=self._index.chunks, translate=self._translate,
                                            generate=self._generate if self.settings.answer_mode == "generated" else None):
            if isinstance(item, Answer):
                if not all(quote_in_document(self._index, c) for c in item.citations):
                    raise IndexError_("a quote does not match the document it came from: the index is damaged; "
                                      "run `rag index verify` and `rag index build`")
                t2 = time.perf_counter()
                timings = {"retrieval": t1 - t0, "generation": t2 - t1, "total": t2 - t0,
                           "first_text": (first or t2) - t0}
                yield Answer(**{**item.__dict__, "timings": timings})
                return
            if first is None:
                first = time.perf_counter()
            yield item


    def _generate(self, query, citations):
        from .generated import generated_answer

        made = generated_answer(self.generator, self.embedder, query, citations, self.policy.min_support, log=self.log)
        return made[0] if made else None

    def _translate(self, citations):
        if self.settings.answer_mode == "extractive" and not self.settings.translate:
            return None
        from .translate import translate

        return translate(self.generator, self.embedder, citations, self.policy.min_translation)


def _relevance(hits: Sequence[Hit]) -> float:
    return max((h.relevance for h in hits), default=0.0)


ADDED = "added.json"  # documents added with `rag index build PATH...`, beside the configured corpus


def _added(index_dir) -> list[Path]:
    try:
        return [Path(p) for p in json.loads((Path(index_dir) / ADDED).read_text())]
    except (OSError, ValueError):
        return []


def _save_added(index_dir, paths) -> None:
    unique = list(dict.fromkeys(str(Path(p).resolve()) for p in paths))
    tmp = Path(index_dir) / f".{ADDED}.{os.getpid()}"
    tmp.write_text(json.dumps(unique, indent=1))
    os.replace(tmp, Path(index_dir) / ADDED)


def check_question(question, settings: Settings) -> str:
    if not isinstance(question, str):
        raise InputError("question must be a string")
    q = question.strip()
    if not q:
        raise InputError("question is empty")
    if len(q) > settings.max_question_chars:
        raise InputError(f"question is too long ({len(q)} characters, at most {settings.max_question_chars})")
    return q


def check_history(history) -> list[tuple[str, str]]:
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise InputError("history must be a list of [user, assistant] pairs")
    out = []
    for i, turn in enumerate(history):
        if not isinstance(turn, (list, tuple)) or len(turn) != 2 or not all(isinstance(t, str) for t in turn):
            raise InputError(f"history[{i}] must be a [user, assistant] pair of strings")
        out.append((turn[0], turn[1]))
    return out
