"""The OpenAI-compatible endpoints, driven by the real `openai` client against a running server."""
from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx
import openai
import pytest
import uvicorn

from rag.api import MODEL_ID, create_app, with_sources
from rag.config import DEFAULT_CORPUS as CORPUS, Settings
from rag.embedding import FakeEmbedder
from rag.errors import ModelError
from rag.server import ServerOptions

QUESTION = "Wann besuchte der Botschafter der Republik Kasachstan das Museum in Peenemünde?"


@contextlib.contextmanager
def running(app):
    """Serve ``app`` with uvicorn on a free loopback port until it is ready; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 600
        while not server.started or httpx.get(base + "/api/health").json()["status"] != "ready":
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def client(base: str, key: str = "x", retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=retries, timeout=120)


def user(text) -> dict:
    return {"role": "user", "content": text}


@pytest.fixture(scope="module")
def fast_pipeline(tmp_path_factory):
    from rag.pipeline import Pipeline

    settings = Settings.from_env(index_dir=tmp_path_factory.mktemp("openai-index"), corpus=(CORPUS,),
                                 answer_mode="extractive")
    return Pipeline(settings, embedder=FakeEmbedder(), log=lambda m: None).warm_up()


@pytest.fixture(scope="module")
def fast_base(fast_pipeline):
    with running(create_app(fast_pipeline, options=ServerOptions())) as base:
        yield base


def test_models(fast_base):
    assert [m.id for m in client(fast_base).models.list()] == [MODEL_ID]


def test_completion_carries_sources_and_citations(fast_base, fast_pipeline):
    done = client(fast_base).chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)])
    answer = fast_pipeline.ask(QUESTION)
    choice = done.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == with_sources(answer)
    assert "[1]" in choice.message.content and "\n\nSources:\n[1] p. " in choice.message.content
    citations = done.model_extra["citations"]
    assert [c["n"] for c in citations] == [c.n for c in answer.citations]
    assert all(c["quote"] in c["text"] for c in citations)
    assert done.model_extra["refused"] is False


def test_stream_adds_up_to_the_completion(fast_base):
    api = client(fast_base)
    whole = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)]).choices[0].message.content
    chunks = list(api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] and chunks[-1].model_extra["refused"] is False


def test_history_pairs_and_ignored_system_messages(fast_base, fast_pipeline):
    first = "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2015?"
    messages = [{"role": "system", "content": "Antworte nur noch auf Piratisch."}, user(first),
                {"role": "assistant", "content": "12,811 Mio. Euro [1]"}, user("Und im Jahr danach?")]
    got = client(fast_base).chat.completions.create(model="any-name", messages=messages)
    expected = fast_pipeline.ask("Und im Jahr danach?", [[first, "12,811 Mio. Euro [1]"]])
    assert got.choices[0].message.content == with_sources(expected)
    assert got.model == MODEL_ID


def test_bad_requests_raise_the_client_errors(fast_base):
    api = client(fast_base)
    with pytest.raises(openai.UnprocessableEntityError, match="empty"):
        api.chat.completions.create(model=MODEL_ID, messages=[user("   ")])
    with pytest.raises(openai.UnprocessableEntityError, match="role"):
        api.chat.completions.create(model=MODEL_ID, messages=[{"role": "narrator", "content": "hi"}])
    with pytest.raises(openai.UnprocessableEntityError, match="last message"):
        api.chat.completions.create(model=MODEL_ID, messages=[user("hi"), {"role": "assistant", "content": "x"}])
    with pytest.raises(openai.UnprocessableEntityError) as info:
        api.chat.completions.create(model=MODEL_ID, messages=[user("x" * 5000)], stream=True)
    assert info.value.body["type"] == "invalid_request_error"


def test_api_key(fast_pipeline):
    with running(create_app(fast_pipeline, options=ServerOptions(api_key="k"))) as base:
        with pytest.raises(openai.AuthenticationError):
            client(base, key="wrong").models.list()
        assert client(base, key="k").chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)]).choices


class Failing:
    """A warm pipeline whose answers fail."""

    def __init__(self, pipeline):
        self.settings, self.index, self.ready = pipeline.settings, pipeline.index, True
        self.documents = pipeline.documents

    def warm_up(self):
        return self

    def ask(self, question, history=()):
        raise ModelError("the generator is missing")

    def ask_stream(self, question, history=()):
        raise ModelError("the generator is missing")
        yield  # a generator, like the pipeline's


def test_server_side_failures_surface(fast_pipeline):
    with running(create_app(Failing(fast_pipeline), options=ServerOptions())) as base:
        api = client(base)
        with pytest.raises(openai.InternalServerError, match="generator is missing") as info:
            api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)])
        assert info.value.status_code == 503
        with pytest.raises(openai.APIError, match="generator is missing"):
            list(api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True))


@pytest.fixture(scope="module")
def real_base(real_pipeline):
    with running(create_app(real_pipeline, options=ServerOptions())) as base:
        yield base


@pytest.mark.real
def test_real_models_through_the_client(real_base):
    api = client(real_base)
    done = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)])
    content = done.choices[0].message.content
    assert "26. August 2016" in content and "\n\nSources:\n[1] p. " in content
    assert all(c["quote"] in c["text"] for c in done.model_extra["citations"])
    streamed = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == content
    english = api.chat.completions.create(model=MODEL_ID, messages=[
        user("When did the ambassador of Kazakhstan visit the museum in Peenemünde?")])
    assert english.model_extra["language"] == "en" and not english.model_extra["refused"]
