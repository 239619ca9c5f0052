"""What the HTTP front ends share: server options, the one JSON error shape, the API key check and
server-sent events. The REST routes live in api.py, the OpenAI-compatible ones in openai_api.py, the
request guards (Host, Origin, body size, login back-off) in guards.py.

Every error is {"error": {"type": ..., "message": ...}} (OpenAI-style errors add "param" and "code").
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Annotated, AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import BusyError, InputError, RagError, TimeoutError_
from .gate import InternalError
from .service import LoadingError

log = logging.getLogger("rag.api")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_HISTORY_TURNS = 50
MAX_HISTORY_CHARS = 8000  # per history string: earlier answers may carry their sources


def valid_text(value: str) -> str:
    """JSON can carry lone surrogates that no UTF-8 response could echo: refuse them at the door."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (lone surrogate)") from None
    return value


def _whole(value):
    """JSON has one number type: 12.0 is a whole number as much as 12 (strings and booleans stay refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def whole_number(ge: int, le: int | None = None, description: str | None = None):
    """An integer in [ge, le]; the bounds sit inside the validator so the schema shows them."""
    return Annotated[int, Field(ge=ge, le=le, description=description), BeforeValidator(_whole)]
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"  # a character that is not whitespace to JSON Schema nor to str.strip()

HistoryText = Annotated[str, Field(max_length=MAX_HISTORY_CHARS), AfterValidator(valid_text)]
Turn = Annotated[list[HistoryText], Field(min_length=2, max_length=2, description="[user, assistant]")]
History = Annotated[list[Turn], Field(max_length=MAX_HISTORY_TURNS, description="earlier turns, oldest first")]


@dataclass(frozen=True)
class ServerOptions:
    """Server-only settings. The API key is kept out of Settings, which may be logged or saved."""

    api_key: str | None = None  # RAG_API_KEY; required when binding beyond loopback
    cors_origins: tuple[str, ...] = ()  # RAG_CORS_ORIGINS, comma-separated; empty: no cross-origin use
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES  # RAG_ALLOWED_HOSTS plus the bind address; "*": any
    max_waiting: int = 4  # RAG_MAX_WAITING: requests queued behind the running one; more get 503
    request_timeout: float = 60.0  # RAG_REQUEST_TIMEOUT seconds, queueing included; then 504
    max_body_bytes: int = 1_000_000  # request bodies on /api and /v1
    max_chat_body_bytes: int = 4_000_000  # request bodies of the chat window (it sends the conversation)
    header_timeout: float = 10.0  # seconds a client may take to send its request line and headers

    @classmethod
    def from_env(cls, env=None, host: str | None = None, **overrides) -> "ServerOptions":
        """Options from RAG_* variables; ``host`` (the bind address) joins the allowed Host names."""
        env = os.environ if env is None else env
        values: dict = {}
        if env.get("RAG_API_KEY", "").strip():
            values["api_key"] = env["RAG_API_KEY"].strip()
        origins = _names(env.get("RAG_CORS_ORIGINS", ""))
        if origins:
            values["cors_origins"] = tuple(o.rstrip("/") for o in origins)
        hosts = [*LOOPBACK_NAMES, *_names(env.get("RAG_ALLOWED_HOSTS", "").lower())]
        if host and host.strip("[]"):  # a wildcard bind address (0.0.0.0, ::) admits any IP-address Host
            hosts.append(host.strip("[]").lower())
        values["allowed_hosts"] = tuple(dict.fromkeys(hosts))
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


def _names(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- the one error shape ------------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    type: str
    message: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class AuthError(RagError):
    http_status = 401


_TYPES = {AuthError: "authentication_error", InputError: "invalid_request_error", LoadingError: "loading",
          BusyError: "server_busy", TimeoutError_: "timeout", InternalError: "internal_error"}
_HTTP_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "forbidden", 404: "not_found_error",
               405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type",
               421: "misdirected_request", 422: "invalid_request_error", 429: "rate_limited",
               431: "request_header_too_large"}
_WHY = {400: "the request body cannot be read (not UTF-8 JSON, or nested too deeply), or asks for what is not "
             "supported", 401: "missing or wrong API key", 403: "a cross-origin request from an origin not in "
             "RAG_CORS_ORIGINS", 404: "not found", 413: "the request body is too large", 421: "the Host header "
             "names a host this server does not serve (see RAG_ALLOWED_HOSTS)", 422: "invalid input",
        431: "the request headers are too large",
        500: "internal error (logged on the server)", 503: "busy, loading or a model/index problem (see "
             "Retry-After)", 504: "no answer within the deadline"}


def error_responses(*codes: int) -> dict:
    """OpenAPI `responses` for the given error statuses, each the JSON error shape."""
    return {code: {"model": ErrorResponse, "description": _WHY.get(code, "error")} for code in codes}


def error_json(status: int, type_: str, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    detail = {"type": type_, "message": message, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def rag_error_response(exc: RagError, retry_after: int = 5) -> JSONResponse:
    status = getattr(exc, "http_status", 500)
    type_ = next((t for cls, t in _TYPES.items() if isinstance(exc, cls)), "unavailable" if status == 503 else "error")
    headers = {}
    if status == 503:
        headers["Retry-After"] = str(5 if isinstance(exc, LoadingError) else retry_after)
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    return error_json(status, type_, str(exc) or type(exc).__name__, headers,
                      param=getattr(exc, "param", None), code=getattr(exc, "code", None))


_TAG = re.compile(r"^(str|int|float|bool|list|dict|none|.*[\[(].*)$")  # pydantic's union/validator tags
_PLAIN = {"missing": "is required", "extra_forbidden": "is not a known field", "model_type": "must be a JSON object",
          "model_attributes_type": "must be a JSON object", "dict_type": "must be a JSON object",
          "string_type": "must be a string", "int_type": "must be an integer", "bool_type": "must be true or false",
          "list_type": "must be a list", "float_type": "must be a number"}


def _plain(err: dict) -> str:
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"must have {'at least' if kind == 'too_short' else 'at most'} {bound} items"
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    return msg.replace("Input should be", "must be").replace("Input ", "")


def describe_validation(exc: RequestValidationError) -> str:
    """One line naming each wrong field in plain words, without pydantic's internals."""
    parts: dict[str, list[str]] = {}
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "invalid JSON in the request body"
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body" and not _TAG.match(str(p))) or "body"
        phrase = _plain(err)
        if phrase not in parts.setdefault(loc, []):
            parts[loc].append(phrase)
    lines = [f"{loc}: " + " or ".join(p.removeprefix("must be ") if i else p for i, p in enumerate(phrases))
             for loc, phrases in parts.items()]
    return "; ".join(lines[:5]) or "invalid request"


