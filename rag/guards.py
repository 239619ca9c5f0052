"""Who is at the door: ASGI guards in front of every route (API, OpenAI-compatible API and chat alike),
and the socket-level header timeout.

- HostGuard: only the Host names this server is meant to be reached by (421 otherwise): a web page
  that rebinds its own DNS name to 127.0.0.1 cannot talk to the server.
- OriginGuard: a browser request from a foreign origin is refused (403) and no response carries
  CORS allow headers, unless the origin is listed in RAG_CORS_ORIGINS.
- BodyLimit: request bodies over a limit get 413 before any route reads them.
- LoginBackoff: wrong chat passwords from one client are slowed down (429 with Retry-After).
- HeaderTimeoutH11: a connection that does not finish its request headers in time is closed.
"""
from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from uvicorn.protocols.http.h11_impl import H11Protocol

from .web import error_json

API_PREFIXES = ("/api/", "/v1/")
WILDCARD_HOSTS = ("0.0.0.0", "::")  # in allowed_hosts: any IP address (the server was bound to all of them)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def host_name(host: str) -> str:
    """ "example.org:8080" -> "example.org", "[::1]:7860" -> "::1"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostGuard:
    """Only the Host names the server is meant to be reached by (421), and at most ``max_header_bytes``
    of request headers (431); uvicorn's own limit only applies to headers that arrive in pieces."""

    def __init__(self, app, allowed: tuple[str, ...], max_header_bytes: int = 16 * 1024):
        self.app, self.max_header_bytes = app, max_header_bytes
        self.any = "*" in allowed
        self.any_ip = any(h in WILDCARD_HOSTS for h in allowed)
        self.allowed = {h.lower().strip("[]") for h in allowed}

    def allows(self, host: str) -> bool:
        name = host_name(host)
        if self.any or name in self.allowed:
            return True
        if _is_ip(name):
            return self.any_ip or ipaddress.ip_address(name).is_loopback
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if sum(len(k) + len(v) for k, v in scope["headers"]) > self.max_header_bytes:
            message = f"the request headers are over {self.max_header_bytes} bytes"
            return await error_json(431, "request_header_too_large", message)(scope, receive, send)
        host = Headers(scope=scope).get("host", "")
        if self.allows(host):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        shown = host[:80] if host.isprintable() else repr(host[:80])
        message = (f"this server does not answer to the host name {shown!r}" if host else "no Host header") + \
            "; set RAG_ALLOWED_HOSTS to the names clients use"
        return await error_json(421, "misdirected_request", message)(scope, receive, send)


class OriginGuard:
    """Cross-origin browser requests only from ``allowed`` origins; the rest get 403, and no response
    to them (or to same-origin requests) carries Access-Control-* headers."""

    def __init__(self, app, allowed: tuple[str, ...]):
        self.app, self.allowed = app, {o.lower().rstrip("/") for o in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or origin.lower().rstrip("/") in self.allowed:
            return await self.app(scope, receive, send)
        if urlsplit(origin.lower()).netloc != headers.get("host", "").lower():
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            shown = origin[:80] if origin.isprintable() else repr(origin[:80])
            message = f"cross-origin requests from {shown} are not allowed (see RAG_CORS_ORIGINS)"
            return await error_json(403, "forbidden", message)(scope, receive, send)

        async def send_without_cors(message):  # same origin: the browser needs no CORS headers
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in [k for k in headers.keys() if k.startswith("access-control-")]:
                    del headers[name]
            await send(message)

        await self.app(scope, receive, send_without_cors)


class BodyLimit:
    """A JSON 413 for request bodies over the limit: ``api_limit`` on /api and /v1, ``limit`` elsewhere
    (the chat window). Reads the body up front, at most limit bytes, then replays it to the app. An
    oversized body is read on and dropped (up to ``drain`` bytes) before the 413, so that the client,
    still sending, gets to read the answer instead of a reset connection."""

    def __init__(self, app, api_limit: int, limit: int, drain: int = 16_000_000):
        self.app, self.api_limit, self.limit, self.drain = app, api_limit, limit, drain

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.api_limit if scope["path"].startswith(API_PREFIXES) else self.limit
        length = Headers(scope=scope).get("content-length", "")
        declared = int(length) if length.isdigit() else 0
        body, more, seen = bytearray(), True, 0
        while more and seen <= self.drain and declared <= self.drain:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk, more = message.get("body", b""), message.get("more_body", False)
            seen += len(chunk)
            if seen <= limit and declared <= limit:
                body += chunk
        if seen > limit or declared > limit:
            response = error_json(413, "request_too_large", f"the request body is over {limit} bytes",
                                  {"Connection": "close"})
            return await response(scope, receive, send)
        body, replayed = bytes(body), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class LoginBackoff:
    """Per client address: ``free`` wrong passwords, then each further attempt must wait
    base * 2**(n - free - 1) seconds (at most ``cap``) after the last wrong one, else 429."""

    PATHS = ("/login", "/login/")

    def __init__(self, app, free: int = 5, base: float = 1.0, cap: float = 60.0, clients: int = 10_000):
        self.app, self.free, self.base, self.cap, self.clients = app, free, base, cap, clients
        self.failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (count, last time)

    def wait(self, client: str, now: float) -> float:
        count, last = self.failures.get(client, (0, 0.0))
        if count < self.free:
            return 0.0
        return max(0.0, last + min(self.cap, self.base * 2 ** (count - self.free)) - now)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.PATHS:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.wait(client, time.monotonic())
        if wait > 0:
            response = error_json(429, "rate_limited", f"too many wrong passwords; try again in {math.ceil(wait)} s",
                                  {"Retry-After": str(math.ceil(wait))})
            return await response(scope, receive, send)
        status = 0

        async def watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if 200 <= status < 300:
            self.failures.pop(client, None)
        elif status in (400, 401, 403):
            count = self.failures.pop(client, (0, 0.0))[0] + 1
            self.failures[client] = (count, time.monotonic())
            while len(self.failures) > self.clients:
                self.failures.popitem(last=False)


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, plus: a request line and headers not complete within ``header_timeout``
    seconds of the connection (or of the previous response) close the connection. uvicorn itself only
    times out idle keep-alive connections, so a client sending a partial header would hold its socket
    for ever."""

    header_timeout = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._waiting_for:
            self._header_timer.cancel()  # the headers of a new request are complete
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._waiting_for = self.cycle
        self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        timer, self._header_timer = getattr(self, "_header_timer", None), None
        if timer is not None:
            timer.cancel()

    def _expire(self) -> None:
        self._header_timer = None
        if self.cycle is self._waiting_for and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    return type("HeaderTimeoutH11", (HeaderTimeoutH11,), {"header_timeout": seconds})
