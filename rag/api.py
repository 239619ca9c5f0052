"""The HTTP adapter: JSON and server-sent events in, pipeline calls out. No retrieval or prompting here.

create_app(pipeline, settings) -> FastAPI serves
  GET  /api/health             {"status": "ready" | "loading" | "failed", ...}   (never needs the key)
  GET  /api/documents          the loaded papers; GET /api/documents/{doc_id} one of them
  POST /api/search             {"question", "history", "k"} -> {"hits": [...]}   (= `rag search --json`)
  POST /api/ask                {"question", "history"} -> answer JSON            (= `rag ask --json`)
  POST /api/ask/stream         the same as server-sent events: delta..., answer | error
  GET  /v1/models, POST /v1/chat/completions   OpenAI-compatible (at the end of this file)
  GET  /openapi.json, /api/docs (a plain page made from it; nothing from a CDN)
Every error is JSON: {"error": {"type": ..., "message": ...}}. The gate, the body limit and start-up
live in server.py.
"""
import html
import hmac
import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, AsyncIterator, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .config import Settings
from .errors import BusyError, InputError, RagError, TimeoutError_
from .serialize import answer_to_dict, citation_to_dict, hit_to_dict
from .server import BodyLimit, Gate, ServerOptions, stream_answer

log = logging.getLogger("rag.api")

MAX_HISTORY_TURNS = 50
MAX_HISTORY_CHARS = 8000  # per history string: earlier answers may carry their sources


class AuthError(RagError):
    http_status = 401


class LoadingError(BusyError):
    """The models are still loading (or failed to load)."""


_TYPES = {AuthError: "authentication_error", InputError: "invalid_request_error", LoadingError: "loading",
          BusyError: "server_busy", TimeoutError_: "timeout"}
_HTTP_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type",
               422: "invalid_request_error"}


# -- request and response models -----------------------------------------------------------------------------
def valid_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (lone surrogate)") from None
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("question is empty (only whitespace)")
    return value


def question_type(settings: Settings):
    return Annotated[str, Field(min_length=1, max_length=settings.max_question_chars,
                                json_schema_extra={"pattern": r"\S"},
                                description="the question, German or English"),
                     AfterValidator(not_blank), AfterValidator(valid_text)]


HistoryText = Annotated[str, Field(max_length=MAX_HISTORY_CHARS), AfterValidator(valid_text)]
Turn = Annotated[list[HistoryText], Field(min_length=2, max_length=2, description="[user, assistant]")]
History = Annotated[list[Turn], Field(max_length=MAX_HISTORY_TURNS, description="earlier turns, oldest first")]


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


# What the routes return, for the schema only (the routes return rag.serialize's dicts unchanged;
# the fuzz test checks every response against these).
class HitOut(BaseModel):
    chunk_id: str
    doc_id: str
    page: int
    section: str
    text: str
    sentences: list[str]
    score: float


class SearchResponse(BaseModel):
    hits: list[HitOut]


class CitationOut(BaseModel):
    n: int
    chunk_id: str
    doc_id: str
    page: int
    section: str
    quote: str = Field(description="verbatim from text")
    text: str


class AnswerResponse(BaseModel):
    answer: str = Field(description="the answer with [n] citation markers")
    language: Literal["de", "en"]
    refused: bool
    citations: list[CitationOut]
    timings: dict[str, float]


class DocumentOut(BaseModel):
    doc_id: str
    source: str = Field(description="file name")
    sha256: str
    pages: int
    chars: int
    chunks: int
    metadata: dict


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut]


class QueueOut(BaseModel):
    running: int
    waiting: int
    max_waiting: int


class HealthResponse(BaseModel):
    status: Literal["ready", "loading", "failed"]
    answer_mode: str
    queue: QueueOut
    documents: int | None = None
    chunks: int | None = None
    error: str | None = None


def documented(model, more: dict | None = None) -> dict:
    """Route arguments: ``model`` documents the 200 response; the route's dict is returned unchanged."""
    return {"response_model": None, "responses": {200: {"model": model, "description": "OK"}, **(more or {})}}


