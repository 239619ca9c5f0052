"""Fuzz the running product's HTTP API from its own OpenAPI schema with schemathesis, every check on.

Starts `rag serve` on a free loopback port (the real models, settings from RAG_* variables) unless
--url names a running server, then runs `schemathesis run` against /openapi.json: no 5xx, no status or
content type the schema does not document, no response that breaks its schema, invalid input refused,
valid input accepted, undeclared methods answered with 405.

    .venv/bin/python scripts/fuzz_api.py                          # 100 examples per operation
    .venv/bin/python scripts/fuzz_api.py --examples 1000 --max-time 900
    .venv/bin/python scripts/fuzz_api.py --url http://127.0.0.1:7860 --key "$RAG_API_KEY"

Two exceptions are configured, each for a reason: a body over the size limit is refused with 413 (a
rejection schemathesis does not list by default); and on /v1/chat/completions a schema-valid
conversation may still be refused, since its last message must be the user's (JSON Schema cannot say
"the last item"), so "valid input accepted" is not checked there. Exit status: schemathesis's own.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
CONFIG = """\
[checks]
enabled = true
negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]

[[operations]]
include-path = "/v1/chat/completions"
checks.positive_data_acceptance.enabled = false
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, key: str | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if key:
        env["RAG_API_KEY"] = key
    return subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(url: str, server: subprocess.Popen | None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            sys.exit(f"fuzz: the server exited with status {server.returncode}")
        try:
            status = httpx.get(url + "/api/health", timeout=5).json()["status"]
            if status == "ready":
                return
            if status == "failed":
                sys.exit("fuzz: the server failed to load its models (see GET /api/health)")
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    sys.exit(f"fuzz: {url} was not ready within {timeout:.0f} s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running server (default: start `rag serve` on a free port)")
    p.add_argument("--key", help="the API key (sent as Authorization: Bearer; given to the server it starts)")
    p.add_argument("--examples", type=int, default=100, help="examples per operation and phase (default 100)")
    p.add_argument("--max-time", type=int, default=600, help="time budget in seconds (default 600)")
    p.add_argument("--workers", default="1", help="concurrent workers (default 1: the model answers one at a time)")
    args = p.parse_args(argv)
    server = None
    url = (args.url or "").rstrip("/")
    if not url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(port, args.key)
    try:
        wait_ready(url, server)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "schemathesis.toml"
            config.write_text(CONFIG, encoding="utf-8")
            command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
                       f"{url}/openapi.json", "--url", url, "--mode", "all",
                       "--max-examples", str(args.examples), "--max-time", str(args.max_time),
                       "--workers", args.workers, "--request-timeout", "120"]
            if args.key:
                command += ["--header", f"Authorization: Bearer {args.key}"]
            print("fuzz:", " ".join(command[2:]), flush=True)
            return subprocess.run(command, cwd=tmp).returncode
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
