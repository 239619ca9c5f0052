"""Who is at the door (issue 12, points 4-7), driven like the probe: a real HTTP client (or a raw
socket) against the app as `rag serve` builds it (API, /v1 and the Gradio chat on one port).

- CORS: a preflight from a foreign origin gets no allow headers on any mount (403 JSON instead);
- Host: a foreign Host header gets 421 JSON on API and chat routes (DNS rebinding);
- login: 20 wrong chat passwords from one client are slowed down, other clients are not;
- errors: every non-2xx on /api and /v1 is the JSON error shape, whatever the method or body;
- sockets: a client that never finishes its headers is cut off; oversized chat bodies get 413.
"""
from __future__ import annotations

import socket
import time

import httpx
import pytest

from rag.server import build_app, load_ui
from rag.service import Service
from rag.web import ServerOptions
from tests.serving import HTTP, QUESTION, assert_error, fake_pipeline, raw_request, running

EVIL = "http://evil.example"
ACA = "access-control-allow-"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return fake_pipeline(tmp_path_factory.mktemp("security-index"))


def product(pipeline, **options):
    opts = ServerOptions(**options)
    return running(build_app(Service(pipeline), opts), opts)


@pytest.fixture(scope="module")
def server(pipeline):
    try:
        load_ui()
    except Exception as exc:
        pytest.skip(f"ui.py cannot be loaded, so there is no chat mount to test: {exc}")
    with product(pipeline) as base:
        yield base


# Every mount: REST, /v1, the docs' static files, the chat page, Gradio's API, upload and login routes.
PATHS = ["/api/ask", "/api/health", "/v1/chat/completions", "/v1/models", "/api/docs/static/swagger-ui.css", "/",
         "/gradio_api/info", "/gradio_api/queue/join", "/gradio_api/upload", "/gradio_api/run/respond", "/login",
         "/config"]