def request_models(settings: Settings):
    """The request bodies; the question limit comes from the settings."""
    Question = question_type(settings)

    class AskRequest(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid")
        question: Question
        history: History = []

    class SearchRequest(AskRequest):
        k: Annotated[int, Field(ge=1, le=20, description="number of hits (default from settings)")] | None = None

    return AskRequest, SearchRequest


# -- errors --------------------------------------------------------------------------------------------------
def error_json(status: int, type_: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status, headers=headers)


def rag_error_response(exc: RagError, gate: Gate | None = None) -> JSONResponse:
    status = getattr(exc, "http_status", 500)
    type_ = next((t for cls, t in _TYPES.items() if isinstance(exc, cls)), "unavailable" if status == 503 else "error")
    headers = {}
    if status == 503:
        headers["Retry-After"] = str(gate.retry_after() if gate and not isinstance(exc, LoadingError) else 5)
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    return error_json(status, type_, str(exc) or type(exc).__name__, headers)


def describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        if err.get("type") == "json_invalid":
            return "invalid JSON in the request body"
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_json(422, "invalid_request_error", describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_json(exc.status_code, _HTTP_TYPES.get(exc.status_code, "http_error"), detail,
                          getattr(exc, "headers", None))

    @app.exception_handler(RagError)
    async def _rag(request: Request, exc: RagError):
        return rag_error_response(exc, app.state.gate)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return error_json(500, "internal_error", "internal server error (logged on the server)")


# -- the app -------------------------------------------------------------------------------------------------
def create_app(pipeline, settings: Settings | None = None, options: ServerOptions | None = None) -> FastAPI:
    """The HTTP API over one pipeline. At start-up the pipeline warms up on the gate's model thread
    while /api/health says "loading"; every model call then runs on that thread, one at a time."""
    settings = settings or pipeline.settings
    options = options or ServerOptions.from_env()
    AskRequest, SearchRequest = request_models(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.status == "loading":  # on the model thread, which will run every model call
            app.state.gate.executor.submit(_warm_up, app)
        yield

    app = FastAPI(title="rag-drucksache", version="0.1.0", lifespan=lifespan,
                  description="Offline, cited answers from German parliamentary papers.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.pipeline, app.state.settings, app.state.options = pipeline, settings, options
    app.state.gate = Gate(options.max_waiting, options.request_timeout)
    app.state.status = "ready" if getattr(pipeline, "ready", False) else "loading"
    app.state.error = None
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=options.max_body_bytes)
    if options.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"])

    gate: Gate = app.state.gate
    codes = (401, 422, 503, 504) if options.api_key else (422, 503, 504)
    errors = {code: {"model": ErrorResponse} for code in codes}
    api = APIRouter(prefix="/api", dependencies=[Depends(key_checker(options))], responses=errors)

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi()))

    @app.get("/api/health", tags=["api"],
             **documented(HealthResponse, {503: {"model": HealthResponse, "description": "the warm-up failed"}}))
    async def health():
        """Liveness and readiness: "loading" while the models load, then "ready" (or "failed", 503)."""
        out = {"status": app.state.status, "answer_mode": settings.answer_mode, "queue": gate.stats()}
        if app.state.status == "ready":
            with anyio.move_on_after(1):  # the index may be locked by a rebuild; health answers anyway
                out.update(await run_in_threadpool(corpus_counts, pipeline))
        elif app.state.error:
            out["error"] = app.state.error
        return JSONResponse(out, status_code=503 if app.state.status == "failed" else 200)

    @api.get("/documents", tags=["api"], **documented(DocumentsResponse))
    async def documents():
        """The loaded papers: id, file name, sha256, pages and metadata."""
        require_ready(app)
        return {"documents": await run_in_threadpool(document_list, pipeline)}

    @api.get("/documents/{doc_id}", tags=["api"], **documented(DocumentOut, {404: {"model": ErrorResponse}}))
    async def document(doc_id: str):
        """One loaded paper. Ids are looked up in the loaded index only; no path is ever built from them."""
        require_ready(app)
        for d in await run_in_threadpool(document_list, pipeline):
            if d["doc_id"] == doc_id:
                return d
        raise StarletteHTTPException(404, "no such document")

    @api.post("/search", tags=["api"], **documented(SearchResponse))
    async def search(body: SearchRequest):
        """The passages retrieved for a question: the same JSON as `rag search --json`."""
        require_ready(app)
        hits = await gate.call(pipeline.search, body.question, body.history, body.k)
        return {"hits": [hit_to_dict(h) for h in hits]}

    @api.post("/ask", tags=["api"], **documented(AnswerResponse))
    async def ask(body: AskRequest):
        """A cited answer: the same JSON as `rag ask --json`."""
        require_ready(app)
        return answer_to_dict(await gate.call(pipeline.ask, body.question, body.history))

    @api.post("/ask/stream", tags=["api"], response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "events `delta` {text}, then `answer` (answer JSON) or `error`"}})
    async def ask_stream(body: AskRequest):
        """The answer as server-sent events: `delta` with text as it is produced, then `answer`."""
        require_ready(app)
        items = stream_answer(pipeline, gate, body.question, body.history)
        return event_stream(api_events(items))

    app.include_router(api)
    app.include_router(openai_router(app, key_checker(options)))
    install_fallback_routes(app, key_checker(options))
    return app


