"""The REST API: JSON and server-sent events in, service calls out. No retrieval or prompting here.

create_app(service, options) -> FastAPI serves
  GET  /api/health             {"status": "ready" | "loading" | "failed", "generator": {...}, ...}  (no key)
  GET  /api/documents          the loaded papers; GET /api/documents/{doc_id} one of them
  POST /api/search             {"question", "history", "k"} -> {"hits": [...]}   (= `rag search --json`)
  POST /api/ask                {"question", "history"} -> answer JSON            (= `rag ask --json`)
  POST /api/ask/stream         the same as server-sent events: delta..., answer | error
  /v1/...                      OpenAI-compatible (openai_api.py)
  GET  /openapi.json, /api/docs (Swagger UI), /api/redoc (ReDoc): served from local files, no CDN
Every error is JSON: {"error": {"type": ..., "message": ...}}; web.py holds that shape, guards.py the
Host/Origin/body-size/login guards installed here in front of every route, api_models.py the models.
"""

import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import anyio
from fastapi import APIRouter, Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.routing import Route

from . import openai_api
from .api_models import (AnswerResponse, DocumentOut, DocumentsResponse, HealthResponse, SearchResponse, documented,
                         request_models)
from .errors import RagError
from .guards import BodyLimit, HostGuard, LoginBackoff, OriginGuard
from .serialize import answer_to_dict, hit_to_dict
from .service import Service
from .web import (KEY_MESSAGE, ServerOptions, error_event, error_json, error_responses, event_stream, http_type,
                  install_error_handlers, key_checker, key_matches, sse, supplied_key)


# -- the app -------------------------------------------------------------------------------------------------
def create_app(service: Service, options: ServerOptions | None = None) -> FastAPI:
    """The HTTP API over one service. At start-up the models warm up on the service's model thread
    while /api/health says "loading"; every model call then runs on that thread, one at a time."""
    options = options or ServerOptions()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        yield

    app = FastAPI(title="rag-drucksache", version="0.1.0", lifespan=lifespan,
                  description="Offline, cited answers from German parliamentary papers. Every error is "
                              '`{"error": {"type": ..., "message": ...}}`.',
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    install_error_handlers(app, service.gate.retry_after)
    checker = key_checker(options)
    base = (401, 403, 421, 431, 500, 503) if options.api_key else (403, 421, 431, 500, 503)
    app.include_router(rest_router(service, checker, base))
    app.include_router(openai_api.router(service, checker, base))
    install_docs(app)
    app.router.routes += [Route(prefix + "/{rest:path}", Fallback(app, options), include_in_schema=False)
                          for prefix in ("/api", "/v1")]
    install_guards(app, options)
    return app


def install_guards(app: FastAPI, options: ServerOptions) -> None:
    """Outermost first: Host, login back-off, Origin (and CORS for listed origins), body size."""
    app.add_middleware(BodyLimit, api_limit=options.max_body_bytes, limit=options.max_chat_body_bytes)
    if options.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"])
    app.add_middleware(OriginGuard, allowed=options.cors_origins)
    app.add_middleware(LoginBackoff)
    app.add_middleware(HostGuard, allowed=options.allowed_hosts)


def rest_router(service: Service, checker, base: tuple[int, ...]) -> APIRouter:
    AskRequest, SearchRequest = request_models(service.settings)
    body = (400, 413, 422, 504)
    api = APIRouter(prefix="/api", tags=["api"])
    keyed = APIRouter(dependencies=[Depends(checker)])

    @api.get("/health", **documented(HealthResponse, 403, 421, 431, 500,
                                     more={503: {"model": HealthResponse, "description": "the warm-up failed"}}))
    async def health():
        """Liveness and readiness: "loading" while the models load, then "ready" (or "failed", 503)."""
        out = await run_in_threadpool(service.health)  # a model server's probe may take a moment
        if out["status"] == "ready":
            with anyio.move_on_after(1):  # the index may be locked by a rebuild; health answers anyway
                out.update(await run_in_threadpool(service.counts))
        return JSONResponse(out, status_code=503 if out["status"] == "failed" else 200)

    @keyed.get("/documents", **documented(DocumentsResponse, *base))
    async def documents():
        """The loaded papers: id, file name, sha256, pages and metadata."""
        service.require_ready()
        return {"documents": await run_in_threadpool(document_list, service)}

    @keyed.get("/documents/{doc_id}", **documented(DocumentOut, *base, 404))
    async def document(doc_id: str):
        """One loaded paper. Ids are looked up in the loaded index only; no path is ever built from them."""
        service.require_ready()
        for d in await run_in_threadpool(document_list, service):
            if d["doc_id"] == doc_id:
                return d
        raise StarletteHTTPException(404, "no such document")

    @keyed.post("/search", **documented(SearchResponse, *base, *body))
    async def search(body: SearchRequest):
        """The passages retrieved for a question: the hits of `rag search --json`."""
        t0 = time.perf_counter()
        hits = await service.search_async(body.question, body.history, body.k)
        return {"hits": [hit_to_dict(h) for h in hits], "timings": {"retrieval": round(time.perf_counter() - t0, 4)}}

    @keyed.post("/ask", **documented(AnswerResponse, *base, *body))
    async def ask(body: AskRequest):
        """A cited answer: the same JSON as `rag ask --json`."""
        answer = await service.ask_async(body.question, body.history)
        return answer_to_dict(answer, await run_in_threadpool(service.document_metadata))

    @keyed.post("/ask/stream", response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}},
                                 "description": "events `delta` {text}, then `answer` (answer JSON) or `error`"},
                           **error_responses(*base, *body)})
    async def ask_stream(body: AskRequest):
        """The answer as server-sent events: `delta` with text as it is produced, then `answer`."""
        items = service.stream(body.question, body.history)  # admitted now: a full queue is a 503
        metadata = await run_in_threadpool(service.document_metadata)
        return event_stream(api_events(items, metadata, service.gate.retry_after))

    api.include_router(keyed)
    return api


