"""The OpenAI-compatible endpoints, driven by the real `openai` client against a running server: usage,
models, German labels, max_tokens, refusals of what is not supported, errors."""
from __future__ import annotations

import openai
import pytest

from rag import format as fmt
from rag.errors import ModelError
from rag.openai_api import MODEL_ID, TokenCounter, with_sources
from tests.serving import QUESTION, app_for, fake_pipeline, running

ENGLISH = "Which universities in Wismar have partnerships in Kazakhstan?"


def client(base: str, key: str = "x", retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=retries, timeout=120)


def user(text) -> dict:
    return {"role": "user", "content": text}


@pytest.fixture(scope="module")
def fast_pipeline(tmp_path_factory):
    return fake_pipeline(tmp_path_factory.mktemp("openai-index"))


@pytest.fixture(scope="module")
def fast_base(fast_pipeline):
    with running(app_for(fast_pipeline)) as base:
        yield base


@pytest.fixture(scope="module")
def documents(fast_pipeline):
    return {d.doc_id: d.metadata for d in fast_pipeline.documents()}


@pytest.fixture(scope="module")
def counter(fast_pipeline):
    return TokenCounter(fast_pipeline.settings)


def test_models_lists_what_is_served_and_unknown_models_get_404(fast_base):
    api = client(fast_base)
    assert [m.id for m in api.models.list()] == [MODEL_ID]
    assert api.models.retrieve(MODEL_ID).id == MODEL_ID
    with pytest.raises(openai.NotFoundError) as info:
        api.models.retrieve("gpt-4o")
    assert info.value.body["code"] == "model_not_found"
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError, match="does not exist") as info:
            api.chat.completions.create(model="gpt-4o", messages=[user(QUESTION)], stream=stream)
        assert info.value.body["param"] == "model" and info.value.body["type"] == "invalid_request_error"


def test_completion_carries_sources_usage_and_citations(fast_base, fast_pipeline, documents, counter):
    done = client(fast_base).chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)])
    answer = fast_pipeline.ask(QUESTION)
    choice = done.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == with_sources(answer, documents)
    assert "[1]" in choice.message.content and "\n\nQuellen:\n[1] Drucksache 7/844, S. " in choice.message.content
    assert done.usage.prompt_tokens == counter.count(QUESTION) > 5
    assert done.usage.completion_tokens == counter.count(choice.message.content) > 20
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    citations = done.model_extra["citations"]
    assert [c["n"] for c in citations] == [c.n for c in answer.citations]
    assert all(c["quote"] in c["text"] for c in citations)
    assert done.model_extra["refused"] is False and done.model_extra["language"] == "de"


def test_long_quotes_are_not_repeated_in_the_sources(fast_base, fast_pipeline, documents):
    content = client(fast_base).chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)]) \
        .choices[0].message.content
    answer = fast_pipeline.ask(QUESTION)
    quote = fmt.flat(answer.citations[0].quote)
    assert len(quote) > 200 and fmt.flat(content).count(quote) == 1
    assert content.endswith(fmt.where(answer.citations[0], "de", documents))


def test_english_answers_get_english_labels(fast_base):
    content = client(fast_base).chat.completions.create(model=MODEL_ID, messages=[user(ENGLISH)]) \
        .choices[0].message.content
    assert "\n\nSources:\n[1] Drucksache 7/844, p. " in content and "Quellen" not in content


def test_stream_adds_up_to_the_completion_with_usage_on_request(fast_base):
    api = client(fast_base)
    whole = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)])
    plain = list(api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in plain) == whole.choices[0].message.content
    assert plain[0].choices[0].delta.role == "assistant"
    assert plain[-1].choices[0].finish_reason == "stop" and plain[-1].usage is None
    assert plain[-1].model_extra["citations"] and plain[-1].model_extra["refused"] is False
    counted = list(api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True,
                                               stream_options={"include_usage": True}))
    assert counted[-1].choices == [] and counted[-1].usage == whole.usage
    assert all(c.usage is None for c in counted[:-1])


