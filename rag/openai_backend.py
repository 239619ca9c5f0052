"""Any OpenAI-compatible server as the generator: vLLM, llama.cpp's server, Ollama, a hosted API.

Configured by ``RAG_GENERATOR=openai:<base-url>#<model>`` (``#<model>`` may be left out when the server
serves one model); the API key comes from ``RAG_GENERATOR_API_KEY`` only: it is not a setting, and it
is never logged or shown. The reply is raw material: rag/generated.py verifies every sentence of it
before anything is shown, so streaming here only changes how the reply travels (the time limit then
applies between chunks), never what a user sees first.

Endpoints: ``/v1/chat/completions`` or ``/v1/completions`` (``generator_api``; "auto" tries chat first
and settles on completions when the server cannot chat, e.g. a base model without a chat template).
Where the server supports it the reply is constrained to ``ANSWER_SCHEMA`` (vLLM: ``response_format``
json_schema on chat, ``structured_outputs`` on completions); "auto" drops the constraint for servers
that reject it. What works is remembered for the next request.

About 390 lines, over the house limit on purpose: the client, its retry loop and the reply parsing are one
protocol; the parsing half alone would be a module nobody else imports.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time

import httpx

from .errors import InputError, ModelError
from .generation import OPENAI_PREFIX, TASKS, answer_prompt, split_claims, template
from .types import Generation, GenerationRequest

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"},
                   "citations": {"type": "array", "items": {"type": "integer"}, "maxItems": 8}},
    "required": ["answer", "citations"],
    "additionalProperties": False,
}
API_KEY_ENV = "RAG_GENERATOR_API_KEY"
_RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                 httpx.WriteError)
_PATHS = {"chat": "/chat/completions", "completions": "/completions"}


def answer_schema(max_new_tokens: int) -> dict:
    """``ANSWER_SCHEMA`` with the answer short enough (2 characters a token) that the JSON usually closes
    within the token budget (digits are a token each); a reply cut off anyway keeps its whole sentences."""
    answer = {**ANSWER_SCHEMA["properties"]["answer"], "maxLength": max(40, int(max_new_tokens * 2))}
    return {**ANSWER_SCHEMA, "properties": {**ANSWER_SCHEMA["properties"], "answer": answer}}


def parse_spec(spec: str) -> tuple[str, str]:
    """``openai:http://host:8000/v1#model`` -> ("http://host:8000/v1", "model")."""
    rest = spec.strip()[len(OPENAI_PREFIX):] if spec.strip().startswith(OPENAI_PREFIX) else spec.strip()
    url, _, model = rest.partition("#")
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("//", 1)[1]) == 0:
        raise InputError(f"generator {spec!r}: expected openai:<http(s)://host:port/v1>#<model>")
    return url, model.strip()