def install_error_handlers(app: FastAPI, retry_after=lambda: 5) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_json(422, "invalid_request_error", describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 400 and "parsing the body" in detail:
            detail = "the request body cannot be read as JSON (invalid UTF-8, or nested too deeply)"
        return error_json(exc.status_code, _HTTP_TYPES.get(exc.status_code, "http_error"), detail,
                          getattr(exc, "headers", None))

    @app.exception_handler(RagError)
    async def _rag(request: Request, exc: RagError):
        return rag_error_response(exc, retry_after())

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return error_json(500, "internal_error", "internal server error (logged on the server)")


def http_type(status: int) -> str:
    return _HTTP_TYPES.get(status, "http_error")


# -- API key ------------------------------------------------------------------------------------------------
KEY_MESSAGE = "missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)"


def key_matches(options: ServerOptions, supplied: str | None) -> bool:
    if not options.api_key:
        return True
    return bool(supplied) and hmac.compare_digest(supplied.encode(), options.api_key.encode())


def supplied_key(headers) -> str | None:
    """The key a request carries: X-API-Key, or Authorization: Bearer KEY."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return headers.get("x-api-key") or (token.strip() if scheme.lower() == "bearer" else None)


def key_checker(options: ServerOptions):
    """A dependency: no-op without a key; else Authorization: Bearer KEY or X-API-Key: KEY.
    (The security schemes only document the two headers in the OpenAPI schema.)"""
    if not options.api_key:
        return lambda: None
    bearer = HTTPBearer(auto_error=False, description="RAG_API_KEY")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="RAG_API_KEY")

    def check(request: Request, _b=Depends(bearer), _k=Depends(header)) -> None:
        if not key_matches(options, supplied_key(request.headers)):
            raise AuthError(KEY_MESSAGE)

    return check


# -- server-sent events -------------------------------------------------------------------------------------
def sse(event: str | None, data) -> str:
    """One event; ``data`` is JSON-encoded unless it is already a string."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def error_event(exc: BaseException, retry_after: int = 5) -> dict:
    """The error JSON for a failure inside a stream (already past the status line)."""
    if isinstance(exc, RagError):
        return json.loads(rag_error_response(exc, retry_after).body)
    log.error("unhandled error while streaming", exc_info=exc)
    return {"error": {"type": "internal_error", "message": "internal server error (logged on the server)"}}