def test_max_tokens_cuts_the_reply_and_says_so(fast_base, counter):
    api = client(fast_base)
    whole = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)]).choices[0].message.content
    for stream in (False, True):
        for field in ("max_tokens", "max_completion_tokens"):
            if stream:
                chunks = list(api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True,
                                                          stream_options={"include_usage": True}, **{field: 7}))
                content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                reason = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
                usage = chunks[-1].usage
            else:
                done = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], **{field: 7})
                content, reason, usage = done.choices[0].message.content, done.choices[0].finish_reason, done.usage
            assert reason == "length" and usage.completion_tokens == 7 == counter.count(content)
            assert whole.startswith(content) and len(content) < len(whole)
    roomy = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], max_tokens=10_000)
    assert roomy.choices[0].finish_reason == "stop" and roomy.choices[0].message.content == whole


@pytest.mark.parametrize("extra,mentions", [
    ({"n": 2}, "n > 1"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}, "tools"),
    ({"tool_choice": "required"}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}, "response_format"),
])
def test_what_cannot_be_honoured_is_refused_with_a_400(fast_base, extra, mentions):
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError, match="not supported") as info:
            client(fast_base).chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=stream,
                                                      **extra)
        assert mentions in info.value.body["message"]


def test_what_is_harmless_is_accepted(fast_base):
    done = client(fast_base).chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], n=1,
                                                     temperature=0.2, top_p=0.9, seed=1, user="me",
                                                     response_format={"type": "text"}, tool_choice="none")
    assert done.choices[0].finish_reason == "stop"


def test_history_pairs_and_ignored_system_messages(fast_base, fast_pipeline, documents):
    first = "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2015?"
    messages = [{"role": "system", "content": "Antworte nur noch auf Piratisch."}, user(first),
                {"role": "assistant", "content": "12,811 Mio. Euro [1]"}, user("Und im Jahr danach?")]
    got = client(fast_base).chat.completions.create(model=MODEL_ID, messages=messages)
    expected = fast_pipeline.ask("Und im Jahr danach?", [[first, "12,811 Mio. Euro [1]"]])
    assert got.choices[0].message.content == with_sources(expected, documents)
    assert got.model == MODEL_ID


def test_bad_requests_raise_the_client_errors(fast_base):
    api = client(fast_base)
    with pytest.raises(openai.UnprocessableEntityError, match="empty"):
        api.chat.completions.create(model=MODEL_ID, messages=[user("   ")])
    with pytest.raises(openai.UnprocessableEntityError, match="role"):
        api.chat.completions.create(model=MODEL_ID, messages=[{"role": "narrator", "content": "hi"}])
    with pytest.raises(openai.UnprocessableEntityError, match="last message"):
        api.chat.completions.create(model=MODEL_ID, messages=[user("hi"), {"role": "assistant", "content": "x"}])
    with pytest.raises(openai.UnprocessableEntityError, match="max_tokens") as info:
        api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], max_tokens=0)
    with pytest.raises(openai.UnprocessableEntityError) as info:
        api.chat.completions.create(model=MODEL_ID, messages=[user("x" * 5000)], stream=True)
    assert info.value.body["type"] == "invalid_request_error" and "too long" in info.value.body["message"]


def test_api_key(fast_pipeline):
    with running(app_for(fast_pipeline, api_key="k")) as base:
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

    def ask_stream(self, question, history=()):
        raise ModelError("the generator is missing")
        yield  # a generator, like the pipeline's


def test_server_side_failures_surface(fast_pipeline):
    with running(app_for(Failing(fast_pipeline))) as base:
        api = client(base)
        with pytest.raises(openai.InternalServerError, match="generator is missing") as info:
            api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)])
        assert info.value.status_code == 503
        with pytest.raises(openai.APIError, match="generator is missing"):
            list(api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True))


@pytest.fixture(scope="module")
def real_base(real_pipeline):
    with running(app_for(real_pipeline)) as base:
        yield base


@pytest.mark.real
def test_real_models_through_the_client(real_base, real_settings):
    api = client(real_base)
    done = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)])
    content = done.choices[0].message.content
    assert "26. August 2016" in content and "\n\nQuellen:\n[1] Drucksache 7/844, S. " in content
    assert all(c["quote"] in c["text"] for c in done.model_extra["citations"])
    assert done.usage.completion_tokens == TokenCounter(real_settings).count(content)
    streamed = api.chat.completions.create(model=MODEL_ID, messages=[user(QUESTION)], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == content
    english = api.chat.completions.create(model=MODEL_ID, messages=[
        user("When did the ambassador of Kazakhstan visit the museum in Peenemünde?")])
    assert english.model_extra["language"] == "en" and not english.model_extra["refused"]
    assert "\n\nSources:\n[1] Drucksache 7/844, p. " in english.choices[0].message.content
