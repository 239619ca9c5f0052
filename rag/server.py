"""One process, one port, one loaded pipeline: the gate in front of the model, the exposure rule
and `rag serve`.

The HTTP routes live in api.py; this module holds what is about the process rather than the protocol:
server options from the environment, the model thread with its bounded queue (and the bridge that
streams from it), the request-size limit, and start-up with the Gradio chat mounted beside the API.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import queue
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import AsyncIterator

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from .config import Settings
from .errors import BusyError, InputError, TimeoutError_

LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class ServerOptions:
    """Server-only settings. The API key is kept out of Settings, which may be logged or saved."""

    api_key: str | None = None  # RAG_API_KEY; required when binding beyond loopback
    cors_origins: tuple[str, ...] = ()  # RAG_CORS_ORIGINS, comma-separated; empty: no CORS at all
    max_waiting: int = 4  # RAG_MAX_WAITING: requests queued behind the running one; more get 503
    request_timeout: float = 60.0  # RAG_REQUEST_TIMEOUT seconds, queueing included; then 504
    max_body_bytes: int = 1_000_000

    @classmethod
    def from_env(cls, env=None, **overrides) -> "ServerOptions":
        env = os.environ if env is None else env
        values: dict = {}
        if env.get("RAG_API_KEY", "").strip():
            values["api_key"] = env["RAG_API_KEY"].strip()
        origins = tuple(o.strip() for o in env.get("RAG_CORS_ORIGINS", "").split(",") if o.strip())
        if origins:
            values["cors_origins"] = origins
        for name, kind in (("max_waiting", int), ("request_timeout", float)):
            raw = env.get("RAG_" + name.upper(), "").strip()
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise InputError(f"RAG_{name.upper()} must be a number, not {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        options = cls(**values)
        if options.max_waiting < 0 or options.request_timeout <= 0:
            raise InputError("RAG_MAX_WAITING must be >= 0 and RAG_REQUEST_TIMEOUT > 0")
        return options


class Gate:
    """The model serves one call at a time, on one long-lived thread; at most ``max_waiting`` calls
    queue behind it.

    Admission is decided at once (BusyError, 503, when the queue is full); an admitted call then has
    until its deadline to finish (TimeoutError_, 504). One thread for every model call keeps torch's
    per-thread state and the allocator's arenas from multiplying, and lets the Gradio chat (which calls
    from its own threads) share the queue. A call that outlives its request keeps the model until it
    really ends; one that never started by its deadline is dropped.
    """

    def __init__(self, max_waiting: int = 4, timeout: float = 60.0):
        self.max_waiting, self.timeout = max_waiting, timeout
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-model")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = False
        self._service = 2.0  # moving average of call durations, for Retry-After

    def stats(self) -> dict:
        with self._lock:
            return {"running": int(self._running), "waiting": self._admitted - int(self._running),
                    "max_waiting": self.max_waiting}

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the queue's expected drain time, 1..60."""
        with self._lock:
            return max(1, min(60, round(self._service * max(1, self._admitted))))

    def submit(self, fn, *args) -> Future:
        """Admit (or raise BusyError) and queue fn for the model thread."""
        with self._lock:
            if self._admitted >= 1 + self.max_waiting:
                raise BusyError(f"the server is busy ({self.max_waiting} requests already waiting); retry later")
            self._admitted += 1
        try:
            future = self.executor.submit(self._run, time.monotonic() + self.timeout, fn, args)
        except BaseException:
            self._leave(None)
            raise
        future.add_done_callback(self._leave)  # on completion and on cancellation alike
        return future

    def _run(self, deadline: float, fn, args):
        if time.monotonic() > deadline:  # its caller has already answered 504
            raise TimeoutError_(f"no answer within {self.timeout:g} s (waited in the queue); try again later")
        t0 = time.monotonic()
        with self._lock:
            self._running = True
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running = False
                self._service = 0.8 * self._service + 0.2 * (time.monotonic() - t0)

    def _leave(self, _future) -> None:
        with self._lock:
            self._admitted -= 1

    def _timeout(self) -> TimeoutError_:
        return TimeoutError_(f"no answer within {self.timeout:g} s; try again later")

    def run(self, fn, *args):
        """fn(*args) on the model thread, for callers in other threads (the Gradio chat)."""
        future = self.submit(fn, *args)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            raise self._timeout() from None

    async def call(self, fn, *args):
        """fn(*args) on the model thread; the event loop keeps serving meanwhile."""
        future = self.submit(fn, *args)
        try:
            # On timeout wait_for cancels the wrapper, which cancels the call if it has not started yet
            # (a running call cannot be stopped; it keeps the model until it ends).
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            raise self._timeout() from None

    def stream(self, make_items, emit, stop: threading.Event) -> Future:
        """Iterate make_items() on the model thread, handing each item to emit() until stop is set."""

        def produce() -> None:
            if stop.is_set():  # the client left while this call waited in the queue
                return
            items = make_items()
            try:
                for item in items:
                    if stop.is_set():
                        break
                    emit(item)
            finally:
                getattr(items, "close", lambda: None)()

        return self.submit(produce)


