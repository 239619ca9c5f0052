"""The OpenAI-compatible routes: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions.

The last user message is the question; earlier user/assistant messages are the history; system and
developer messages are ignored (they cannot change how it answers). The reply is the answer with its
[n] markers, then the sources in the answer's language ("Quellen:"/"Sources:"), with quotes the answer
already holds not repeated. `citations`, `refused` and `language` ride along as extra fields.

`usage` counts tokens with the generator's tokenizer (the embedder's where the answer mode runs no
generator): prompt = the question and history used, completion = the reply. `max_tokens` (or
`max_completion_tokens`) cuts the reply after that many tokens with finish_reason "length", as OpenAI
does; `n` > 1, tools and non-text response formats or content parts are refused with a 400 that says so.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from typing import Annotated, Any, AsyncIterator, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from . import format as fmt
from .errors import InputError, RagError
from .serialize import citation_to_dict
from .service import Service
from .types import Answer
from .web import MAX_HISTORY_TURNS, HistoryText, whole_number, error_event, error_responses, event_stream, sse

MODEL_ID = "rag-drucksache"
log = logging.getLogger("rag.api")


class Unsupported(InputError):
    """A request for something this server does not do (OpenAI answers such requests with 400)."""

    http_status = 400

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


class ModelNotFound(InputError):
    http_status = 404
    code = "model_not_found"
    param = "model"


# -- request -------------------------------------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=100)
    text: HistoryText | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: HistoryText | Annotated[list[ContentPart], Field(max_length=20)] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            for part in self.content:
                if part.type != "text" or part.text is None:
                    raise Unsupported(f"content parts of type {part.type[:40]!r} are not supported: this server "
                                      "answers text questions only", "messages")
            return "\n".join(p.text for p in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool | None = None


class ChatRequest(BaseModel):
    """The part of OpenAI's request this server reads; sampling options (temperature, top_p, ...) have
    nothing to change in a cited answer and are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")
    model: str = Field(MODEL_ID, max_length=200, description=f"{MODEL_ID!r} (see /v1/models)")
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=2 * MAX_HISTORY_TURNS + 10)]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: whole_number(1) | None = Field(None, description="cut the reply after this many tokens")
    max_completion_tokens: whole_number(1) | None = Field(None, description="the same as max_tokens")
    n: whole_number(1) | None = Field(None, description="only 1: one answer per question")
    tools: list[Any] | None = Field(None, description="not supported (400 unless empty)")
    functions: list[Any] | None = Field(None, description="not supported (400 unless empty)")
    tool_choice: Any = None
    response_format: dict[str, Any] | None = Field(None, description='only {"type": "text"}')


def check_supported(body: ChatRequest) -> None:
    if body.model != MODEL_ID:
        raise ModelNotFound(f"the model {body.model[:100]!r} does not exist; this server serves {MODEL_ID!r}")
    if (body.n or 1) > 1:
        raise Unsupported("n > 1 is not supported: a question has one answer (it is the same every time)", "n")
    if body.tools or body.functions or body.tool_choice not in (None, "none", "auto"):
        raise Unsupported("tools are not supported: this server answers from its documents and calls no "
                          "functions", "tools")
    kind = (body.response_format or {}).get("type", "text")
    if kind != "text":
        raise Unsupported(f"response_format {str(kind)[:40]!r} is not supported: answers are text with [n] "
                          "citations", "response_format")