def document_list(service: Service) -> list[dict]:
    chunks: dict[str, int] = {}
    for c in service.pipeline.index.chunks:
        chunks[c.doc_id] = chunks.get(c.doc_id, 0) + 1
    return [{"doc_id": d.doc_id, "source": Path(d.source).name, "sha256": d.sha256, "pages": len(d.page_starts),
             "chars": len(d.text), "chunks": chunks.get(d.doc_id, 0), "metadata": d.metadata}
            for d in service.documents()]


async def api_events(items: AsyncIterator, metadata: dict, retry_after) -> AsyncIterator[str]:
    answer = None
    try:
        async for item in items:
            if isinstance(item, str):
                yield sse("delta", {"text": item})
            else:
                answer = item
        if answer is None:
            raise RagError("the answer stream ended without an answer")
        yield sse("answer", answer_to_dict(answer, metadata))
    except Exception as exc:
        yield sse("error", error_event(exc, retry_after()))


# -- documentation pages and unknown paths -------------------------------------------------------------------
def install_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs and ReDoc at /api/redoc, with their scripts from the fastapi-offline
    package (nothing is loaded from a CDN)."""
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/api/docs/static", StaticFiles(directory=static), name="docs-static")

    @app.get("/api/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="rag-drucksache API",
                                   swagger_js_url="/api/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/api/docs/static/swagger-ui.css",
                                   swagger_favicon_url="/api/docs/static/favicon.png", oauth2_redirect_url=None)

    @app.get("/api/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="rag-drucksache API",
                              redoc_js_url="/api/docs/static/redoc.standalone.js",
                              redoc_favicon_url="/api/docs/static/favicon.png", with_google_fonts=False)


class Fallback:
    """Any method on an unknown /api or /v1 path: JSON 405 with Allow where the path exists (TRACE,
    PROPFIND, OPTIONS ... included), else 404 (401 first without the key), so nothing falls through to
    the chat at "/"."""

    def __init__(self, app: FastAPI, options: ServerOptions):
        self.app, self.options, self.routes = app, options, None

    def allowed(self, path: str) -> list[str]:
        if self.routes is None:
            import re

            self.routes = [(re.compile("[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", template))) + "$"),
                            {m.upper() for m in ops}) for template, ops in self.app.openapi()["paths"].items()]
            self.routes.append((re.compile(r"/api/(docs|redoc)$"), {"GET"}))
        return sorted(set().union(*(ms for pattern, ms in self.routes if pattern.match(path))))

    async def __call__(self, scope, receive, send):
        request = Request(scope)
        if allowed := self.allowed(request.url.path):  # the paths are public (/openapi.json)
            response = error_json(405, http_type(405), f"method {request.method[:20]} not allowed here",
                                  {"Allow": ", ".join(allowed)})
        elif not key_matches(self.options, supplied_key(request.headers)):
            response = error_json(401, http_type(401), KEY_MESSAGE, {"WWW-Authenticate": "Bearer"})
        else:
            response = error_json(404, http_type(404), f"no such endpoint: {request.url.path[:200]}")
        await response(scope, receive, send)