class GatedPipeline:
    """The pipeline as the Gradio chat sees it: its model calls go through the server's gate."""

    def __init__(self, pipeline, gate: Gate):
        self._pipeline, self._gate = pipeline, gate

    def __getattr__(self, name):
        return getattr(self._pipeline, name)

    def ask(self, question, history=()):
        return self._gate.run(self._pipeline.ask, question, history)

    def search(self, question, history=(), k=None):
        return self._gate.run(self._pipeline.search, question, history, k)

    def search_batch(self, items, k=None):
        return self._gate.run(self._pipeline.search_batch, items, k)

    def ask_stream(self, question, history=()):
        items: queue.Queue = queue.Queue()
        stop = threading.Event()
        done = self._gate.stream(lambda: self._pipeline.ask_stream(question, history), items.put, stop)
        done.add_done_callback(lambda f: items.put(_END))
        deadline = time.monotonic() + self._gate.timeout
        try:
            while True:
                try:
                    item = items.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise self._gate._timeout() from None
                if item is _END:
                    if not done.cancelled() and done.exception() is not None:
                        raise done.exception()
                    return
                yield item
        finally:
            stop.set()
            done.cancel()


_END = object()


class BodyLimit:
    """A JSON 413 for /api and /v1 request bodies over the limit (the chat's uploads at "/" are not
    limited here). Reads the body up front, at most ``limit`` bytes, then replays it to the app."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(("/api/", "/v1/")):
            return await self.app(scope, receive, send)
        error = {"type": "request_too_large", "message": f"the request body is over {self.limit} bytes"}
        too_large = JSONResponse({"error": error}, status_code=413)
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            return await too_large(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await too_large(scope, receive, send)
        body, replayed = bytes(body), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# -- streaming answers ---------------------------------------------------------------------------------
def stream_answer(pipeline, gate: Gate, question: str, history) -> AsyncIterator:
    """pipeline.ask_stream on the model thread, as an async iterator over its items (text..., Answer)
    that raises the pipeline's RagError, or TimeoutError_ past the deadline.

    Admits at once (BusyError when the queue is full) and queues the work now, not on first iteration,
    so the queue place is given back even if the response is never sent. When the consumer goes away
    the work stops at the next item.
    """
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def put(item) -> None:
        try:
            loop.call_soon_threadsafe(items.put_nowait, item)
        except RuntimeError:  # the loop is gone (server shutting down)
            stop.set()

    done = gate.stream(lambda: pipeline.ask_stream(question, history), put, stop)
    done.add_done_callback(lambda f: put(_END))
    deadline = time.monotonic() + gate.timeout

    async def drain():
        try:
            while True:
                try:
                    item = await asyncio.wait_for(items.get(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    raise gate._timeout() from None
                if item is _END:
                    if not done.cancelled() and done.exception() is not None:
                        raise done.exception()
                    return
                yield item
        finally:
            stop.set()
            done.cancel()

    return drain()


# -- start-up ------------------------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, options: ServerOptions) -> None:
    """Beyond loopback the API needs a key; say so in one line instead of starting an open server."""
    if not is_loopback(host) and not options.api_key:
        raise InputError(f"refusing to listen on {host} without an API key: set RAG_API_KEY "
                         f"(or serve on 127.0.0.1)")


def build_app(pipeline, settings: Settings, options: ServerOptions):
    """The HTTP API plus, when ui.py is importable, the Gradio chat at "/" (behind the same gate)."""
    from .api import create_app

    app = create_app(pipeline, settings, options)
    try:
        blocks = load_ui().create_app(GatedPipeline(pipeline, app.state.gate))
    except Exception as exc:  # a broken chat window must not take the API down with it
        _log(f"serve: the chat window is not available ({type(exc).__name__}: {exc}); serving the API only")
        return app
    import gradio as gr

    auth = None
    if options.api_key:  # the chat asks for the key as its password (any user name)
        import hmac

        key = options.api_key
        auth = lambda _user, password: hmac.compare_digest(str(password).encode(), key.encode())  # noqa: E731
    return gr.mount_gradio_app(app, blocks, path="/", auth=auth, show_error=False)


def load_ui():
    """ui.py lives beside the rag package; `rag serve` may run where it is not on sys.path."""
    try:
        import ui
    except ModuleNotFoundError as exc:
        if exc.name != "ui":
            raise
        import importlib.util

        from .config import REPO

        spec = importlib.util.spec_from_file_location("ui", REPO / "ui.py")
        if spec is None or not (REPO / "ui.py").is_file():
            raise ImportError(f"no ui.py in {REPO}") from None
        ui = importlib.util.module_from_spec(spec)
        sys.modules["ui"] = ui
        spec.loader.exec_module(ui)
    return ui


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """`rag serve`: check the exposure rule, then run uvicorn. The models warm up in the background
    once the server is listening (GET /api/health says "loading", then "ready")."""
    import uvicorn

    from .pipeline import Pipeline

    options = ServerOptions.from_env()
    check_exposure(host, options)
    handler = logging.StreamHandler(sys.stderr)  # the API's messages beside uvicorn's, in its format
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logging.getLogger("rag").addHandler(handler)
    logging.getLogger("rag").setLevel(logging.INFO)
    app = build_app(Pipeline(settings), settings, options)
    shown = f"[{host}]" if ":" in host else host
    _log(f"serve: http://{shown}:{port}/ (chat), /api/docs (API), /v1 (OpenAI-compatible)")
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False,
                timeout_graceful_shutdown=5)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