def conversation(messages: list[ChatMessage]) -> tuple[str, list[list[str]]]:
    """The last user message is the question; earlier user/assistant messages pair up as history.
    System and developer messages are dropped: they cannot change how it answers."""
    turns = [(m.role, m.text) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise InputError("the last message (system messages aside) must come from the user")
    history, pending = [], None
    for role, text in turns[:-1]:
        if role == "user":
            if pending is not None:
                history.append([pending, ""])
            pending = text
        else:
            history.append([pending or "", text])
            pending = None
    if pending is not None:
        history.append([pending, ""])
    return turns[-1][1], history[-MAX_HISTORY_TURNS:]


# -- reply -----------------------------------------------------------------------------------------------------
def with_sources(answer: Answer, documents: dict | None = None) -> str:
    """The answer text with its [n] markers, then the sources in the answer's language."""
    return fmt.plain_text(answer, documents, repeat_quotes=False)


def rag_fields(answer: Answer, documents: dict | None = None) -> dict:
    return {"citations": [citation_to_dict(c, answer.language, documents) for c in answer.citations],
            "refused": answer.refused, "language": answer.language}


_TOKENIZERS: dict[str, Any] = {}  # model folder -> tokenizer, one load per process
_TOKENIZER_LOCK = threading.Lock()  # also keeps two threads from importing transformers at once


class TokenCounter:
    """Counts tokens with the tokenizer alone (no weights): the generator's where the settings let it
    write (an answer mode that uses it, or translated quotes), else the embedder's. Without either (a
    model folder missing), words and punctuation marks."""

    def __init__(self, settings):
        self.settings = settings
        self._tokenizer: Any = None
        self._loaded = False

    def load(self) -> None:
        with _TOKENIZER_LOCK:
            if self._loaded:
                return
            self._loaded = True
            try:
                from . import models

                generates = self.settings.answer_mode != "extractive" or getattr(self.settings, "translate", False)
                which = models.generator_path if generates else models.embedder_path
                folder = which(self.settings, fetch=False)
                if folder not in _TOKENIZERS:
                    from transformers import AutoTokenizer

                    _TOKENIZERS[folder] = AutoTokenizer.from_pretrained(folder)
                self._tokenizer = _TOKENIZERS[folder]
            except Exception as exc:  # usage is approximate then; the answer is unaffected
                log.warning("usage: no tokenizer (%s); counting words and punctuation instead",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def offsets(self, text: str) -> list[int]:
        """The end offset of each token of ``text``."""
        self.load()
        if self._tokenizer is None:
            return [m.end() for m in re.finditer(r"\w+|[^\w\s]", text)]
        encoded = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [end for _start, end in encoded["offset_mapping"]]

    def count(self, text: str) -> int:
        return len(self.offsets(text))

    def cut(self, text: str, limit: int | None) -> tuple[str, int, bool]:
        """(text cut after ``limit`` tokens, its token count, whether it was cut)."""
        ends = self.offsets(text)
        if limit is None or len(ends) <= limit:
            return text, len(ends), False
        return text[:ends[limit - 1]], limit, True


# -- routes ----------------------------------------------------------------------------------------------------
def router(service: Service, checker, base: tuple[int, ...]) -> APIRouter:
    counter = TokenCounter(service.settings)
    threading.Thread(target=counter.load, name="rag-tokenizer", daemon=True).start()
    r = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(checker)])
    model_card = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "local"}

    @r.get("/models", responses=error_responses(*base))
    async def models() -> dict:
        """The model this server offers (OpenAI format)."""
        return {"object": "list", "data": [model_card]}

    @r.get("/models/{model}", responses=error_responses(*base, 404))
    async def model(model: str) -> dict:
        """One model (OpenAI format); 404 for any other name."""
        if model != MODEL_ID:
            raise ModelNotFound(f"the model {model[:100]!r} does not exist; this server serves {MODEL_ID!r}")
        return model_card

    @r.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}},
                                            **error_responses(*base, 400, 404, 413, 422, 504)})
    async def chat_completions(body: ChatRequest):
        """OpenAI chat completions. Sources follow the text and come as `citations`."""
        check_supported(body)
        question, history = conversation(body.messages)
        limit = body.max_completion_tokens or body.max_tokens
        reply = Reply(service, counter, f"chatcmpl-{uuid.uuid4().hex}", limit, [question, *sum(history, [])])
        if body.stream:
            items = service.stream(question, history)  # admitted now: a full queue is a 503
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return event_stream(reply.events(items, usage))
        return await reply.whole(await service.ask_async(question, history))

    return r


class Reply:
    """One chat completion, whole or as chunks."""

    def __init__(self, service: Service, counter: TokenCounter, cid: str, limit: int | None, prompt: list[str]):
        self.service, self.counter, self.cid, self.limit, self.prompt = service, counter, cid, limit, prompt
        self.created = int(time.time())

    def head(self, kind: str) -> dict:
        return {"id": self.cid, "object": kind, "created": self.created, "model": MODEL_ID}

    def finish(self, answer: Answer) -> tuple[str, str, dict, dict]:
        """(content, finish_reason, usage, extra fields); run in a worker thread (tokenizing)."""
        documents = self.service.document_metadata()
        content, completion, cut = self.counter.cut(with_sources(answer, documents), self.limit)
        prompt = sum(self.counter.count(text) for text in self.prompt if text)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        return content, "length" if cut else "stop", usage, rag_fields(answer, documents)

    async def whole(self, answer: Answer) -> dict:
        content, reason, usage, extra = await run_in_threadpool(self.finish, answer)
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": reason,
                  "logprobs": None}
        return {**self.head("chat.completion"), "choices": [choice], "usage": usage, **extra}

    async def events(self, items: AsyncIterator, with_usage: bool) -> AsyncIterator[str]:
        def chunk(delta: dict | None, finish: str | None = None, **extra) -> str:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            return sse(None, {**self.head("chat.completion.chunk"), "choices": choices,
                              **({"usage": None} if with_usage else {}), **extra})

        yield chunk({"role": "assistant", "content": ""})
        try:
            # The pipeline's interim text may be replaced by the verified answer, and this protocol can
            # only append: so only the final, verified text is sent.
            answer = None
            async for item in items:
                answer = item
            if not isinstance(answer, Answer):
                raise RagError("the answer stream ended without an answer")
            content, reason, usage, extra = await run_in_threadpool(self.finish, answer)
            yield chunk({"content": content})
            yield chunk({}, reason, **extra)
            if with_usage:
                yield chunk(None, usage=usage)
            yield "data: [DONE]\n\n"
        except Exception as exc:
            yield sse(None, error_event(exc, self.service.gate.retry_after()))