def _warm_up(app: FastAPI) -> None:
    try:
        t0 = time.monotonic()
        app.state.pipeline.warm_up()
        app.state.status = "ready"
        log.info("ready: the models loaded in %.0f s", time.monotonic() - t0)
    except Exception as exc:  # reported by /api/health and every call; the server stays up to say so
        app.state.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        app.state.status = "failed"
        log.error("warm-up failed: %s", app.state.error, exc_info=not isinstance(exc, RagError))


def require_ready(app: FastAPI) -> None:
    if app.state.status == "loading":
        raise LoadingError("the models are still loading; retry in a few seconds")
    if app.state.status == "failed":
        raise LoadingError(f"the models failed to load: {app.state.error}")


def corpus_counts(pipeline) -> dict:
    index = pipeline.index
    return {"documents": len(index.documents), "chunks": len(index.chunks)}


def document_list(pipeline) -> list[dict]:
    chunks: dict[str, int] = {}
    for c in pipeline.index.chunks:
        chunks[c.doc_id] = chunks.get(c.doc_id, 0) + 1
    return [{"doc_id": d.doc_id, "source": Path(d.source).name, "sha256": d.sha256, "pages": len(d.page_starts),
             "chars": len(d.text), "chunks": chunks.get(d.doc_id, 0), "metadata": d.metadata}
            for d in pipeline.documents()]


def docs_page(schema: dict) -> str:
    """/api/docs as one plain HTML page made from the OpenAPI schema: nothing loads from a CDN."""
    e = html.escape
    info, models = schema["info"], schema.get("components", {}).get("schemas", {})
    out = [f"<h1>{e(info['title'])} {e(info['version'])}</h1><p>{e(info.get('description', ''))} "
           "Machine-readable: <a href='/openapi.json'>/openapi.json</a>. Every error is "
           "<code>{&quot;error&quot;: {&quot;type&quot;: ..., &quot;message&quot;: ...}}</code>.</p>"]
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            out.append(f"<h2><code>{method.upper()} {e(path)}</code></h2><p>{e(op.get('description') or '')}</p>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            model = models.get(body.get("$ref", "").rsplit("/", 1)[-1], {})
            rows = []
            for name, prop in model.get("properties", {}).items():
                required = " (required)" if name in model.get("required", ()) else ""
                rule = json.dumps({k: v for k, v in prop.items() if k not in ("title", "description")},
                                  ensure_ascii=False)
                rows.append(f"<tr><td><code>{e(name)}</code>{required}</td><td><code>{e(rule)}</code></td>"
                            f"<td>{e(prop.get('description', ''))}</td></tr>")
            if rows:
                out.append(f"<table>{''.join(rows)}</table>")
            out.append(f"<p>Responses: {e(', '.join(op.get('responses', {})))}</p>")
    style = ("body{font-family:system-ui,sans-serif;max-width:62em;margin:2em auto;padding:0 1em;line-height:1.45}"
             "code{background:#f3f3f3;padding:0 3px}td{border-top:1px solid #ddd;padding:3px 8px;vertical-align:top}")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(info['title'])} API</title>"
            f"<style>{style}</style></head><body>{''.join(out)}</body></html>")


# -- API key -------------------------------------------------------------------------------------------------
def key_checker(options: ServerOptions):
    """A dependency: no-op without a key; else Authorization: Bearer KEY or X-API-Key: KEY."""
    if not options.api_key:
        return lambda: None
    expected = options.api_key.encode()
    bearer = HTTPBearer(auto_error=False, description="RAG_API_KEY")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="RAG_API_KEY")

    def check(credentials=Depends(bearer), key: str | None = Depends(header)) -> None:
        supplied = key or (credentials.credentials if credentials else None)
        if not supplied or not hmac.compare_digest(supplied.encode(), expected):
            raise AuthError("missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)")

    return check


def install_fallback_routes(app: FastAPI, checker) -> None:
    """JSON 404/405 for unknown /api and /v1 paths, so they never fall through to the chat at "/"."""

    async def fallback(request: Request, rest: str = ""):
        path = request.url.path
        allowed = sorted({method.upper() for template, operations in app.openapi()["paths"].items()
                          if re.fullmatch("[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", template))), path)
                          for method in operations})
        if allowed:
            raise StarletteHTTPException(405, f"method {request.method} not allowed here",
                                         headers={"Allow": ", ".join(allowed)})
        raise StarletteHTTPException(404, f"no such endpoint: {path}")

    for prefix in ("/api", "/v1"):
        app.add_api_route(prefix + "/{rest:path}", fallback, methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                          include_in_schema=False, dependencies=[Depends(checker)])


