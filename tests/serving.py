"""Helpers for the tests that drive the real server over real HTTP: uvicorn (with the product's own
settings: header timeout, header size limit) on a free loopback port in a background thread."""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from rag.config import DEFAULT_CORPUS as CORPUS, Settings
from rag.embedding import FakeEmbedder
from rag.server import uvicorn_config
from rag.web import ServerOptions

QUESTION = "Wann besuchte der Botschafter der Republik Kasachstan das Museum in Peenemünde?"
HTTP = httpx.Client(timeout=120)  # one connection pool per test module that imports it


def fake_pipeline(index_dir: Path):
    """The real Pipeline on the fake embedder (extractive answers): seconds, not minutes."""
    from rag.pipeline import Pipeline

    settings = Settings.from_env(index_dir=Path(index_dir), corpus=(CORPUS,), answer_mode="extractive")
    return Pipeline(settings, embedder=FakeEmbedder(), log=lambda m: None).warm_up()


def app_for(pipeline, **options):
    """The REST + /v1 app over ``pipeline`` (behind its own service), as api.create_app builds it."""
    from rag.api import create_app
    from rag.service import Service

    opts = ServerOptions(**options)
    return create_app(Service(pipeline, max_waiting=opts.max_waiting, timeout=opts.request_timeout), opts)


@contextlib.contextmanager
def running(app, options: ServerOptions | None = None, ready: bool = True, timeout: float = 600):
    """Serve ``app`` on a free loopback port; yields the base URL once it listens (and is ready)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app, options or ServerOptions(), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        if ready:
            wait_for_status(base, "ready", timeout)
        yield base
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def wait_for_status(base: str, status: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        health = HTTP.get(base + "/api/health", timeout=10).json()
        if health["status"] == status or time.monotonic() > deadline:
            assert health["status"] == status, health
            return health
        time.sleep(0.05)


def assert_error(response: httpx.Response, status: int, type_: str | None = None) -> dict:
    """The documented error shape: JSON {"error": {"type", "message"}}, no traceback, no pydantic words."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    err = response.json()["error"]
    assert isinstance(err["message"], str) and err["message"] and isinstance(err["type"], str)
    for leak in ("Traceback", "pydantic", "list[", "function-after", "Input should be a valid dict"):
        assert leak not in response.text, response.text
    if type_:
        assert err["type"] == type_, err
    return err


def raw_request(base: str, head: str, body: bytes = b"", timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send ``head`` (request line and headers, CRLF-separated, without the final blank line) exactly
    as given; returns (status, headers, body)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(head.encode("latin-1") + b"\r\nConnection: close\r\n\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest
