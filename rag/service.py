"""The one service under every front end: the pipeline behind an admission gate, with a deadline and
one stream bridge.

The REST API, the OpenAI-compatible routes and the Gradio chat all call the model through a Service:

  Service(pipeline).ask_stream(question, history) -> text pieces, then the final Answer   (sync)
  Service(pipeline).ask / search / documents                                               (sync)
  Service(pipeline).stream(question, history) -> Stream, iterated with `async for`         (async)

The model serves one call at a time on one long-lived thread; at most ``max_waiting`` calls queue behind
it (BusyError, 503, beyond that); every admitted call has ``timeout`` seconds, queueing included
(TimeoutError_, 504). Input is checked (pipeline.check_question / check_history) before a queue place is
taken, so bad input never waits for the model.

``health()`` also names the configured generator, what the answer mode uses it for, and for a model
server whether it is reachable: one quick probe (``PROBE_TIMEOUT``), reused for ``PROBE_SECONDS``.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Iterable, Iterator

from .errors import BusyError, RagError
from .gate import Gate, Stream, as_rag_error
from .pipeline import check_history, check_question
from .types import Answer, Document, Hit

log = logging.getLogger("rag.service")

PROBE_SECONDS = 5.0  # a model server's reachability is probed at most this often
PROBE_TIMEOUT = 2.0  # seconds one probe may take


class LoadingError(BusyError):
    """The models are still loading (or failed to load)."""


class Service:
    """The pipeline as every front end sees it. Cheap to construct; ``start()`` warms the models up on
    the model thread, while ``status`` says "loading" (then "ready" or "failed")."""

    def __init__(self, pipeline, *, max_waiting: int = 4, timeout: float = 60.0):
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.gate = Gate(max_waiting, timeout)
        self.status = "ready" if getattr(pipeline, "ready", False) else "loading"
        self.error: str | None = None
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, dict] | None = None  # (when, what the model server said)
        self._prober = None  # an OpenAIGenerator of the service's own, for probing only

    # -- readiness ------------------------------------------------------------------------------------
    def start(self) -> Future | None:
        """Warm the models up on the model thread (once); every model call then runs on that thread."""
        if self.status != "loading":
            return None
        return self.gate.executor.submit(self._warm_up)

    def _warm_up(self) -> None:
        try:
            t0 = time.monotonic()
            self.pipeline.warm_up()
            self.status = "ready"
            log.info("ready: the models loaded in %.0f s", time.monotonic() - t0)
        except Exception as exc:  # reported by health and every call; the server stays up to say so
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.status = "failed"
            log.error("warm-up failed: %s", self.error, exc_info=not isinstance(exc, RagError))

    def require_ready(self) -> None:
        if self.status == "loading":
            raise LoadingError("the models are still loading; retry in a few seconds")
        if self.status == "failed":
            raise LoadingError(f"the models failed to load: {self.error}")

    def health(self) -> dict:
        """Status, answer mode, queue and generator; may wait up to ``PROBE_TIMEOUT`` for a model server."""
        out = {"status": self.status, "answer_mode": self.settings.answer_mode, "queue": self.gate.stats(),
               "generator": self.generator_health()}
        if self.error:
            out["error"] = self.error
        return out

    def generator_health(self) -> dict:
        """The configured generator: backend, model, what it is used for; for a model server in use,
        whether it is reachable (and the problem if not). Never raises."""
        from .generation import OPENAI_PREFIX

        settings = self.settings
        spec, used = settings.generator.strip(), generator_use(settings)
        if not spec.startswith(OPENAI_PREFIX):
            return {"backend": "local", "model": spec, "url": None, "used_for": used, "reachable": None, "problem": None}
        out = {"backend": "openai", "model": "", "url": None, "used_for": used, "reachable": None, "problem": None}
        try:
            from .openai_backend import parse_spec

            out["url"], out["model"] = parse_spec(spec)
            if used != "not used":
                out.update(self._probed())
        except Exception as exc:  # a bad spec, or anything else: said, never raised
            out.update(reachable=False, problem=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return out

    def _probed(self) -> dict:
        with self._probe_lock:
            now = time.monotonic()
            if self._probe is None or now - self._probe[0] >= PROBE_SECONDS:
                if self._prober is None:
                    from .openai_backend import OpenAIGenerator

                    self._prober = OpenAIGenerator.from_settings(self.settings)
                said = self._prober.health(timeout=PROBE_TIMEOUT)
                self._probe = (time.monotonic(), {"reachable": said["reachable"], "problem": said["problem"]})
            return dict(self._probe[1])

    def counts(self) -> dict:
        """Documents and chunks of the loaded index (only when ready)."""
        index = self.pipeline.index
        return {"documents": len(index.documents), "chunks": len(index.chunks)}

    # -- sync: the chat window calls these from its worker threads ---------------------------------------
    def ask_stream(self, question: str, history=()) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the final, verified Answer."""
        return iter(self.stream(question, history))

    def ask(self, question: str, history=()) -> Answer:
        return _last(self.ask_stream(question, history))

    def search(self, question: str, history=(), k: int | None = None) -> list[Hit]:
        question, history = self._checked(question, history)
        try:
            return self.gate.run(self.pipeline.search, question, history, k)
        except Exception as exc:
            raise as_rag_error(exc) from exc

    def documents(self) -> list[Document]:
        """The loaded documents; while the models load, waits for them (behind the warm-up)."""
        if self.status == "loading":
            return self.gate.run(self.pipeline.documents)
        self.require_ready()
        return self.pipeline.documents()

    def document_metadata(self) -> dict[str, dict]:
        return {d.doc_id: d.metadata for d in self.documents()}

    # -- async: the HTTP routes ----------------------------------------------------------------------------
    def stream(self, question: str, history=()) -> Stream:
        """Check, admit (BusyError when full) and queue one answer; iterate the Stream for its items."""
        question, history = self._checked(question, history)
        return Stream(self.gate, lambda: self.pipeline.ask_stream(question, history))

    async def ask_async(self, question: str, history=()) -> Answer:
        answer = None
        async for item in self.stream(question, history):
            answer = item
        return _final(answer)

    async def search_async(self, question: str, history=(), k: int | None = None) -> list[Hit]:
        question, history = self._checked(question, history)
        try:
            return await self.gate.call(self.pipeline.search, question, history, k)
        except Exception as exc:
            raise as_rag_error(exc) from exc

    def _checked(self, question, history) -> tuple[str, list]:
        question = check_question(question, self.settings)
        history = [list(turn) for turn in check_history(history)]
        self.require_ready()
        return question, history


def generator_use(settings) -> str:
    """What the answer mode uses the generator for (rag/pipeline.py): "answers and translations"
    (generated), "translations" (verified; extractive with ``translate``), or "not used"."""
    if settings.answer_mode == "generated":
        return "answers and translations"
    if settings.answer_mode == "verified" or settings.translate:
        return "translations"
    return "not used"


def _last(items: Iterable) -> Answer:
    answer = None
    for answer in items:
        pass
    return _final(answer)


def _final(item) -> Answer:
    if not isinstance(item, Answer):
        raise RagError("the answer stream ended without an answer")
    return item