# -- streaming -----------------------------------------------------------------------------------------------
def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def api_events(items: AsyncIterator) -> AsyncIterator[str]:
    answer = None
    try:
        async for item in items:
            if isinstance(item, str):
                yield sse("delta", {"text": item})
            else:
                answer = item
        if answer is None:
            raise RagError("the answer stream ended without an answer")
        yield sse("answer", answer_to_dict(answer))
    except RagError as exc:
        yield sse("error", json.loads(rag_error_response(exc).body))
    except Exception:
        log.exception("unhandled error while streaming an answer")
        yield sse("error", {"error": {"type": "internal_error", "message": "internal server error (logged)"}})


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# -- OpenAI-compatible: /v1/models, /v1/chat/completions -----------------------------------------------------
MODEL_ID = "rag-drucksache"


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    type: Literal["text"]
    text: HistoryText


class ChatMessage(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: HistoryText | Annotated[list[TextPart], Field(max_length=20)] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    """The part of OpenAI's request we use; other fields (temperature, max_tokens, ...) are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")
    model: str = Field(MODEL_ID, max_length=200, description="ignored: there is one model")
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=2 * MAX_HISTORY_TURNS + 10)]
    stream: bool | None = False


def conversation(messages: list[ChatMessage], settings: Settings) -> tuple[str, list[list[str]]]:
    """The last user message is the question; earlier user/assistant messages pair up as history.
    System and developer messages are dropped: they cannot change our system prompt."""
    turns = [(m.role, m.text) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise InputError("the last message (system messages aside) must come from the user")
    question = turns[-1][1]
    if not question.strip():
        raise InputError("the question (the last user message) is empty")
    if len(question.strip()) > settings.max_question_chars:
        raise InputError(f"the question is too long ({len(question.strip())} characters, "
                         f"at most {settings.max_question_chars})")
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
    return question, history[-MAX_HISTORY_TURNS:]


def with_sources(answer) -> str:
    """The answer text with its [n] markers, then a "Sources:" list: n, page, section, quote."""
    if not answer.citations:
        return answer.text
    lines = []
    for c in answer.citations:
        where = f"p. {c.chunk.page}" + (f", {c.chunk.section}" if c.chunk.section else "")
        lines.append(f"[{c.n}] {where}: \u201e{' '.join(c.quote.split())}\u201c")
    return answer.text + "\n\nSources:\n" + "\n".join(lines)


def rag_fields(answer) -> dict:
    return {"citations": [citation_to_dict(c) for c in answer.citations], "refused": answer.refused,
            "language": answer.language}


def openai_router(app: FastAPI, checker) -> APIRouter:
    settings, gate, pipeline = app.state.settings, app.state.gate, app.state.pipeline
    errors = {code: {"model": ErrorResponse} for code in (401, 422, 503, 504)}
    router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(checker)], responses=errors)

    @router.get("/models")
    async def models() -> dict:
        """The one model this server offers (OpenAI format)."""
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "local"}]}

    @router.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}}})
    async def chat_completions(body: ChatRequest):
        """OpenAI chat completions. Sources are appended to the text and given as `citations`."""
        question, history = conversation(body.messages, settings)
        require_ready(app)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            items = stream_answer(pipeline, gate, question, history)
            return event_stream(openai_events(items, cid, created))
        answer = await gate.call(pipeline.ask, question, history)
        message = {"role": "assistant", "content": with_sources(answer)}
        return {"id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                **rag_fields(answer)}

    return router


async def openai_events(items: AsyncIterator, cid: str, created: int) -> AsyncIterator[str]:
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    answer = None
    try:
        # The pipeline's interim text may be replaced by the verified answer (a lead, then a checked short
        # answer), and this protocol can only append: so only the final, verified text is sent.
        async for item in items:
            if not isinstance(item, str):
                answer = item
        if answer is None:
            raise RagError("the answer stream ended without an answer")
        yield chunk({"content": with_sources(answer)})
        yield chunk({}, "stop", **rag_fields(answer))
        yield "data: [DONE]\n\n"
    except RagError as exc:
        yield f"data: {rag_error_response(exc).body.decode()}\n\n"
    except Exception:
        log.exception("unhandled error while streaming a chat completion")
        yield 'data: {"error": {"type": "internal_error", "message": "internal server error (logged)"}}\n\n'