class _Rejected(Exception):
    """The server answered 4xx to a request (not to the key, not about the model)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message = status, message


class OpenAIGenerator:
    """Talks to ``base_url`` (ending in /v1) over HTTP; cheap to construct, checks the server in warm_up."""

    def __init__(self, base_url: str, model: str = "", *, api: str = "auto", timeout: float = 60.0,
                 retries: int = 2, stream: bool = False, structured: str = "auto", api_key: str | None = None,
                 backoff: float = 0.5, transport: httpx.BaseTransport | None = None):
        self.base_url, self.model = base_url.rstrip("/"), model
        self.api, self.structured = api, structured
        self.timeout, self.retries, self.stream, self.backoff = timeout, retries, stream, backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, transport=transport,
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=8))
        self._ways: list[tuple[str, bool]] | None = None  # (endpoint, constrained) to try, the working one first
        self._lock = threading.Lock()
        self._checked = False

    @classmethod
    def from_settings(cls, settings) -> "OpenAIGenerator":
        url, model = parse_spec(settings.generator)
        return cls(url, model, api=settings.generator_api, timeout=settings.generator_timeout,
                   retries=settings.generator_retries, stream=settings.generator_stream,
                   structured=settings.generator_structured, api_key=os.environ.get(API_KEY_ENV) or None)

    @property
    def name(self) -> str:
        return f"{self.model or '?'} at {self.base_url}"

    def __repr__(self) -> str:  # never the key
        return f"OpenAIGenerator({self.base_url!r}, {self.model!r}, api={self.api!r})"

    def close(self) -> None:
        self._client.close()

    # ---- the server and its models

    def models(self) -> list[str]:
        """The model ids the server offers (``GET /models``)."""
        data = self._request("GET", "/models")
        try:
            return [str(m["id"]) for m in data["data"]]
        except (KeyError, TypeError) as exc:
            raise ModelError(f"unparseable model list from {self.base_url}/models: {_short(data)}") from exc

    def warm_up(self) -> None:
        """Checks once that the server answers and serves the model (the only one, if none was named)."""
        with self._lock:
            if self._checked:
                return
            offered = self.models()
            if not self.model and len(offered) == 1:
                self.model = offered[0]
            elif self.model not in offered:
                raise ModelError(_unknown(self.model, self.base_url, offered))
            self._checked = True

    def health(self, timeout: float = 5.0) -> dict:
        """For /api/health: the backend, and whether it is reachable with the model (one quick try, at most
        ``timeout`` seconds). Never raises: what went wrong is in "problem"."""
        out = {"backend": "openai", "url": self.base_url, "model": self.model, "reachable": False, "problem": None}
        try:
            data = self._request("GET", "/models", retries=0, timeout=min(self.timeout, timeout))
        except ModelError as exc:
            out["problem"] = str(exc)
            return out
        except _Rejected as rej:  # it answered, but not with a model list
            out.update(reachable=True, problem=f"{self.base_url}/models answered {rej}")
            return out
        except Exception as exc:  # any other transport failure: unreachable, said in one line
            out["problem"] = f"cannot reach the generator server at {self.base_url} ({_reason(exc)})"
            return out
        out["reachable"] = True
        try:
            ids = [str(m["id"]) for m in data["data"]]
        except (KeyError, TypeError, IndexError):
            out["problem"] = f"unparseable model list from {self.base_url}/models: {_short(data)}"
            return out
        if self.model and self.model not in ids:
            out["problem"] = _unknown(self.model, self.base_url, ids)
        return out

    # ---- generation

    def generate(self, request: GenerationRequest) -> Generation:
        if request.task not in TASKS:
            raise InputError(f"unknown generation task {request.task!r} ({', '.join(TASKS)})")
        if not request.passages:
            return Generation("")
        self.warm_up()
        if request.task == "translate":
            _, passage = request.passages[0]
            prompt = template("translate", request.language).replace("{text}", " ".join(passage.split())).rstrip()
            text, _ = self._complete(prompt, request.max_new_tokens, schema=None, stop=["\n"])
            return Generation(text.strip())
        text, constrained = self._complete(answer_prompt(request), request.max_new_tokens,
                                           answer_schema(request.max_new_tokens))
        answer, cites = parse_answer(text, constrained or self.structured == "on")
        return Generation(answer, split_claims(answer, default=cites))

    def _complete(self, prompt: str, max_tokens: int, schema: dict | None,
                  stop: list[str] | None = None) -> tuple[str, bool]:
        """(reply text, whether it was schema-constrained): the remembered way first, then the others."""
        ways = self._ways or self._candidates(schema is not None)
        problems = []
        for endpoint, constrained in ways:
            if constrained and schema is None:
                constrained = False
            body = self._body(endpoint, prompt, max_tokens, schema if constrained else None, stop)
            try:
                text = self._send(endpoint, body)
            except _Rejected as rej:
                if "model" in rej.message.lower() and ("not exist" in rej.message or "not found" in rej.message):
                    raise ModelError(_unknown(self.model, self.base_url, self._offered())) from None
                problems.append(f"{_PATHS[endpoint]}{' with a JSON schema' if constrained else ''}: {rej}")
                continue
            if schema is not None and self._ways is None:  # remember what works, keep the rest as fallbacks
                self._ways = [(endpoint, constrained)] + [w for w in ways if w != (endpoint, constrained)]
            return text, constrained
        raise ModelError(f"the generator server at {self.base_url} rejected every request: " + "; ".join(problems))

    def _candidates(self, want_schema: bool) -> list[tuple[str, bool]]:
        endpoints = ["chat", "completions"] if self.api == "auto" else [self.api]
        kinds = {"on": [True], "off": [False], "auto": [True, False]}[self.structured] if want_schema else [False]
        return [(e, k) for k in kinds for e in endpoints]

    def _body(self, endpoint: str, prompt: str, max_tokens: int, schema: dict | None, stop) -> dict:
        body = {"model": self.model, "max_tokens": max_tokens, "temperature": 0}
        if endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
            if schema:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        else:
            body["prompt"] = prompt
            if schema:
                body["structured_outputs"] = {"json": schema}
        if stop:
            body["stop"] = stop
        if self.stream:
            body["stream"] = True
        return body

    def _send(self, endpoint: str, body: dict) -> str:
        path = _PATHS[endpoint]
        if self.stream:
            return self._request("POST", path, body, stream=endpoint)
        data = self._request("POST", path, body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if endpoint == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"unparseable reply from {self.base_url}{path}: {_short(data)}") from exc
        if not isinstance(text, str):
            raise ModelError(f"unparseable reply from {self.base_url}{path}: no text in {_short(data)}")
        return text

    # ---- HTTP with retries

    def _request(self, method: str, path: str, body: dict | None = None, *, stream: str = "",
                 retries: int | None = None, timeout: float | None = None):
        """The JSON reply (or, with ``stream``, the streamed text). Connection errors, 429 and 5xx are
        retried with exponential backoff (``Retry-After`` honoured up to 30 s); anything else is final."""
        retries = self.retries if retries is None else retries
        extra = {} if timeout is None else {"timeout": timeout}
        for attempt in range(retries + 1):
            wait = min(self.backoff * 2 ** attempt, 30.0)
            try:
                if stream:
                    with self._client.stream(method, path, json=body, **extra) as resp:
                        if resp.status_code < 400:
                            return _read_events(resp, stream, self.base_url + path)
                        resp.read()
                else:
                    resp = self._client.request(method, path, json=body, **extra)
            except _RETRY_ERRORS as exc:
                problem = f"cannot reach the generator server at {self.base_url} ({_reason(exc)})"
            except httpx.TimeoutException:
                raise ModelError(f"no reply from the generator server at {self.base_url} within "
                                 f"{timeout or self.timeout:g} s") from None
            else:
                if resp.status_code < 400:
                    return _json(resp, self.base_url + path)
                message = _message(resp)
                if resp.status_code in (401, 403):
                    raise ModelError(f"the generator server at {self.base_url} refused the request "
                                     f"(HTTP {resp.status_code}: {message}); check {API_KEY_ENV}")
                if resp.status_code != 429 and resp.status_code < 500:
                    raise _Rejected(resp.status_code, message)
                what = "is overloaded" if resp.status_code == 429 else "failed"
                problem = f"the generator server at {self.base_url} {what} (HTTP {resp.status_code}: {message})"
                wait = max(wait, min(_retry_after(resp), 30.0))
            if attempt < retries:
                time.sleep(wait)
        raise ModelError(f"{problem} after {retries + 1} attempt{'s' if retries else ''}")

    def _offered(self) -> list[str]:
        try:
            return self.models()
        except ModelError:
            return []


# ---------------------------------------------------------------- replies

def parse_answer(text: str, constrained: bool) -> tuple[str, tuple[int, ...]]:
    """(answer text, the citations it lists) from a reply: the JSON object the schema asks for, or (from
    a server that ignores the schema, when it was not required) plain text with [n] markers."""
    raw = text.strip()
    if raw.startswith("```"):  # a fenced ```json block
        raw = raw.strip("`").removeprefix("json").strip()
    if not raw:
        raise ModelError("the generator's reply is empty")
    if raw.startswith("{") or constrained:
        try:
            data = json.loads(raw)
            answer = data["answer"]
            cites = tuple(int(n) for n in data.get("citations") or ())
        except (ValueError, KeyError, TypeError) as exc:
            salvaged = _complete_sentences(raw)
            if salvaged:
                return salvaged, ()
            raise ModelError(f"unparseable reply from the generator (expected {{\"answer\": ..., "
                             f"\"citations\": [...]}}): {_short(raw)}") from exc
        if not isinstance(answer, str):
            raise ModelError(f"unparseable reply from the generator: answer is not text: {_short(raw)}")
        return answer.strip(), cites
    return raw, ()


def _complete_sentences(raw: str) -> str:
    """From a reply cut off by the token budget (``{"answer": "A. B. C`` ...): its complete sentences
    ("A. B."), or "". They are verified like any others; the cut one is never used."""
    m = re.match(r'\s*\{\s*"answer"\s*:\s*"((?:[^"\\]|\\.)*)(")?', raw)
    if not m:
        return ""
    body = m.group(1)
    for cut in range(len(body), max(len(body) - 8, 0), -1):  # a cut-off escape ("\u00") at the end
        try:
            text = json.loads(f'"{body[:cut]}"')
            break
        except ValueError:
            continue
    else:
        return ""
    if m.group(2):  # the answer is whole; only what followed it was cut
        return text.strip()
    ends = list(re.finditer(r"[.!?](?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*(?=\s|$)", text))
    return text[:ends[-1].end()].strip() if ends else ""


def _read_events(resp: httpx.Response, endpoint: str, url: str) -> str:
    """The text of a server-sent event stream of completion chunks."""
    parts = []
    for line in resp.iter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise ModelError(f"unparseable stream chunk from {url}: {_short(payload)}") from None
        if isinstance(chunk, dict) and chunk.get("error"):
            raise ModelError(f"the generator server at {url} failed mid-stream: {_short(chunk['error'])}")
        try:
            choice = (chunk.get("choices") or [{}])[0]
            piece = (choice.get("delta") or {}).get("content") if endpoint == "chat" else choice.get("text")
        except (AttributeError, TypeError):
            raise ModelError(f"unparseable stream chunk from {url}: {_short(payload)}") from None
        parts.append(piece or "")
    return "".join(parts)


def _json(resp: httpx.Response, url: str):
    try:
        return resp.json()
    except ValueError:
        raise ModelError(f"unparseable reply from {url} (not JSON): {_short(resp.text)}") from None


def _message(resp: httpx.Response) -> str:
    """The server's own error message, one line."""
    try:
        data = resp.json()
    except ValueError:
        return _short(resp.text) or resp.reason_phrase
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            err = err.get("message") or err.get("detail") or err
        return _short(err)
    return _short(data)


def _retry_after(resp: httpx.Response) -> float:
    try:
        return float(resp.headers.get("retry-after", 0))
    except ValueError:
        return 0.0


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return "connection refused" if "refused" in text.lower() else _short(text)


def _unknown(model: str, url: str, offered: list[str]) -> str:
    which = f"model {model!r} is not served" if model else "no model was named and several are served"
    offer = ", ".join(offered) if offered else "nothing"
    return f"{which} at {url}; it offers: {offer} (set RAG_GENERATOR=openai:{url}#<model>)"


def _short(value, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
