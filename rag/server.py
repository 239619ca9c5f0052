"""`rag serve`: one process, one port, one service. The REST and OpenAI-compatible APIs (api.py) with
the Gradio chat mounted beside them at "/", all behind the same gate (service.py) and the same guards
(guards.py); the exposure rule; uvicorn with a header timeout.
"""
from __future__ import annotations

import hmac
import logging
import sys

from .config import Settings
from .errors import InputError
from .service import Service
from .web import ServerOptions, is_loopback


def check_exposure(host: str, options: ServerOptions) -> None:
    """Beyond loopback the API needs a key; say so in one line instead of starting an open server."""
    if not is_loopback(host) and not options.api_key:
        raise InputError(f"refusing to listen on {host} without an API key: set RAG_API_KEY "
                         f"(or serve on 127.0.0.1)")


def build_app(service: Service, options: ServerOptions):
    """The HTTP API plus, when ui.py is importable, the Gradio chat at "/" over the same service."""
    from .api import create_app

    app = create_app(service, options)
    try:
        blocks = load_ui().create_app(service)
    except Exception as exc:  # a broken chat window must not take the API down with it
        _log(f"serve: the chat window is not available ({type(exc).__name__}: {exc}); serving the API only")
        return app
    import gradio as gr

    auth = None
    if options.api_key:  # the chat asks for the key as its password (any user name); guards.LoginBackoff
        key = options.api_key.encode()  # slows down wrong guesses

        def auth(_user, password) -> bool:
            return hmac.compare_digest(str(password).encode(), key)

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


def uvicorn_config(app, options: ServerOptions, **kwargs):
    """uvicorn's settings for this server: h11 with a header timeout, 16 KiB of headers at most, idle
    keep-alive connections closed after 5 s, no Server header, no proxy headers trusted."""
    import uvicorn

    from .guards import header_timeout_protocol

    return uvicorn.Config(app, http=header_timeout_protocol(options.header_timeout),
                          h11_max_incomplete_event_size=16 * 1024, timeout_keep_alive=5, proxy_headers=False,
                          server_header=False, timeout_graceful_shutdown=5, **kwargs)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """`rag serve`: check the exposure rule, then run uvicorn. The models warm up in the background
    once the server is listening (GET /api/health says "loading", then "ready")."""
    import uvicorn

    from .pipeline import Pipeline

    options = ServerOptions.from_env(host=host)
    check_exposure(host, options)
    handler = logging.StreamHandler(sys.stderr)  # the API's messages beside uvicorn's, in its format
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logging.getLogger("rag").addHandler(handler)
    logging.getLogger("rag").setLevel(logging.INFO)
    service = Service(Pipeline(settings), max_waiting=options.max_waiting, timeout=options.request_timeout)
    app = build_app(service, options)
    shown = f"[{host}]" if ":" in host else host
    _log(f"serve: http://{shown}:{port}/ (chat), /api/docs (API), /v1 (OpenAI-compatible); "
         f"answering to Host names: {', '.join(options.allowed_hosts)}")
    uvicorn.Server(uvicorn_config(app, options, host=host, port=port, log_level="info")).run()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