@pytest.mark.parametrize("path", PATHS)
def test_cors_preflight_from_a_foreign_origin_gets_no_allow_headers(server, path):
    for origin in (EVIL, "null", "http://localhost:1", server.replace("127.0.0.1", "localhost")):
        r = HTTP.options(server + path, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type"})
        assert not [h for h in r.headers if h.startswith(ACA)], (origin, dict(r.headers))
        assert_error(r, 403, "forbidden")
        simple = HTTP.get(server + path, headers={"Origin": origin})
        assert not [h for h in simple.headers if h.startswith(ACA)], (origin, dict(simple.headers))
        assert_error(simple, 403, "forbidden")


def test_same_origin_requests_work_and_carry_no_cors_headers(server):
    r = HTTP.get(server + "/gradio_api/info", headers={"Origin": server})
    assert r.status_code == 200 and not [h for h in r.headers if h.startswith("access-control-")]
    r = HTTP.post(server + "/api/ask", json={"question": QUESTION}, headers={"Origin": server})
    assert r.status_code == 200 and not [h for h in r.headers if h.startswith("access-control-")]


def test_listed_origins_get_cors_and_others_still_do_not(pipeline):
    ok = "http://ok.example"
    with product(pipeline, cors_origins=(ok,)) as base:
        pre = HTTP.options(base + "/api/ask", headers={"Origin": ok, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "content-type"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ok
        r = HTTP.post(base + "/api/search", json={"question": QUESTION}, headers={"Origin": ok})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ok
        r = HTTP.post(base + "/api/search", json={"question": QUESTION}, headers={"Origin": EVIL})
        assert_error(r, 403) and ACA + "origin" not in r.headers


@pytest.mark.parametrize("path", ["/api/ask", "/api/health", "/v1/models", "/", "/gradio_api/info", "/login",
                                  "/api/docs"])
def test_a_foreign_host_gets_421(server, path):
    port = server.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "localhost.evil.example", "x" * 300):
        status, headers, body = raw_request(server, f"GET {path} HTTP/1.1\r\nHost: {host}")
        assert status == 421 and headers["content-type"] == "application/json", (host, status, body[:200])
        assert body.startswith(b'{"error":{"type":"misdirected_request"')
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST", "127.0.0.2"):
        status, _, body = raw_request(server, f"GET /api/health HTTP/1.1\r\nHost: {host}")
        assert status == 200, (host, body[:200])
    status, _, body = raw_request(server, "GET /api/health HTTP/1.0")  # no Host header at all
    assert status == 421


def test_allowed_hosts_are_configurable(pipeline):
    with product(pipeline, allowed_hosts=("localhost", "127.0.0.1", "rag.example")) as base:
        status, _, _ = raw_request(base, "GET /api/health HTTP/1.1\r\nHost: rag.example:8080")
        assert status == 200
        assert raw_request(base, "GET /api/health HTTP/1.1\r\nHost: evil.example")[0] == 421
    with product(pipeline, allowed_hosts=("*",)) as base:
        assert raw_request(base, "GET /api/health HTTP/1.1\r\nHost: evil.example")[0] == 200


def login(client: httpx.Client, base: str, password: str) -> httpx.Response:
    return client.post(base + "/login", data={"username": "me", "password": password})


def test_wrong_chat_logins_are_slowed_down(pipeline):
    try:
        load_ui()
    except Exception as exc:
        pytest.skip(f"ui.py cannot be loaded: {exc}")
    with product(pipeline, api_key="s3cret") as base, httpx.Client(timeout=30) as me:
        assert me.get(base + "/gradio_api/info").status_code == 401
        statuses = [login(me, base, f"guess-{n}").status_code for n in range(20)]
        assert statuses[:5] == [400] * 5 and statuses[5:] == [429] * 15, statuses
        refused = login(me, base, "s3cret")  # even the right password waits its turn
        t0 = time.monotonic()
        err = assert_error(refused, 429, "rate_limited")
        assert "try again" in err["message"] and 1 <= int(refused.headers["retry-after"]) <= 60
        with httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
            assert login(other, base, "s3cret").status_code == 200  # another client is not locked out
        time.sleep(max(0.0, t0 + int(refused.headers["retry-after"]) + 0.2 - time.monotonic()))
        assert login(me, base, "s3cret").status_code == 200
        assert me.get(base + "/gradio_api/info").status_code == 200
        assert login(me, base, "wrong").status_code == 400  # a success forgets the failures


METHODS = ["TRACE", "OPTIONS", "PROPFIND", "HEAD", "PUT", "PATCH", "DELETE", "BREW"]


@pytest.mark.parametrize("path", ["/api/ask", "/api/health", "/api/documents/x", "/v1/chat/completions",
                                  "/v1/models", "/api/nothing", "/v1/nothing/at/all"])
def test_every_method_on_api_paths_gets_the_json_error(server, path):
    for method in METHODS:
        r = HTTP.request(method, server + path)
        expected = 404 if "nothing" in path else 405
        if method == "HEAD":  # no body by definition; still the JSON error's status and type
            assert r.status_code == expected and r.headers["content-type"] == "application/json", method
            continue
        assert_error(r, expected)
        if expected == 405:
            assert method not in r.headers["allow"] and r.headers["allow"]


@pytest.mark.parametrize("part", [
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    {"type": "file", "file": {"file_id": "x"}},
    {"type": "text"},
])
def test_non_text_content_parts_get_a_plain_400(server, part):
    body = {"model": "rag-drucksache", "messages": [{"role": "user", "content": [part]}]}
    err = assert_error(HTTP.post(server + "/v1/chat/completions", json=body), 400, "invalid_request_error")
    assert "not supported" in err["message"] and "text" in err["message"]


@pytest.mark.parametrize("raw,status", [
    (b'{"question": "\xff\xfe"}', 400),
    (b"\xff\xfe", 422),
    (b"[" * 50_000 + b"]" * 50_000, 400),
    (b'{"question": ' + b'{"a": ' * 20_000 + b"1" + b"}" * 20_000 + b"}", 400),
])
def test_unreadable_bodies_get_documented_json_errors(server, raw, status):
    schema = HTTP.get(server + "/openapi.json").json()
    for path in ("/api/ask", "/v1/chat/completions"):
        r = HTTP.post(server + path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code in (400, 422)
        assert_error(r, r.status_code, "invalid_request_error")
        assert str(r.status_code) in schema["paths"][path]["post"]["responses"]


def test_a_partial_header_socket_is_timed_out(pipeline):
    with product(pipeline, header_timeout=1.0) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as silent, \
                socket.create_connection((host, int(port)), timeout=10) as trickle:
            t0 = time.monotonic()
            silent.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            for ch in b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40:  # a byte at a time
                try:
                    trickle.sendall(bytes([ch]))
                except OSError:
                    break
                time.sleep(0.05)
                if time.monotonic() - t0 > 3:
                    break
            assert silent.recv(1024) == b"" and trickle.recv(1024) == b""  # closed by the server
            assert time.monotonic() - t0 < 5
        host = base.removeprefix("http://")
        status, _, body = raw_request(base, f"GET /api/health HTTP/1.1\r\nHost: {host}\r\nX-Big: {'a' * 20_000}")
        assert status == 431 and b"request_header_too_large" in body
        assert HTTP.get(base + "/api/health").status_code == 200  # whole requests are served as before
        with httpx.Client(timeout=30) as keep:  # and a kept-alive connection may ask again
            assert [keep.get(base + "/api/health").status_code for _ in range(3)] == [200] * 3


def test_chat_bodies_are_limited(server):
    r = HTTP.post(server + "/gradio_api/run/respond", content=b'{"data": ["' + b"a" * 5_000_000 + b'"]}',
                  headers={"content-type": "application/json"})
    assert_error(r, 413, "request_too_large")
    host = server.removeprefix("http://")
    status, _, body = raw_request(server, f"POST /gradio_api/upload HTTP/1.1\r\nHost: {host}\r\n"
                                          "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 52428800")
    assert status == 413 and b"request_too_large" in body
    r = HTTP.post(server + "/api/ask", content=b'{"question": "' + b"a" * 1_100_000 + b'"}',
                  headers={"content-type": "application/json"})
    assert_error(r, 413, "request_too_large")


# -- the chat window in a real browser, behind every guard ----------------------------------------------
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _ask_in_browser(page, question: str, expect: str) -> None:
    box = page.locator("textarea").first
    box.wait_for(timeout=60_000)
    box.fill(question)
    box.press("Enter")
    page.get_by_text(expect).first.wait_for(timeout=120_000)


@pytest.mark.browser
@pytest.mark.parametrize("key", [None, "s3cret"], ids=["open", "keyed"])
def test_the_chat_window_works_behind_the_guards(pipeline, key):
    """Same-origin requests, the Host check, the body limit and (with a key) the login back-off do not get
    in the way of the real chat page: it logs in, asks and shows the answer; no browser error."""
    import shutil

    pytest.importorskip("playwright")
    if not shutil.which("chromium"):
        pytest.skip("no chromium (make browser installs it)")
    try:
        load_ui()
    except Exception as exc:
        pytest.skip(f"ui.py cannot be loaded: {exc}")
    from playwright.sync_api import sync_playwright

    with product(pipeline, api_key=key) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            if key:
                page.locator("input[type=password]").wait_for(timeout=60_000)
                page.locator("input").first.fill("me")
                page.locator("input[type=password]").fill("wrong")
                page.keyboard.press("Enter")
                page.get_by_text("Incorrect").first.wait_for(timeout=30_000)
                page.locator("input").first.fill("me")  # the form is cleared after a wrong password
                page.locator("input[type=password]").fill(key)
                page.keyboard.press("Enter")
            _ask_in_browser(page, QUESTION, "26. August 2016")
            assert errors == []
        finally:
            browser.close()
